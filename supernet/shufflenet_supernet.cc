// The SPOS ShuffleNetV2 supernet (and its stand-alone subnets).
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/channel_ops.h"
#include "supernet/shufflenet_space.h"
#include "supernet/supernet_networks.h"

namespace nas::supernet {
namespace {

// The block's main branch: `inp` channels in, `outputs` out, mid width searchable.
std::vector<ConvUnit> MainBranch(ShuffleBlock block, int64_t inp, int64_t outputs, int64_t stride) {
  auto pw = [](int64_t in, int64_t out, bool in_mid, bool out_mid) {
    ConvUnit u;
    u.in_channels = in;
    u.out_channels = out;
    u.in_is_mid = in_mid;
    u.out_is_mid = out_mid;
    u.activation = Activation::kRelu;
    return u;
  };
  auto dw = [](int64_t channels, bool mid, int64_t k, int64_t s) {
    ConvUnit u;
    u.in_channels = u.out_channels = channels;
    u.in_is_mid = u.out_is_mid = mid;
    u.kernel_size = k;
    u.stride = s;
    u.depthwise = true;
    return u;
  };
  if (block == ShuffleBlock::kXception) {
    return {dw(inp, false, 3, stride), pw(inp, 0, false, true), dw(0, true, 3, 1),
            pw(0, 0, true, true),      dw(0, true, 3, 1),       pw(0, outputs, true, false)};
  }
  const int64_t k = ShuffleBlockKernelSize(block);
  return {pw(inp, 0, false, true), dw(0, true, k, stride), pw(0, outputs, true, false)};
}

std::vector<ConvUnit> ProjectionBranch(int64_t inp, int64_t k, int64_t stride) {
  ConvUnit dw;
  dw.in_channels = dw.out_channels = inp;
  dw.kernel_size = k;
  dw.stride = stride;
  dw.depthwise = true;
  ConvUnit pw;
  pw.in_channels = pw.out_channels = inp;
  pw.activation = Activation::kRelu;
  return {dw, pw};
}

class ShuffleNetNetworkImpl : public SupernetImpl {
 public:
  ShuffleNetNetworkImpl(std::shared_ptr<const SearchSpace> space, SupernetOptions options,
                        std::optional<Architecture> only)
      : SupernetImpl(std::move(space), options, std::move(only)),
        s_(static_cast<const ShuffleNetSpace&>(*space_)) {
    const LayeredConfig& c = s_.config();
    ConvUnit stem;
    stem.in_channels = c.input_channels;
    stem.out_channels = c.stem.channels;
    stem.kernel_size = c.stem.kernel_size;
    stem.stride = c.stem.stride;
    stem.activation = Activation::kRelu;
    stem_ = register_module("stem", ConvBnStack(std::vector<ConvUnit>{stem}, std::vector<int64_t>{},
                                                options_.bn_affine));
    const int num_layers = static_cast<int>(s_.layers().size());
    for (int l = 0; l < num_layers; ++l) {
      const LayerShape& shape = s_.layers()[l];
      const int64_t inp = s_.BranchInChannels(l);
      const int64_t outputs = shape.out_channels - inp;
      std::vector<int64_t> widths;
      if (only_.has_value()) {
        widths = {s_.MidChannels(*only_, l)};
      } else if (s_.searches_channels()) {
        for (double scale : s_.channel_scales()) widths.push_back(s_.MidChannelsAtScale(l, scale));
      } else {
        widths = {s_.MidChannelsAtScale(l, 1.0)};
      }
      std::vector<int> slots(s_.blocks().size(), -1);
      std::vector<ConvBnStack> mains, projections;
      for (size_t b = 0; b < s_.blocks().size(); ++b) {
        if (only_.has_value() && only_->genes[s_.GeneIndex(l, 0)] != static_cast<int>(b)) continue;
        const ShuffleBlock block = s_.blocks()[b];
        const std::string name = absl::StrCat("layers_", l, "_", ShuffleBlockName(block));
        slots[b] = static_cast<int>(mains.size());
        mains.push_back(
            register_module(name, ConvBnStack(MainBranch(block, inp, outputs, shape.stride), widths,
                                              options_.bn_affine)));
        if (shape.index_in_stage == 0) {
          projections.push_back(register_module(
              name + "_proj",
              ConvBnStack(ProjectionBranch(inp, ShuffleBlockKernelSize(block), shape.stride),
                          std::vector<int64_t>{}, options_.bn_affine)));
        }
      }
      slots_.push_back(slots);
      mains_.push_back(mains);
      projections_.push_back(projections);
    }
    head_ = register_module("head", MakeLayeredHead(s_, options_.bn_affine));
    classifier_ = register_module("classifier", MakeLayeredClassifier(s_));
  }

