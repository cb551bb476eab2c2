#ifndef NAS_SUPERNET_MOBILENETV2_SPACE_H_
#define NAS_SUPERNET_MOBILENETV2_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "supernet/layered_space.h"

namespace nas::supernet {

// One candidate of a mobilenetv2_macro layer: identity, or an inverted-residual block.
struct MbChoice {
  bool identity = false;
  int64_t kernel_size = 3;   // Depthwise kernel size (MB blocks only).
  int64_t expand_ratio = 6;  // Hidden channels = in_channels * expand_ratio.

  // "identity" or "mb_k<kernel_size>_e<expand_ratio>".
  std::string Name() const;
};

// A macro space of MobileNetV2 inverted-residual blocks (`type: mobilenetv2_macro`).
// Each layer picks one candidate. An identity at a layer that changes the stride or the
// channel count becomes a 1x1 conv + BN projection; an MB block has a residual
// connection when its stride is 1 and its input and output channels match.
class MobileNetV2Space : public LayeredSpace {
 public:
  static absl::StatusOr<std::shared_ptr<const MobileNetV2Space>> FromConfig(
      const ConfigNode& root, const std::string& source);

  const std::vector<MbChoice>& choices() const { return choices_; }
  const MbChoice& ChoiceOf(const Architecture& arch, int layer) const {
    return choices_[arch.genes[GeneIndex(layer, 0)]];
  }
  // True when an identity at `layer` must be a 1x1 projection.
  bool IdentityNeedsProjection(int layer) const {
    return layers_[layer].stride != 1 || layers_[layer].in_channels != layers_[layer].out_channels;
  }
  // True when an MB block at `layer` adds its input to its output.
  bool HasResidual(int layer) const { return !IdentityNeedsProjection(layer); }

  NetworkPlan BuildPlan(const Architecture& arch) const override;

 private:
  MobileNetV2Space(LayeredConfig config, std::string source)
      : LayeredSpace(std::move(config), SpaceKind::kMobileNetV2Macro, std::move(source)) {}

  std::vector<MbChoice> choices_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_MOBILENETV2_SPACE_H_
