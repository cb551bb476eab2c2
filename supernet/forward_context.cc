#include "supernet/forward_context.h"

#include <algorithm>

namespace nas::supernet {

void BnStatistics::Accumulate(const void* key, const torch::Tensor& mean,
                              const torch::Tensor& var) {
  Entry& e = entries_[key];
  if (e.batches == 0) {
    e.mean_sum = mean.detach().clone();
    e.var_sum = var.detach().clone();
  } else {
    e.mean_sum.add_(mean.detach());
    e.var_sum.add_(var.detach());
  }
  ++e.batches;
}

bool BnStatistics::Get(const void* key, torch::Tensor* mean, torch::Tensor* var) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.batches == 0) return false;
  *mean = it->second.mean_sum / static_cast<double>(it->second.batches);
  *var = it->second.var_sum / static_cast<double>(it->second.batches);
  return true;
}

void QuantCalibration::Record(int index, int weight_bits, int activation_bits, const torch::Tensor& in,
                              const torch::Tensor& out) {
  TORCH_CHECK(index >= 0 && index <= static_cast<int>(convs_.size()), "QuantCalibration: convolution ", index,
              " recorded out of order");
  if (index == static_cast<int>(convs_.size())) {
    convs_.emplace_back();
    sums_.emplace_back();
  }
  Conv& c = convs_[index];
  TORCH_CHECK(c.batches == 0 || (c.weight_bits == weight_bits && c.activation_bits == activation_bits),
              "QuantCalibration: convolution ", index, " changed bit-widths between passes");
  torch::NoGradGuard no_grad;
  const auto [in_lo, in_hi] = torch::aminmax(in.detach());
  const auto [out_lo, out_hi] = torch::aminmax(out.detach());
  Sums& s = sums_[index];
  s.in_lo += in_lo.item<double>();
  s.in_hi += in_hi.item<double>();
  c.out_lo = c.batches == 0 ? out_lo.item<double>() : std::min(c.out_lo, out_lo.item<double>());
  c.out_hi = c.batches == 0 ? out_hi.item<double>() : std::max(c.out_hi, out_hi.item<double>());
  c.weight_bits = weight_bits;
  c.activation_bits = activation_bits;
  ++c.batches;
  const double n = static_cast<double>(c.batches);
  c.in_lo = s.in_lo / n;
  c.in_hi = s.in_hi / n;
}

const QuantCalibration::Conv& QuantCalibration::At(int index) const {
  TORCH_CHECK(index >= 0 && index < static_cast<int>(convs_.size()) && convs_[index].batches > 0,
              "QuantCalibration: convolution ", index, " was never recorded (", convs_.size(), " were)");
  return convs_[index];
}

}  // namespace nas::supernet
