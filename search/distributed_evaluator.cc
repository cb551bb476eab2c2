#include "search/distributed_evaluator.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace nas::search {

absl::Status DistributedEvaluator::AccuracyBatch(const supernet::SearchSpace& space,
                                                 const std::vector<supernet::Architecture>& archs,
                                                 std::vector<double>* accuracies, std::vector<double>* seconds) const {
  const size_t world = static_cast<size_t>(dist_->world_size()), rank = static_cast<size_t>(dist_->rank());
  std::vector<supernet::Architecture> mine;
  for (size_t i = rank; i < archs.size(); i += world) mine.push_back(archs[i]);
  std::vector<double> my_accuracies, my_seconds;
  // A local failure still joins the gathers (as NaN) so that no rank waits in vain.
  absl::Status local = inner_->AccuracyBatch(space, mine, &my_accuracies, &my_seconds);
  if (!local.ok()) {
    my_accuracies.assign(mine.size(), NAN);
    my_seconds.assign(mine.size(), 0.0);
  }
  absl::StatusOr<std::vector<double>> all_accuracies = dist_->GatherStrided(my_accuracies, archs.size());
  if (!all_accuracies.ok()) return all_accuracies.status();
  absl::StatusOr<std::vector<double>> all_seconds = dist_->GatherStrided(my_seconds, archs.size());
  if (!all_seconds.ok()) return all_seconds.status();
  if (!local.ok()) return absl::Status(local.code(), absl::StrCat("rank ", rank, ": ", local.message()));
  for (size_t i = 0; i < archs.size(); ++i) {
    if (std::isnan((*all_accuracies)[i])) {
      return absl::InternalError(absl::StrCat(space.Format(archs[i]), ": evaluation failed on rank ", i % world));
    }
  }
  *accuracies = *std::move(all_accuracies);
  *seconds = *std::move(all_seconds);
  return absl::OkStatus();
}

}  // namespace nas::search
