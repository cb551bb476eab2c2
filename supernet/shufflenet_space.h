#ifndef NAS_SUPERNET_SHUFFLENET_SPACE_H_
#define NAS_SUPERNET_SHUFFLENET_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "supernet/layered_space.h"

namespace nas::supernet {

// Candidate blocks of the Single Path One-Shot (SPOS) ShuffleNetV2 space.
enum class ShuffleBlock { kShuffle3x3, kShuffle5x5, kShuffle7x7, kXception };

absl::string_view ShuffleBlockName(ShuffleBlock block);
// Depthwise kernel size of the block (Xception uses three 3x3 depthwise convs).
int64_t ShuffleBlockKernelSize(ShuffleBlock block);

// The SPOS ShuffleNetV2 space (`type: shufflenet_oneshot`). Each layer picks a block
// type and, optionally, a scale of its mid channels. The first layer of every stage
// runs the input through a projection branch and the block in parallel and
// concatenates them; the other layers split the channels in half, run one half through
// the block, concatenate and shuffle.
class ShuffleNetSpace : public LayeredSpace {
 public:
  static absl::StatusOr<std::shared_ptr<const ShuffleNetSpace>> FromConfig(
      const ConfigNode& root, const std::string& source);

  const std::vector<ShuffleBlock>& blocks() const { return blocks_; }
  // Empty when the space does not search channels (then every scale is 1).
  const std::vector<double>& channel_scales() const { return channel_scales_; }
  bool searches_channels() const { return !channel_scales_.empty(); }

  ShuffleBlock BlockOf(const Architecture& arch, int layer) const {
    return blocks_[arch.genes[GeneIndex(layer, 0)]];
  }
  // Mid channels of `layer` for `arch`.
  int64_t MidChannels(const Architecture& arch, int layer) const;
  // Mid channels of `layer` at the given scale: floor(out_channels / 2 * scale), >= 1.
  int64_t MidChannelsAtScale(int layer, double scale) const;
  // Largest mid channels of `layer` over all scales (the supernet's shared width).
  int64_t MaxMidChannels(int layer) const;
  // Channels entering the searchable branch: all input channels for the first layer
  // of a stage, half of them otherwise.
  int64_t BranchInChannels(int layer) const;

  NetworkPlan BuildPlan(const Architecture& arch) const override;

 private:
  ShuffleNetSpace(LayeredConfig config, std::string source)
      : LayeredSpace(std::move(config), SpaceKind::kShuffleNetOneShot, std::move(source)) {}

  std::vector<ShuffleBlock> blocks_;
  std::vector<double> channel_scales_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_SHUFFLENET_SPACE_H_