  torch::Tensor Forward(const torch::Tensor& input, const Architecture& arch,
                        ForwardContext& ctx) override {
    CheckArchitecture(arch);
    ctx.EnterBlock("stem");
    torch::Tensor x = stem_->forward(PrepareInput(input), 0, ctx);
    // Each block's output is the pair (pass, out), concatenated only where a whole tensor
    // is needed (a stage's first block, the head); between blocks of a stage the next
    // split takes its channels from the pair directly (kernels/channel_ops.h).
    torch::Tensor pass, out;
    auto whole = [&]() {
      if (pass.defined()) x = kernels::ConcatChannels(pass, out);
      pass = out = torch::Tensor();
      return x;
    };
    for (int l = 0; l < static_cast<int>(mains_.size()); ++l) {
      ctx.EnterLayer(absl::StrCat("layers[", l, "]"), s_.WeightBits(arch, l), s_.ActivationBits(arch, l));
      const int slot = Slot(arch, l);
      const int width = Width(arch, l);
      if (s_.layers()[l].index_in_stage == 0) {
        whole();
        pass = projections_[l][slot]->forward(x, 0, ctx);
        out = mains_[l][slot]->forward(x, width, ctx);
      } else {
        // SPOS's channel shuffle: even channels pass through, odd ones enter the block.
        // Strided channel slices, not a reshape: nothing depends on the batch size, and
        // the ONNX export is a plain Slice.
        auto [even, odd] = pass.defined() ? kernels::SplitEvenOddOfConcat(pass, out)
                                          : kernels::SplitEvenOddChannels(x);
        pass = even;
        out = mains_[l][slot]->forward(odd, width, ctx);
      }
    }
    ctx.EnterBlock("head");
    x = whole();
    x = head_->forward(x, 0, ctx);
    x = x.mean({2, 3});
    return classifier_->forward(x, ctx);
  }

  std::vector<PathPart> PathParts(const Architecture& arch) override {
    std::vector<PathPart> parts = {PathPart{stem_.get(), 0}};
    for (int l = 0; l < static_cast<int>(mains_.size()); ++l) {
      const int slot = Slot(arch, l);
      parts.push_back(PathPart{mains_[l][slot].get(), Width(arch, l)});
      if (!projections_[l].empty()) parts.push_back(PathPart{projections_[l][slot].get(), 0});
    }
    parts.push_back(PathPart{head_.get(), 0});
    PathPart classifier;
    classifier.classifier = classifier_.get();
    parts.push_back(classifier);
    return parts;
  }

 private:
  int Slot(const Architecture& arch, int layer) const {
    return slots_[layer][arch.genes[s_.GeneIndex(layer, 0)]];
  }
  int Width(const Architecture& arch, int layer) const {
    if (only_.has_value() || !s_.searches_channels()) return 0;
    return arch.genes[s_.GeneIndex(layer, 1)];
  }

  const ShuffleNetSpace& s_;
  ConvBnStack stem_{nullptr}, head_{nullptr};
  std::vector<std::vector<int>> slots_;  // [layer][block option] -> index in mains_[layer].
  std::vector<std::vector<ConvBnStack>> mains_, projections_;
  Classifier classifier_{nullptr};
};

}  // namespace

Supernet CreateShuffleNetNetwork(std::shared_ptr<const SearchSpace> space,
                                 const SupernetOptions& options, std::optional<Architecture> only) {
  return std::make_shared<ShuffleNetNetworkImpl>(std::move(space), options, std::move(only));
}

}  // namespace nas::supernet
