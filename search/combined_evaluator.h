#ifndef NAS_SEARCH_COMBINED_EVALUATOR_H_
#define NAS_SEARCH_COMBINED_EVALUATOR_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "search/evaluator.h"
#include "supernet/search_space.h"

namespace nas::search {

// One signal of a combination: higher is better (a supernet's accuracy, a zero-cost
// proxy, FLOPs, minus a loss). Must be thread-safe.
struct ScoreComponent {
  std::string name;  // For the identity and reports, e.g. "zc:naswot".
  double weight = 1;
  std::function<absl::StatusOr<double>(const supernet::Architecture&)> score;
};

// A label-free combination of several signals, usable as the accuracy of any search
// algorithm: each component's raw score is mapped to its percentile among the scores of a
// fixed reference sample of random architectures (drawn once, seeded), and the result is
// the weighted mean percentile, in [0, 100]. Nothing but the components' own values is
// used (no benchmark labels). Over the reference sample itself this is the weighted rank
// average; a candidate's value does not depend on which other candidates a search sees,
// so results are reproducible and archivable.
class CombinedEvaluator : public AccuracyEvaluator {
 public:
  // Scores `reference_size` architectures sampled from `space` with `seed` by every
  // component (in parallel). Errors name the component and architecture. `should_stop`
  // (optional) is polled before each architecture: true ends the scoring with CANCELLED;
  // `on_progress` (optional, called serially) gets (architectures scored, reference_size)
  // after each one.
  static absl::StatusOr<std::unique_ptr<CombinedEvaluator>> Create(
      std::shared_ptr<const supernet::SearchSpace> space, std::vector<ScoreComponent> components,
      int reference_size, uint64_t seed, std::string id, const std::function<bool()>& should_stop = nullptr,
      const std::function<void(int, int)>& on_progress = nullptr);
  std::string id() const override { return id_; }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override;
  // Each component's raw score of `arch`, in the order of components().
  absl::StatusOr<std::vector<double>> RawScores(const supernet::Architecture& arch) const;
  // Combines raw scores (as RawScores returns them) into the evaluator's value.
  double Combine(const std::vector<double>& raw) const;
  const std::vector<ScoreComponent>& components() const { return components_; }
  // The distinct architectures of the reference sample, each with its value (what
  // Accuracy returns for it, computed from the scores Create already paid for).
  std::vector<ScoredArchitecture> Prescored() const override { return prescored_; }
  // The same combination with `components` (one per component, in order) in place of
  // these, percentiles still taken among this evaluator's reference scores: the same
  // signals measured more precisely (e.g. a supernet's accuracy on more validation
  // images) keep the scale of the search's values.
  absl::StatusOr<std::unique_ptr<CombinedEvaluator>> WithComponents(std::vector<ScoreComponent> components,
                                                                    std::string id) const;

  // The percentile (in (0, 1)) of `value` among sorted `reference`: the mid-rank of its
  // position, linearly interpolated between neighbouring reference values; beyond the
  // extremes, within the outer half-step and exponentially closer to 0 or 1 with the
  // distance (in units of the mean spacing of the last 5 reference values), so values
  // past every reference value keep their order.
  static double Percentile(const std::vector<double>& sorted_reference, double value);

 private:
  CombinedEvaluator() = default;
  std::shared_ptr<const supernet::SearchSpace> space_;
  std::vector<ScoreComponent> components_;
  std::vector<std::vector<double>> reference_;  // [component] sorted raw scores.
  std::vector<ScoredArchitecture> prescored_;   // Empty for WithComponents' evaluators.
  std::string id_;
};

}  // namespace nas::search

#endif  // NAS_SEARCH_COMBINED_EVALUATOR_H_
