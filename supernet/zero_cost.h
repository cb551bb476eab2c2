#ifndef NAS_SUPERNET_ZERO_COST_H_
#define NAS_SUPERNET_ZERO_COST_H_

#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "supernet/supernet.h"

namespace nas::supernet {

// Training-free ("zero-cost") proxies of an architecture's trained accuracy, computed on
// the network at initialisation from one mini-batch of real training images. Higher is
// better for every proxy (docs/search.md has the definitions and references).
enum class ZeroCostProxy {
  kSynflow,   // log Σ|θ ⊙ ∂R/∂θ|, R = Σ f(1) with |θ|, no BN, float64 (Tanaka et al. 2020).
  kNaswot,    // log|K|, K = binary ReLU-code agreement over the batch (Mellor et al. 2021).
  kJacobCov,  // −Σ log(λ+k) + 1/(λ+k) over the input-Jacobian correlation (NASWOT v1).
  kGradNorm,  // log Σ_θ ‖∂L/∂θ‖₂, cross-entropy on the batch.
  kSnip,      // log Σ|θ ⊙ ∂L/∂θ| (Lee et al. 2019).
  kSwap,      // Distinct sample-wise ReLU patterns over the batch (SWAP, Peng et al. 2024).
  kMeco,      // Σ over ReLU outputs of λ_min of the channel correlation (MeCo, Jiang et al. 2023).
  kMecoAll,   // The same Σ over every module's output (ForwardContext::on_output), as MeCo's own code hooks.
  kZico,      // Σ_layers log Σ mean|g|/std(g) of the loss gradient over batch parts (ZiCo, Li et al. 2023).
};

// "synflow", "naswot", "jacob_cov", "grad_norm", "snip", "swap", "meco", "meco_all", "zico".
absl::StatusOr<ZeroCostProxy> ParseZeroCostProxy(const std::string& name);
std::string ZeroCostProxyName(ZeroCostProxy proxy);
std::vector<std::string> ZeroCostProxyNames();
std::vector<ZeroCostProxy> AllZeroCostProxies();

// SWAP's count: the number of distinct columns over all the [n, units] 0/1 matrices
// (one per ReLU), a column being one unit's active/inactive pattern over the n images.
int64_t DistinctActivationPatterns(const std::vector<torch::Tensor>& codes);

// ZiCo splits the scorer's batch into this many equal parts (one gradient each).
inline constexpr int kZicoParts = 2;

// Scores architectures with the path weights of one untrained supernet. Thread-safe:
// Score may run concurrently (gradients come from torch::autograd::grad, never from the
// shared parameters' .grad, and BN uses batch statistics without updating the modules).
class ZeroCostScorer {
 public:
  // `net`: a freshly initialised supernet (it is not modified); `images` [N, C, H, W]
  // normalized training images and `labels` [N] on `device`.
  ZeroCostScorer(Supernet net, torch::Tensor images, torch::Tensor labels, torch::Device device);

  absl::StatusOr<double> Score(ZeroCostProxy proxy, const Architecture& arch) const;
  int64_t batch_size() const { return images_.size(0); }

 private:
  double Synflow(const Architecture& arch) const;
  double Naswot(const Architecture& arch) const;
  double JacobCov(const Architecture& arch) const;
  double LossGradient(const Architecture& arch, bool snip) const;
  double Swap(const Architecture& arch) const;
  double Meco(const Architecture& arch, bool all_modules) const;
  double Zico(const Architecture& arch) const;

  Supernet net_;
  Supernet synflow_net_;  // |weights| of net_ in float64.
  torch::Tensor images_, labels_;
  torch::Device device_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_ZERO_COST_H_
