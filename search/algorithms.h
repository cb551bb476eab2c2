#ifndef NAS_SEARCH_ALGORITHMS_H_
#define NAS_SEARCH_ALGORITHMS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "search/constraints.h"
#include "search/evaluator.h"
#include "supernet/search_space.h"

namespace nas::search {

struct Evaluation;

struct SearchOptions {
  std::string algorithm = "evolution";  // random | evolution | aging | nsga2 | predictor
  int64_t budget = 100;  // Distinct architectures evaluated (repeats cost nothing).
  uint64_t seed = 0;
  std::vector<Constraint> constraints;
  // evolution (SPOS): population, parents (top-k), per-gene mutation probability.
  int population = 50;
  int parents = 10;
  double mutation_probability = 0.1;
  // aging (regularized evolution): population and tournament size.
  int aging_population = 10;
  int tournament = 3;
  // predictor-guided (BANANAS/LINAS-style): random start, then rounds of fitting the
  // predictor on everything evaluated, scoring `candidates` generated candidates
  // (mutations of the best so far and uniform samples) by mean + kappa * std, and
  // evaluating the best `batch` of them.
  std::string predictor = "mlp_ensemble";  // mlp_ensemble | ridge
  int initial = 10;
  int batch = 10;
  int candidates = 20000;
  double kappa = 0.5;
  // Called after each evaluated generation (or batch/cycle) with its number, the number of
  // evaluations so far and the best evaluation so far. Optional; for progress output.
  std::function<void(int64_t generation, int64_t evaluated, const Evaluation& best)> on_generation;
};

struct Evaluation {
  supernet::Architecture arch;
  double accuracy = 0;
  supernet::CostSummary cost;
  int64_t generation = 0;
};

struct SearchResult {
  std::vector<Evaluation> history;  // In evaluation order.
  Evaluation best;                  // Highest accuracy among feasible evaluations.
  // Pareto front (accuracy up, FLOPs down) of everything evaluated: history indices.
  std::vector<int> front;
  // nsga2: after each generation, the hypervolume of the front of everything evaluated
  // so far, in (100 - accuracy) x (FLOPs / the space's max FLOPs), reference (100, 1).
  std::vector<double> hypervolume;
};

// Pareto front (accuracy maximized, FLOPs minimized) of `history`, as indices.
std::vector<int> ParetoFront(const std::vector<Evaluation>& history);
// Its hypervolume as defined for SearchResult::hypervolume.
double FrontHypervolume(const std::vector<Evaluation>& history, int64_t max_flops);

// Runs one search. Deterministic for a seed: candidates are generated sequentially from
// the seeded Rng; each generation's candidates are then evaluated in parallel (oneTBB).
// Every evaluated architecture satisfies the constraints; impossible constraints are an
// immediate InvalidArgument error.
absl::StatusOr<SearchResult> RunSearch(const supernet::SearchSpace& space,
                                       const AccuracyEvaluator& evaluator,
                                       const SearchOptions& options);

}  // namespace nas::search

#endif  // NAS_SEARCH_ALGORITHMS_H_
