// The NAS-Bench-201 supernet (and its stand-alone subnets).
#include <string>

#include "absl/strings/str_cat.h"
#include "supernet/nb201_space.h"
#include "supernet/supernet_networks.h"

namespace nas::supernet {
namespace {

// ReLU-Conv-BN, as NB201's nor_conv ops and its ResNet block convolutions.
ConvUnit ReluConvBn(int64_t in, int64_t out, int64_t k, int64_t stride) {
  ConvUnit u;
  u.in_channels = in;
  u.out_channels = out;
  u.kernel_size = k;
  u.stride = stride;
  u.relu_before = true;
  return u;
}

struct Reduction {
  ConvBnStack conv_a{nullptr}, conv_b{nullptr}, shortcut{nullptr};
};

class Nb201NetworkImpl : public SupernetImpl {
 public:
  Nb201NetworkImpl(std::shared_ptr<const SearchSpace> space, SupernetOptions options,
                   std::optional<Architecture> only)
      : SupernetImpl(std::move(space), options, std::move(only)),
        s_(static_cast<const Nb201Space&>(*space_)) {
    const bool affine = options_.bn_affine;
    const std::vector<int64_t> no_widths;
    int64_t c = s_.stem_channels();
    ConvUnit stem;
    stem.in_channels = s_.input_channels();
    stem.out_channels = c;
    stem.kernel_size = 3;
    stem_ = register_module("stem", ConvBnStack(std::vector<ConvUnit>{stem}, no_widths, affine));
    int cell = 0;
    for (int stage = 0; stage < s_.num_stages(); ++stage) {
      if (stage > 0) {
        const int64_t c_in = c;
        c *= 2;
        Reduction r;
        const std::string name = absl::StrCat("reductions_", stage - 1);
        r.conv_a = register_module(name + "_a", ConvBnStack(std::vector<ConvUnit>{ReluConvBn(c_in, c, 3, 2)}, no_widths, affine));
        r.conv_b = register_module(name + "_b", ConvBnStack(std::vector<ConvUnit>{ReluConvBn(c, c, 3, 1)}, no_widths, affine));
        ConvUnit shortcut;
        shortcut.in_channels = c_in;
        shortcut.out_channels = c;
        shortcut.batch_norm = false;
        r.shortcut = register_module(name + "_shortcut", ConvBnStack(std::vector<ConvUnit>{shortcut}, no_widths, affine));
        reductions_.push_back(r);
      }
      for (int i = 0; i < s_.cells_per_stage(); ++i, ++cell) {
        std::vector<std::vector<int>> slots(Nb201Space::kNumEdges);
        std::vector<std::vector<ConvBnStack>> edges(Nb201Space::kNumEdges);
        for (int e = 0; e < Nb201Space::kNumEdges; ++e) {
          slots[e].assign(s_.ops().size(), -1);
          for (size_t o = 0; o < s_.ops().size(); ++o) {
            if (only_.has_value() && only_->genes[e] != static_cast<int>(o)) continue;
            const Nb201Op op = s_.ops()[o];
            if (op != Nb201Op::kConv1x1 && op != Nb201Op::kConv3x3) continue;
            const int64_t k = op == Nb201Op::kConv1x1 ? 1 : 3;
            slots[e][o] = static_cast<int>(edges[e].size());
            edges[e].push_back(register_module(
                absl::StrCat("cells_", cell, "_edge", e, "_", Nb201OpName(op)),
                ConvBnStack(std::vector<ConvUnit>{ReluConvBn(c, c, k, 1)}, no_widths, affine)));
          }
        }
        cell_slots_.push_back(slots);
        cells_.push_back(edges);
      }
    }
    last_norm_ = register_module("last_bn", ContextBatchNorm(c, affine));
    classifier_ = register_module("classifier", Classifier(c, s_.num_classes(), /*bias=*/true));
  }

  torch::Tensor Forward(const torch::Tensor& input, const Architecture& arch,
                        ForwardContext& ctx) override {
    CheckArchitecture(arch);
    ctx.EnterBlock("stem");
    torch::Tensor x = stem_->forward(PrepareInput(input), 0, ctx);
    int cell = 0;
    for (int stage = 0; stage < s_.num_stages(); ++stage) {
      if (stage > 0) {
        ctx.EnterBlock(absl::StrCat("reductions[", stage - 1, "]"));
        Reduction& r = reductions_[stage - 1];
        torch::Tensor y = r.conv_b->forward(r.conv_a->forward(x, 0, ctx), 0, ctx);
        torch::Tensor shortcut = r.shortcut->forward(torch::avg_pool2d(x, 2, 2), 0, ctx);
        x = shortcut + y;
        if (ctx.on_output) ctx.on_output(x);
      }
      for (int i = 0; i < s_.cells_per_stage(); ++i, ++cell) {
        ctx.EnterBlock(absl::StrCat("cells[", cell, "]"));
        x = Cell(x, arch, cell, ctx);
      }
    }
    ctx.EnterBlock("head");
    x = last_norm_->forward(x, ctx);
    if (ctx.on_output) ctx.on_output(x);
    x = Relu(x, ctx).mean({2, 3});
    return classifier_->forward(x, ctx);
  }

