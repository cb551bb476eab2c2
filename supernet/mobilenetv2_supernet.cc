// The MobileNetV2 macro supernet (and its stand-alone subnets).
#include <string>

#include "absl/strings/str_cat.h"
#include "supernet/mobilenetv2_space.h"
#include "supernet/supernet_networks.h"

namespace nas::supernet {
namespace {

ConvUnit Unit(int64_t in, int64_t out, int64_t k, int64_t stride, bool depthwise, Activation act) {
  ConvUnit u;
  u.in_channels = in;
  u.out_channels = out;
  u.kernel_size = k;
  u.stride = stride;
  u.depthwise = depthwise;
  u.activation = act;
  return u;
}

class MobileNetV2NetworkImpl : public SupernetImpl {
 public:
  MobileNetV2NetworkImpl(std::shared_ptr<const SearchSpace> space, SupernetOptions options,
                         std::optional<Architecture> only)
      : SupernetImpl(std::move(space), options, std::move(only)),
        s_(static_cast<const MobileNetV2Space&>(*space_)) {
    const LayeredConfig& c = s_.config();
    const bool affine = options_.bn_affine;
    stem_ = register_module(
        "stem", ConvBnStack(std::vector<ConvUnit>{Unit(c.input_channels, c.stem.channels,
                                                       c.stem.kernel_size, c.stem.stride, false,
                                                       Activation::kRelu6)},
                            std::vector<int64_t>{}, affine));
    for (int l = 0; l < static_cast<int>(s_.layers().size()); ++l) {
      const LayerShape& shape = s_.layers()[l];
      std::vector<int> slots(s_.choices().size(), -1);
      std::vector<ConvBnStack> candidates;
      for (size_t ci = 0; ci < s_.choices().size(); ++ci) {
        if (only_.has_value() && only_->genes[s_.GeneIndex(l, 0)] != static_cast<int>(ci)) continue;
        const MbChoice& choice = s_.choices()[ci];
        std::vector<ConvUnit> units;
        if (choice.identity) {
          if (!s_.IdentityNeedsProjection(l)) continue;  // A true identity: no weights.
          units = {Unit(shape.in_channels, shape.out_channels, 1, shape.stride, false,
                        Activation::kNone)};
        } else {
          const int64_t hidden = shape.in_channels * choice.expand_ratio;
          if (choice.expand_ratio != 1) {
            units.push_back(Unit(shape.in_channels, hidden, 1, 1, false, Activation::kRelu6));
          }
          units.push_back(
              Unit(hidden, hidden, choice.kernel_size, shape.stride, true, Activation::kRelu6));
          units.push_back(Unit(hidden, shape.out_channels, 1, 1, false, Activation::kNone));
        }
        slots[ci] = static_cast<int>(candidates.size());
        candidates.push_back(register_module(
            absl::StrCat("layers_", l, "_", choice.Name()),
            ConvBnStack(std::move(units), std::vector<int64_t>{}, affine)));
      }
      slots_.push_back(slots);
      candidates_.push_back(candidates);
    }
    head_ = register_module("head", MakeLayeredHead(s_, affine));
    classifier_ = register_module("classifier", MakeLayeredClassifier(s_));
  }

  torch::Tensor Forward(const torch::Tensor& input, const Architecture& arch,
                        ForwardContext& ctx) override {
    CheckArchitecture(arch);
    ctx.EnterBlock("stem");
    torch::Tensor x = stem_->forward(PrepareInput(input), 0, ctx);
    for (int l = 0; l < static_cast<int>(candidates_.size()); ++l) {
      ctx.EnterLayer(absl::StrCat("layers[", l, "]"), s_.WeightBits(arch, l), s_.ActivationBits(arch, l));
      // The layer's choice gene (in a bit-width space its bit genes follow it).
      const int choice = arch.genes[s_.GeneIndex(l, 0)];
      const int slot = slots_[l][choice];
      if (slot < 0) continue;  // Identity with matching shapes.
      torch::Tensor y = candidates_[l][slot]->forward(x, 0, ctx);
      const bool residual = !s_.choices()[choice].identity && s_.HasResidual(l);
      x = residual ? x + y : y;
    }
    ctx.EnterBlock("head");
    x = head_->forward(x, 0, ctx).mean({2, 3});
    return classifier_->forward(x, ctx);
  }

  std::vector<PathPart> PathParts(const Architecture& arch) override {
    std::vector<PathPart> parts = {PathPart{stem_.get(), 0}};
    for (int l = 0; l < static_cast<int>(candidates_.size()); ++l) {
      const int slot = slots_[l][arch.genes[s_.GeneIndex(l, 0)]];
      if (slot >= 0) parts.push_back(PathPart{candidates_[l][slot].get(), 0});
    }
    parts.push_back(PathPart{head_.get(), 0});
    PathPart classifier;
    classifier.classifier = classifier_.get();
    parts.push_back(classifier);
    return parts;
  }

 private:
  const MobileNetV2Space& s_;
  ConvBnStack stem_{nullptr}, head_{nullptr};
  std::vector<std::vector<int>> slots_;  // [layer][choice] -> candidate index, -1: none.
  std::vector<std::vector<ConvBnStack>> candidates_;
  Classifier classifier_{nullptr};
};

}  // namespace

Supernet CreateMobileNetV2Network(std::shared_ptr<const SearchSpace> space,
                                  const SupernetOptions& options,
                                  std::optional<Architecture> only) {
  return std::make_shared<MobileNetV2NetworkImpl>(std::move(space), options, std::move(only));
}

}  // namespace nas::supernet
