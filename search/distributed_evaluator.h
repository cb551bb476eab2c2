#ifndef NAS_SEARCH_DISTRIBUTED_EVALUATOR_H_
#define NAS_SEARCH_DISTRIBUTED_EVALUATOR_H_

#include <string>
#include <vector>

#include "search/evaluator.h"
#include "supernet/distributed.h"

namespace nas::search {

// Splits each generation's evaluations across the ranks of a process group: rank r
// evaluates architectures r, r + W, ... of the batch with the wrapped evaluator, and the
// accuracies are gathered so every rank gets all of them. Every rank runs the same
// (deterministic) search, so their histories stay identical; docs/distributed.md.
class DistributedEvaluator : public AccuracyEvaluator {
 public:
  // Neither is owned.
  DistributedEvaluator(const AccuracyEvaluator* inner, supernet::Distributed* dist) : inner_(inner), dist_(dist) {}
  std::string id() const override { return inner_->id(); }  // Same results, same archive entries.
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override { return inner_->Accuracy(arch); }
  absl::Status AccuracyBatch(const supernet::SearchSpace& space, const std::vector<supernet::Architecture>& archs,
                             std::vector<double>* accuracies, std::vector<double>* seconds) const override;
  std::vector<ScoredArchitecture> Prescored() const override { return inner_->Prescored(); }

 private:
  const AccuracyEvaluator* inner_;
  supernet::Distributed* dist_;
};

}  // namespace nas::search

#endif  // NAS_SEARCH_DISTRIBUTED_EVALUATOR_H_
