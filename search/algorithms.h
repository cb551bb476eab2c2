#ifndef NAS_SEARCH_ALGORITHMS_H_
#define NAS_SEARCH_ALGORITHMS_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <map>

#include "absl/status/statusor.h"
#include "search/archive.h"
#include "search/constraints.h"
#include "search/surrogate.h"
#include "search/metrics.h"
#include "search/evaluator.h"
#include "supernet/search_space.h"

namespace nas::search {

struct Evaluation;

// Where a search stands after one generation (SearchOptions::on_generation).
struct GenerationProgress {
  int64_t generation = 0;
  int64_t evaluated = 0;  // Distinct architectures so far, within the budget.
  int64_t prescored = 0;  // Besides those: SearchOptions::prescored ones taken.
  int64_t paid = 0;       // Of those, evaluated now (the rest came from the archive).
  const Evaluation* best = nullptr;
  double hypervolume = 0;  // Of the front so far (nsga2), when has_hypervolume.
  bool has_hypervolume = false;
};

struct SearchOptions {
  std::string algorithm = "evolution";  // random | evolution | aging | nsga2 | predictor
  int64_t budget = 100;  // Distinct architectures evaluated (repeats cost nothing).
  uint64_t seed = 0;
  std::vector<Constraint> constraints;
  // The first objective is what single-objective algorithms optimize; nsga2 uses the
  // first two (the second defaults to flops, or params when the first is flops).
  std::vector<Objective> objectives = {Objective{"accuracy", true}};
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
  // Makes that predictor; required by the predictor algorithm (search/predictor.h's
  // TorchSurrogates() gives the LibTorch models; the algorithms build without them).
  SurrogateFactory make_surrogate;
  int initial = 10;
  int batch = 10;
  int candidates = 20000;
  double kappa = 0.5;
  // Called after each evaluated generation (or batch/cycle) with its number, the number of
  // evaluations so far and the best evaluation so far. Optional; for progress output.
  std::function<void(const GenerationProgress&)> on_generation;
  // Polled after each generation; when it returns true the search stops there and returns
  // what it has (SearchResult::stopped). Optional.
  std::function<bool()> should_stop;
  // When set, accuracies are looked up here before paying for an evaluation, and every
  // paid evaluation is stored at the end of its generation (one transaction). Because a
  // search is deterministic for its seed, rerunning an interrupted search with the same
  // archive replays the finished generations for free and then continues: the archive is
  // the search's per-generation checkpoint.
  EvaluationArchive* archive = nullptr;
  // False: look up in the archive but never insert (ranks other than 0 of a distributed
  // search, which all see the same archive while rank 0 writes it).
  bool archive_writes = true;
  // Evaluated first, in generation 0 (before the random start; they count towards the
  // budget). Each must be feasible and distinct.
  std::vector<supernet::Architecture> initial_archs;
  // Evaluations already paid for outside the search, by this search's evaluator (its
  // Prescored(): a combination's reference sample). The feasible ones are in the history
  // from the start, as generation 0, at no cost: they do not count towards the budget,
  // and evolution, nsga2 and the predictor choose parents and fit among them too.
  std::vector<ScoredArchitecture> prescored;
  // True: architectures whose networks compute the same function (equal
  // SearchSpace::FunctionKey, e.g. NB201 cells that differ only on edges no path uses)
  // count as one: once one is in the history, the others are never evaluated. The search
  // then spends its budget on distinct networks. False: every distinct string is new.
  bool skip_equivalent = true;
  // After the search: the `rerank_top` best evaluations by the first objective (which
  // must be accuracy, maximized) are evaluated again by `rerank_evaluator` (the same signal
  // measured more precisely, e.g. on more validation images; archived under its own id),
  // and `best` becomes the best of them by that second value. 0: no re-ranking.
  int rerank_top = 0;
  const AccuracyEvaluator* rerank_evaluator = nullptr;
};

struct Evaluation {
  supernet::Architecture arch;
  double accuracy = 0;  // Percent; NaN when the search has no accuracy evaluator.
  supernet::CostSummary cost;
  std::map<std::string, double> latency_ms;  // Per device, when a latency model is given.
  int64_t generation = 0;
  double seconds = 0;         // Time the accuracy evaluation took (0 when archived).
  bool from_archive = false;  // The accuracy came from the archive, not paid for now.
  bool prescored = false;     // From SearchOptions::prescored: free, outside the budget.
  double rerank_accuracy = NAN;  // SearchOptions::rerank_evaluator's value, when re-ranked.

  // accuracy, flops, params or latency@DEVICE; NaN when unknown.
  double Value(const std::string& metric) const;
};

// An objective's value oriented so that larger is better (-inf when unknown).
double Score(const Evaluation& e, const Objective& objective);

struct SearchResult {
  std::vector<Evaluation> history;  // In evaluation order.
  Evaluation best;                  // Best first objective (every evaluation is feasible).
  // The two objectives the front and plot use: the first objective and the second (or
  // flops / params by default, as for nsga2).
  Objective y_objective, x_objective;
  // Pareto front of everything evaluated over those two objectives: history indices.
  std::vector<int> front;
  // Further cost axes the plot draws against the first objective, each with its own
  // front: objectives past the second, constrained metrics, model size when some
  // evaluated architecture has a layer below 32 bits, and the latency devices every
  // evaluation has (e.g. model size and int8 latency of a bit-width search); none twice.
  std::vector<Objective> more_axes;
  // nsga2: after each generation, the hypervolume of the front of everything evaluated
  // so far, in normalized losses (see FrontHypervolume).
  std::vector<double> hypervolume;
  int64_t paid = 0;           // Evaluations paid for in this run.
  int64_t archive_hits = 0;   // Evaluations taken from the archive.
  int64_t prescored = 0;      // Taken from SearchOptions::prescored (outside the budget).
  bool stopped = false;       // should_stop ended the search early.
};

// Pareto front of `history` over two objectives, as indices.
std::vector<int> ParetoFront(const std::vector<Evaluation>& history, const Objective& a, const Objective& b);
// The hypervolume of that front in normalized losses, reference point (1, 1): accuracy
// maximized counts as (100 - accuracy) / 100; a cost metric minimized as value / the
// space's largest value (maximized: (largest - value) / largest).
double FrontHypervolume(const std::vector<Evaluation>& history, const Objective& a, const Objective& b,
                        const MetricModel& metrics);


// Checks options, objectives and constraints (InvalidArgument naming the flag) without
// evaluating anything.
absl::Status ValidateSearch(const MetricModel& metrics, const AccuracyEvaluator* evaluator,
                            const SearchOptions& options);

// Runs one search. Deterministic for a seed: candidates are generated sequentially from
// the seeded Rng; each generation's candidates are then evaluated in parallel (oneTBB).
// Every evaluated architecture satisfies the constraints; impossible constraints are an
// immediate InvalidArgument error. `evaluator` may be null (the cost evaluator): then the
// objectives must be cheap metrics.
absl::StatusOr<SearchResult> RunSearch(const MetricModel& metrics, const AccuracyEvaluator* evaluator,
                                       const SearchOptions& options);
// Accuracy-driven search with the analytic cost model only.
absl::StatusOr<SearchResult> RunSearch(const supernet::SearchSpace& space,
                                       const AccuracyEvaluator& evaluator,
                                       const SearchOptions& options);

}  // namespace nas::search

#endif  // NAS_SEARCH_ALGORITHMS_H_
