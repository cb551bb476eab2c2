#ifndef NAS_SUPERNET_SUPERNET_H_
#define NAS_SUPERNET_SUPERNET_H_

#include <memory>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "supernet/forward_context.h"
#include "supernet/layers.h"
#include "supernet/search_space.h"

namespace nas::supernet {

struct SupernetOptions {
  // Learnable BN scale/shift. SPOS trains its supernet with non-affine BN.
  bool bn_affine = true;
  // Channels-last (NHWC) 4-D weights and activations: oneDNN's faster layout on CPU
  // (1.27-1.65x per training step, docs/benchmarks.md). Results equal the contiguous
  // layout's up to float rounding.
  bool channels_last = true;
};

// One weighted part a path uses (exactly one of the pointers is set).
struct PathPart {
  ConvBnStackImpl* stack = nullptr;
  int width = 0;  // Width index of `stack`.
  ContextBatchNormImpl* norm = nullptr;
  ClassifierImpl* classifier = nullptr;
};

// A weight-sharing network over a search space: every searchable layer holds all its
// candidate blocks, and Forward(x, arch) runs exactly the path `arch` chooses. It keeps
// no "active subnet" state: with BnMode::kCalibrate/kEval and a context per thread,
// several threads may run different architectures at once over the same weights.
//
// Built "restricted" to one architecture (see ExtractSubnet) it holds only that path's
// blocks at their exact widths: a stand-alone network with no choice machinery.
class SupernetImpl : public torch::nn::Module {
 public:
  // Runs path `arch` (validated by the caller) on a batch x of [N, C, H, W].
  virtual torch::Tensor Forward(const torch::Tensor& x, const Architecture& arch,
                                ForwardContext& ctx) = 0;
  // Forward with a default context: kTrain in training mode, else kEval.
  torch::Tensor forward(const torch::Tensor& x, const Architecture& arch);
  // The weighted parts that `arch` uses, in an order that a supernet and the subnet
  // extracted from it share.
  virtual std::vector<PathPart> PathParts(const Architecture& arch) = 0;
  // Every parameter tensor (whole, unsliced) that path `arch` touches.
  std::vector<torch::Tensor> PathParameters(const Architecture& arch);

  const SearchSpace& space() const { return *space_; }
  std::shared_ptr<const SearchSpace> shared_space() const { return space_; }
  const SupernetOptions& options() const { return options_; }
  // The architecture a restricted (stand-alone) network was built for.
  const std::optional<Architecture>& restricted_to() const { return only_; }
  // Puts the 4-D weights in the options' memory format (done at construction; again
  // after loading weights that were saved in another layout).
  void ApplyMemoryFormat();

 protected:
  // The input in the options' memory format; every Forward starts with it.
  torch::Tensor PrepareInput(const torch::Tensor& x) const {
    return options_.channels_last && x.dim() == 4 ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
  }
  SupernetImpl(std::shared_ptr<const SearchSpace> space, SupernetOptions options,
               std::optional<Architecture> only)
      : space_(std::move(space)), options_(options), only_(std::move(only)) {}
  // In a restricted network, checks that `arch` is the one it was built for.
  void CheckArchitecture(const Architecture& arch) const;

  std::shared_ptr<const SearchSpace> space_;
  SupernetOptions options_;
  std::optional<Architecture> only_;
};

using Supernet = std::shared_ptr<SupernetImpl>;

// Builds the supernet of `space`, weights initialised from torch's global generator
// (seed it with torch::manual_seed for reproducible weights).
Supernet CreateSupernet(std::shared_ptr<const SearchSpace> space, const SupernetOptions& options);

// Builds the stand-alone network of `arch` and copies into it the path's sliced
// weights and BN statistics (from `stats` when given, e.g. after recalibration; else
// the supernet's running statistics). Its outputs equal the supernet path's.
absl::StatusOr<Supernet> ExtractSubnet(SupernetImpl& supernet, const Architecture& arch,
                                       const BnStatistics* stats);

// The supernet of `trained`'s cell space with `cells_per_stage` cells per stage, every
// weight and BN buffer copied from `trained`: cell i of a stage takes those of the trained
// stage's cell i * trained_cells / cells_per_stage (so a one-cell-per-stage proxy's cell is
// repeated). It scores a cell by how it does stacked as deep as the deployed network
// stacks it (recalibrate BN before evaluating). Cell-based (NB201) spaces only;
// InvalidArgument otherwise. On `trained`'s device, in eval mode.
absl::StatusOr<Supernet> RepeatCells(SupernetImpl& trained, int cells_per_stage);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_SUPERNET_H_
