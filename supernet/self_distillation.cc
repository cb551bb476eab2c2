#include "supernet/self_distillation.h"

namespace nas::supernet {

namespace F = torch::nn::functional;

EnsembleTargets::EnsembleTargets(int64_t images, double momentum, double weight, double temperature,
                                 torch::Device device)
    : momentum_(momentum), weight_(weight), temperature_(temperature), device_(device) {
  seen_ = torch::zeros({images}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
}

torch::Tensor EnsembleTargets::Loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                    const torch::Tensor& indices, double label_smoothing) const {
  const torch::Tensor ce = F::cross_entropy(
      logits, labels, F::CrossEntropyFuncOptions().label_smoothing(label_smoothing).reduction(torch::kNone));
  if (!sums_.defined()) return ce.mean();
  const torch::Tensor idx = indices.to(device_);
  const torch::Tensor seen = seen_.index_select(0, idx);
  const torch::Tensor has_target = seen.gt(0).to(logits.dtype());
  // Bias correction; images not seen yet get a (zero) target that the mask then ignores.
  const torch::Tensor correction = 1 - torch::pow(momentum_, seen);
  const torch::Tensor target = sums_.index_select(0, idx) / correction.clamp_min(1e-12).unsqueeze(1);
  const double t = temperature_;
  const torch::Tensor kl =
      F::kl_div(F::log_softmax(logits / t, F::LogSoftmaxFuncOptions(1)), target,
                F::KLDivFuncOptions().reduction(torch::kNone))
          .sum(1);
  return (ce * (1 - weight_ * has_target) + weight_ * t * t * kl * has_target).mean();
}

void EnsembleTargets::Update(const std::vector<torch::Tensor>& logits, const torch::Tensor& indices) {
  torch::NoGradGuard no_grad;
  torch::Tensor p;
  for (const torch::Tensor& l : logits) {
    const torch::Tensor q = torch::softmax(l.to(torch::kFloat32) / temperature_, 1);
    p = p.defined() ? p + q : q;
  }
  p = (p / static_cast<double>(logits.size())).to(device_);
  if (!sums_.defined()) sums_ = torch::zeros({seen_.size(0), p.size(1)}, p.options());
  const torch::Tensor idx = indices.to(device_);
  sums_.index_copy_(0, idx, momentum_ * sums_.index_select(0, idx) + (1 - momentum_) * p);
  seen_.index_add_(0, idx, torch::ones({idx.size(0)}, seen_.options()));
}

absl::Status EnsembleTargets::Restored(int64_t images) {
  if (seen_.dim() != 1 || seen_.size(0) != images || (sums_.defined() && sums_.size(0) != images)) {
    return absl::DataLossError("distillation targets do not fit the dataset");
  }
  seen_ = seen_.to(device_);
  if (sums_.defined()) sums_ = sums_.to(device_);
  return absl::OkStatus();
}

}  // namespace nas::supernet
