#ifndef NAS_SUPERNET_SELF_DISTILLATION_H_
#define NAS_SUPERNET_SELF_DISTILLATION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"

namespace nas::supernet {

// Self-distillation from a temporal ensemble of the supernet's own predictions
// (`distillation: {teacher: ensemble}`; temporal ensembling, Laine & Aila, ICLR 2017).
// Each training image keeps an exponential moving average, over the epochs, of the
// softmax at temperature T of whichever paths were trained on it:
//   sum_i <- momentum * sum_i + (1 - momentum) * p_i,   seen_i <- seen_i + 1,
// and its target is the bias-corrected average sum_i / (1 - momentum^seen_i). An image
// seen before is trained with (1 - weight) * cross-entropy + weight * T^2 *
// KL(target || softmax(logits / T)); an image not seen yet with cross-entropy alone. The
// targets come from predictions the step makes anyway, so it costs no extra forward pass.
class EnsembleTargets {
 public:
  // `images`: the dataset's size (targets are indexed by dataset index).
  EnsembleTargets(int64_t images, double momentum, double weight, double temperature, torch::Device device);

  // Mean over the batch of each image's loss (above). `indices`: the images' dataset
  // indices, int64 [B]; `label_smoothing` applies to the cross-entropy part.
  torch::Tensor Loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& indices,
                     double label_smoothing) const;
  // Adds one visit of each image: `logits` [B, K] (detached), averaged already over the
  // step's paths when there are several (their softmax at T is averaged).
  void Update(const std::vector<torch::Tensor>& logits, const torch::Tensor& indices);

  // The state, for checkpoints: named `sums` float [N, K] (undefined before the first
  // update) and `seen` float [N]. After reading into them, Restored() checks the shapes
  // and moves them to the device.
  std::vector<std::pair<std::string, torch::Tensor*>> State() {
    return {{"ensemble_sums", &sums_}, {"ensemble_seen", &seen_}};
  }
  absl::Status Restored(int64_t images);
  const torch::Tensor& seen() const { return seen_; }

 private:
  double momentum_, weight_, temperature_;
  torch::Device device_;
  torch::Tensor sums_, seen_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_SELF_DISTILLATION_H_