  std::vector<PathPart> PathParts(const Architecture& arch) override {
    std::vector<PathPart> parts = {PathPart{stem_.get(), 0}};
    for (Reduction& r : reductions_) {
      parts.push_back(PathPart{r.conv_a.get(), 0});
      parts.push_back(PathPart{r.conv_b.get(), 0});
      parts.push_back(PathPart{r.shortcut.get(), 0});
    }
    for (size_t cell = 0; cell < cells_.size(); ++cell) {
      for (int e = 0; e < Nb201Space::kNumEdges; ++e) {
        const int slot = cell_slots_[cell][e][arch.genes[e]];
        if (slot >= 0) parts.push_back(PathPart{cells_[cell][e][slot].get(), 0});
      }
    }
    PathPart norm;
    norm.norm = last_norm_.get();
    parts.push_back(norm);
    PathPart classifier;
    classifier.classifier = classifier_.get();
    parts.push_back(classifier);
    return parts;
  }

 private:
  torch::Tensor Cell(const torch::Tensor& input, const Architecture& arch, int cell,
                     ForwardContext& ctx) {
    torch::Tensor nodes[Nb201Space::kNumNodes];
    nodes[0] = input;
    for (int e = 0; e < Nb201Space::kNumEdges; ++e) {
      const int to = Nb201Space::EdgeTo(e), from = Nb201Space::EdgeFrom(e);
      torch::Tensor y;
      switch (s_.OpOf(arch, e)) {
        case Nb201Op::kNone:
          break;
        case Nb201Op::kSkipConnect:
          y = nodes[from];
          break;
        case Nb201Op::kAvgPool3x3:
          y = torch::avg_pool2d(nodes[from], 3, 1, 1, /*ceil_mode=*/false,
                                /*count_include_pad=*/false);
          if (ctx.on_output) ctx.on_output(y);
          break;
        case Nb201Op::kConv1x1:
        case Nb201Op::kConv3x3:
          y = cells_[cell][e][cell_slots_[cell][e][arch.genes[e]]]->forward(nodes[from], 0, ctx);
          break;
      }
      if (y.defined()) nodes[to] = nodes[to].defined() ? nodes[to] + y : y;
      // A node that all its edges leave as `none` is zero.
      if (e == 0 || e == 2 || e == 5) {
        if (!nodes[to].defined()) nodes[to] = torch::zeros_like(input);
        if (ctx.on_output) ctx.on_output(nodes[to]);  // The node is complete.
      }
    }
    return nodes[Nb201Space::kNumNodes - 1];
  }

  const Nb201Space& s_;
  ConvBnStack stem_{nullptr};
  std::vector<Reduction> reductions_;
  // [cell][edge][op option] -> index into cells_[cell][edge], -1 for weightless ops.
  std::vector<std::vector<std::vector<int>>> cell_slots_;
  std::vector<std::vector<std::vector<ConvBnStack>>> cells_;
  ContextBatchNorm last_norm_{nullptr};
  Classifier classifier_{nullptr};
};

}  // namespace

Supernet CreateNb201Network(std::shared_ptr<const SearchSpace> space,
                            const SupernetOptions& options, std::optional<Architecture> only) {
  return std::make_shared<Nb201NetworkImpl>(std::move(space), options, std::move(only));
}

Supernet CreateNetwork(std::shared_ptr<const SearchSpace> space, const SupernetOptions& options,
                       std::optional<Architecture> only) {
  switch (space->kind()) {
    case SpaceKind::kShuffleNetOneShot:
      return CreateShuffleNetNetwork(std::move(space), options, std::move(only));
    case SpaceKind::kMobileNetV2Macro:
      return CreateMobileNetV2Network(std::move(space), options, std::move(only));
    case SpaceKind::kNb201:
      return CreateNb201Network(std::move(space), options, std::move(only));
  }
  return nullptr;
}

}  // namespace nas::supernet
