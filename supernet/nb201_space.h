#ifndef NAS_SUPERNET_NB201_SPACE_H_
#define NAS_SUPERNET_NB201_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "supernet/search_space.h"
#include "supernet/yaml_config.h"

namespace nas::supernet {

enum class Nb201Op { kNone, kSkipConnect, kConv1x1, kConv3x3, kAvgPool3x3 };

// NB201's own op names: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3.
absl::string_view Nb201OpName(Nb201Op op);

// The NAS-Bench-201 cell space (`type: nb201`). A cell has 4 nodes; node i sums one op
// over every edge j -> i (j < i), 6 edges in all, in NB201's order
// 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. The network: a 3x3 conv + BN stem, `num_stages`
// stages of `cells_per_stage` cells (channels doubling from `stem_channels`), a
// ResNet basic block with stride 2 between stages, then BN-ReLU, global average pool
// and a linear classifier. Every cell shares the one searched genotype.
// Architecture strings are NB201's: |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
class Nb201Space : public SearchSpace {
 public:
  static constexpr int kNumNodes = 4;
  static constexpr int kNumEdges = 6;

  static absl::StatusOr<std::shared_ptr<const Nb201Space>> FromConfig(
      const ConfigNode& root, const std::string& source);

  const std::vector<Nb201Op>& ops() const { return ops_; }
  int64_t stem_channels() const { return stem_channels_; }
  int cells_per_stage() const { return cells_per_stage_; }
  int num_stages() const { return num_stages_; }
  // Nodes (to, from) of edge e.
  static int EdgeTo(int edge);
  static int EdgeFrom(int edge);
  Nb201Op OpOf(const Architecture& arch, int edge) const { return ops_[arch.genes[edge]]; }
  // True when some path of non-`none` edges joins the input node to the output node;
  // otherwise the cell's output is all zeros.
  bool IsConnected(const Architecture& arch) const;
  // The same space with `cells_per_stage` cells per stage (costs tabulated anew): the
  // network a repeated-cell evaluation builds (RepeatCells, supernet/supernet.h).
  absl::StatusOr<std::shared_ptr<const Nb201Space>> WithCellsPerStage(int cells_per_stage) const;

  std::string Format(const Architecture& arch) const override;
  absl::StatusOr<Architecture> Parse(absl::string_view text) const override;
  // `arch` with `none` on every edge that cannot change the cell's output: the edges into
  // a node no non-`none` edge leads on from (towards the output), and skip/pool edges out
  // of a node that is all zeros (its inputs all `none`, or such edges themselves), repeated
  // until nothing changes. `arch` itself when the space has no `none` option.
  Architecture FunctionKey(const Architecture& arch) const override;
  NetworkPlan BuildPlan(const Architecture& arch) const override;

 private:
  Nb201Space(std::string name, std::string source, int64_t input_size, int64_t input_channels,
             int64_t num_classes)
      : SearchSpace(std::move(name), SpaceKind::kNb201, std::move(source), input_size,
                    input_channels, num_classes) {}

  std::vector<Nb201Op> ops_;
  int64_t stem_channels_ = 16;
  int cells_per_stage_ = 5;
  int num_stages_ = 3;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_NB201_SPACE_H_
