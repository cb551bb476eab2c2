#ifndef NAS_SEARCH_EVALUATOR_H_
#define NAS_SEARCH_EVALUATOR_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "supernet/architecture.h"
#include "supernet/nb201_table.h"
#include "supernet/search_space.h"

namespace nas::search {

// An architecture with the value an evaluator gives it.
struct ScoredArchitecture {
  supernet::Architecture arch;
  double accuracy = 0;
};

// The expensive part of a search: the accuracy (percent) of an architecture. FLOPs and
// params come from the space's cost model, never from here. Implementations must be
// thread-safe: a generation is evaluated in parallel.
class AccuracyEvaluator {
 public:
  virtual ~AccuracyEvaluator() = default;
  // Identifies the evaluator (for archives and logs), e.g. "table:nb201:cifar10".
  virtual std::string id() const = 0;
  virtual absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const = 0;
  // Accuracies and seconds spent of a generation's architectures. The default evaluates
  // them in parallel (oneTBB) with Accuracy; a distributed evaluator splits them across
  // ranks. An error names the architecture.
  virtual absl::Status AccuracyBatch(const supernet::SearchSpace& space,
                                     const std::vector<supernet::Architecture>& archs,
                                     std::vector<double>* accuracies, std::vector<double>* seconds) const;
  // Architectures this evaluator already scored while it was built, each with the value
  // Accuracy would return (a combination's reference sample): a search can take them as
  // evaluations that cost nothing. Default: none.
  virtual std::vector<ScoredArchitecture> Prescored() const { return {}; }
};

// Looks accuracies up in NAS-Bench-201's table. `column`: cifar10, cifar100 or
// imagenet16 (200-epoch test accuracy).
class Nb201TableEvaluator : public AccuracyEvaluator {
 public:
  static absl::StatusOr<std::unique_ptr<Nb201TableEvaluator>> Create(
      std::shared_ptr<const supernet::Nb201Table> table, const std::string& column);
  std::string id() const override { return "table:nb201:" + column_; }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override;

 private:
  Nb201TableEvaluator(std::shared_ptr<const supernet::Nb201Table> table, std::string column)
      : table_(std::move(table)), column_(std::move(column)) {}
  std::shared_ptr<const supernet::Nb201Table> table_;
  std::string column_;
};

// A general per-architecture table: CSV with a header whose first column is `arch`
// (architecture strings of the space) and other columns of metrics, or JSON of the form
// {"ARCH": {"METRIC": value, ...}, ...}. Accuracy is read from `column`. Architectures
// missing from the table are NotFound when evaluated.
class TableEvaluator : public AccuracyEvaluator {
 public:
  // Errors name the file and line (CSV) or key (JSON).
  static absl::StatusOr<std::unique_ptr<TableEvaluator>> Load(const supernet::SearchSpace& space,
                                                              const std::string& path,
                                                              const std::string& column);
  std::string id() const override { return "table:" + path_ + ":" + column_; }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override;
  size_t size() const { return values_.size(); }

 private:
  std::string path_, column_;
  std::unordered_map<supernet::Architecture, double, supernet::ArchitectureHash> values_;
};

// Evaluates the architectures of `sub`, a restriction of `full` (the same genes in the
// same order, each with a subset of its options, and the same costs: for example a
// mixed-precision space searched with float layers only, or with 8-bit layers only), with
// an evaluator over `full`. Accuracies are the inner evaluator's.
class SubspaceEvaluator : public AccuracyEvaluator {
 public:
  // An error names the first gene or cost that differs.
  static absl::StatusOr<std::unique_ptr<SubspaceEvaluator>> Create(std::shared_ptr<const supernet::SearchSpace> sub,
                                                                   std::shared_ptr<const supernet::SearchSpace> full,
                                                                   std::unique_ptr<AccuracyEvaluator> inner);
  std::string id() const override { return inner_->id(); }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override;
  absl::Status AccuracyBatch(const supernet::SearchSpace& space, const std::vector<supernet::Architecture>& archs,
                             std::vector<double>* accuracies, std::vector<double>* seconds) const override;
  // The inner evaluator's, those that are architectures of the sub-space.
  std::vector<ScoredArchitecture> Prescored() const override;
  // `arch` of the sub-space as an architecture of the full space.
  supernet::Architecture ToFull(const supernet::Architecture& arch) const;

 private:
  SubspaceEvaluator() = default;
  std::shared_ptr<const supernet::SearchSpace> sub_, full_;
  std::unique_ptr<AccuracyEvaluator> inner_;
  std::vector<std::vector<int>> option_map_;  // [gene][sub option] -> full option.
};

}  // namespace nas::search

#endif  // NAS_SEARCH_EVALUATOR_H_
