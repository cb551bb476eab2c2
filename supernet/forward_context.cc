#include "supernet/forward_context.h"

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

}  // namespace nas::supernet
