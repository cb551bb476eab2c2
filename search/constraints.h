#ifndef NAS_SEARCH_CONSTRAINTS_H_
#define NAS_SEARCH_CONSTRAINTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "search/metrics.h"
#include "supernet/search_space.h"

namespace nas::search {

// A bound on a cheap metric (see MetricModel): "flops<=300M", "params>=1.2M",
// "bitops<=20G", "size<=500KB", "latency@cpu<=12ms".
struct Constraint {
  std::string metric;  // "flops", "params", "bitops", "size" or "latency@DEVICE".
  bool upper = true;   // true: metric <= bound; false: metric >= bound.
  double bound = 0;

  std::string ToString() const;
};

// Parses "METRIC<=VALUE" or "METRIC>=VALUE"; VALUE may end in K, M, G or T (flops,
// params, bitops), B, KB, MB, KiB or MiB (size; bytes without a unit) or ms (latency,
// milliseconds; the unit is optional).
absl::StatusOr<Constraint> ParseConstraint(const std::string& text);

// The same feasible set with at most one upper and one lower bound per metric (the
// tightest of each), in first-appearance order: repeated constraints cost nothing.
std::vector<Constraint> MergeConstraints(const std::vector<Constraint>& constraints);

// What a search optimizes: "accuracy" (maximized by default), "flops", "params",
// "bitops", "size" or "latency@DEVICE" (minimized by default); "max:" or "min:" in front overrides.
struct Objective {
  std::string metric;
  bool maximize = true;

  std::string ToString() const;
};
absl::StatusOr<Objective> ParseObjective(const std::string& text);

// InvalidArgument "FIELD: 'X' is not one of ..." for an unknown algorithm / predictor name.
absl::Status CheckAlgorithmName(const std::string& algorithm, const std::string& field);
absl::Status CheckPredictorName(const std::string& predictor, const std::string& field);

// Checks that each constraint's metric exists and that each constraint, and all of them
// together as a window, can be met; otherwise an InvalidArgument error naming the bound
// and the space's reachable minimum (or maximum) with its architecture.
absl::Status CheckReachable(const MetricModel& metrics, const std::vector<Constraint>& constraints);

// How far `arch` is outside the constraints (0 when feasible), relative to each bound.
// An architecture whose metric is unknown (not in a latency table) is far outside (1e9).
double Violation(const MetricModel& metrics, const supernet::Architecture& arch,
                 const std::vector<Constraint>& constraints);

// Draws a feasible architecture: up to 64 uniform draws, then at most 256 greedy
// single-gene moves that reduce the violation from the least-violating draw. Never an
// unbounded loop: FailedPrecondition when nothing feasible was found.
absl::StatusOr<supernet::Architecture> SampleFeasible(const MetricModel& metrics,
                                                      const std::vector<Constraint>& constraints, Rng& rng);

// Makes `arch` feasible by the same greedy moves (at most 256); returns it unchanged
// when already feasible, FailedPrecondition when the moves do not get there.
absl::StatusOr<supernet::Architecture> Repair(const MetricModel& metrics,
                                              const std::vector<Constraint>& constraints,
                                              supernet::Architecture arch, Rng& rng);

}  // namespace nas::search

#endif  // NAS_SEARCH_CONSTRAINTS_H_
