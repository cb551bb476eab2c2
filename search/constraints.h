#ifndef NAS_SEARCH_CONSTRAINTS_H_
#define NAS_SEARCH_CONSTRAINTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "supernet/search_space.h"

namespace nas::search {

// A bound on a cost metric of the analytic cost model: "flops<=300M", "params>=1.2M".
struct Constraint {
  std::string metric;  // "flops" or "params".
  bool upper = true;   // true: metric <= bound; false: metric >= bound.
  double bound = 0;

  std::string ToString() const;
};

// Parses "METRIC<=VALUE" or "METRIC>=VALUE"; VALUE may end in K, M or G.
absl::StatusOr<Constraint> ParseConstraint(const std::string& text);

// Checks that each constraint, and all of them together as a window, can be met in
// `space`; otherwise an InvalidArgument error naming the bound and the space's
// reachable minimum (or maximum).
absl::Status CheckReachable(const supernet::SearchSpace& space,
                            const std::vector<Constraint>& constraints);

// How far `cost` is outside the constraints (0 when feasible), relative to each bound.
double Violation(const supernet::CostSummary& cost, const std::vector<Constraint>& constraints);

// Draws a feasible architecture: up to 64 uniform draws, then at most 256 greedy
// single-gene moves that reduce the violation from the least-violating draw. Never an
// unbounded loop: FailedPrecondition when nothing feasible was found.
absl::StatusOr<supernet::Architecture> SampleFeasible(
    const supernet::SearchSpace& space, const std::vector<Constraint>& constraints, Rng& rng);

// Makes `arch` feasible by the same greedy moves (at most 256); returns it unchanged
// when already feasible, FailedPrecondition when the moves do not get there.
absl::StatusOr<supernet::Architecture> Repair(const supernet::SearchSpace& space,
                                              const std::vector<Constraint>& constraints,
                                              supernet::Architecture arch, Rng& rng);

}  // namespace nas::search

#endif  // NAS_SEARCH_CONSTRAINTS_H_
