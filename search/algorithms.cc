#include "search/algorithms.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <optional>
#include <unordered_set>

#include <tbb/parallel_for.h>

#include "absl/strings/str_cat.h"
#include "search/pareto.h"

namespace nas::search {
namespace {

using supernet::Architecture;

constexpr int kVariationRetries = 32;

// Accuracies of `archs` by `evaluator`: taken from `o.archive` where it has them
// (`from_archive`), the rest evaluated in parallel and, when o.archive_writes, archived in
// one transaction. `seconds` is 0 for archived ones.
absl::Status ArchivedAccuracies(const supernet::SearchSpace& space, const AccuracyEvaluator& evaluator,
                                const SearchOptions& o, const std::vector<Architecture>& archs,
                                std::vector<double>* accuracies, std::vector<double>* seconds,
                                std::vector<bool>* from_archive) {
  accuracies->assign(archs.size(), NAN);
  seconds->assign(archs.size(), 0);
  from_archive->assign(archs.size(), false);
  std::vector<size_t> to_pay;
  for (size_t i = 0; i < archs.size(); ++i) {
    if (o.archive != nullptr) {
      absl::StatusOr<std::optional<double>> hit = o.archive->Lookup(evaluator.id(), space.name(), space.Format(archs[i]));
      if (!hit.ok()) return hit.status();
      if (hit->has_value()) {
        (*accuracies)[i] = **hit;
        (*from_archive)[i] = true;
        continue;
      }
    }
    to_pay.push_back(i);
  }
  if (to_pay.empty()) return absl::OkStatus();
  std::vector<Architecture> paying;
  for (size_t i : to_pay) paying.push_back(archs[i]);
  std::vector<double> paid, paid_seconds;
  if (absl::Status s = evaluator.AccuracyBatch(space, paying, &paid, &paid_seconds); !s.ok()) return s;
  std::vector<EvaluationArchive::Record> records;
  for (size_t k = 0; k < to_pay.size(); ++k) {
    (*accuracies)[to_pay[k]] = paid[k];
    (*seconds)[to_pay[k]] = paid_seconds[k];
    records.push_back({evaluator.id(), space.name(), space.Format(paying[k]), paid[k], paid_seconds[k]});
  }
  if (o.archive != nullptr && o.archive_writes) return o.archive->Insert(records);
  return absl::OkStatus();
}

// Holds what a search has evaluated and evaluates new generations in parallel.
class Book {
 public:
  Book(const MetricModel& metrics, const AccuracyEvaluator* evaluator, const SearchOptions& options)
      : metrics_(metrics), evaluator_(evaluator), options_(options) {}

  // What the search deduplicates by: the architecture, or its network's function.
  Architecture Key(const Architecture& a) const {
    return options_.skip_equivalent ? metrics_.space().FunctionKey(a) : a;
  }
  bool Seen(const Architecture& a) const { return seen_.count(Key(a)) > 0; }
  // 0 once stopped: every algorithm loops while something remains.
  int64_t remaining() const {
    return result_.stopped ? 0 : options_.budget - static_cast<int64_t>(result_.history.size()) + result_.prescored;
  }
  // Puts the feasible, distinct SearchOptions::prescored evaluations into the history.
  void AddPrescored() {
    for (const ScoredArchitecture& p : options_.prescored) {
      if (Seen(p.arch) || Violation(metrics_, p.arch, options_.constraints) != 0) continue;
      Evaluation e = Costed(p.arch, 0);
      e.accuracy = evaluator_ != nullptr ? p.accuracy : NAN;
      e.prescored = true;
      ++result_.prescored;
      Record(std::move(e));
    }
  }
  // Evaluates `batch` (distinct, unseen; trimmed to the budget): archived accuracies are
  // reused, the rest are evaluated in parallel and archived in one transaction.
  absl::Status Evaluate(std::vector<Architecture> batch, int64_t generation) {
    const supernet::SearchSpace& space = metrics_.space();
    if (static_cast<int64_t>(batch.size()) > remaining()) batch.resize(std::max<int64_t>(0, remaining()));
    std::vector<double> accuracies(batch.size(), NAN), seconds(batch.size(), 0);
    std::vector<bool> from_archive(batch.size(), false);
    if (evaluator_ != nullptr) {
      if (absl::Status s = ArchivedAccuracies(space, *evaluator_, options_, batch, &accuracies, &seconds, &from_archive);
          !s.ok()) {
        return s;
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      Evaluation e = Costed(batch[i], generation);
      e.accuracy = accuracies[i];
      e.seconds = seconds[i];
      e.from_archive = from_archive[i];
      if (evaluator_ != nullptr && !e.from_archive) ++result_.paid;
      if (e.from_archive) ++result_.archive_hits;
      Record(std::move(e));
    }
    if (!batch.empty() && !defer_reports_) Report(generation);
    if (options_.should_stop && options_.should_stop()) result_.stopped = true;
    return absl::OkStatus();
  }
  // `arch` with its costs and latencies, in `generation`; no accuracy yet.
  Evaluation Costed(const Architecture& arch, int64_t generation) const {
    Evaluation e;
    e.arch = arch;
    e.cost = metrics_.space().Cost(arch);
    e.latency_ms = metrics_.Latencies(arch);
    e.generation = generation;
    return e;
  }
  // Appends `e` to the history, keeping `best` and the seen set.
  void Record(Evaluation e) {
    seen_.insert(Key(e.arch));
    const Objective& primary = options_.objectives.front();
    if (result_.history.empty() || Score(e, primary) > Score(result_.best, primary)) result_.best = e;
    result_.history.push_back(std::move(e));
  }
  // Tells on_generation where the search stands.
  void Report(int64_t generation) const {
    if (!options_.on_generation) return;
    GenerationProgress p;
    p.generation = generation;
    p.evaluated = static_cast<int64_t>(result_.history.size()) - result_.prescored;
    p.prescored = result_.prescored;
    p.paid = result_.paid;
    p.best = &result_.best;
    p.has_hypervolume = !result_.hypervolume.empty();
    if (p.has_hypervolume) p.hypervolume = result_.hypervolume.back();
    options_.on_generation(p);
  }
  // An algorithm that computes more per generation (nsga2's hypervolume) reports itself.
  void DeferReports() { defer_reports_ = true; }
  SearchResult& result() { return result_; }
  double PrimaryScore(const Evaluation& e) const { return Score(e, options_.objectives.front()); }

 private:
  const MetricModel& metrics_;
  const AccuracyEvaluator* evaluator_;
  const SearchOptions& options_;
  std::unordered_set<Architecture, supernet::ArchitectureHash> seen_;
  SearchResult result_;
  bool defer_reports_ = false;
};

// Adds `a` to `batch` when new; returns whether it was added.
bool AddNew(const Book& book, std::vector<Architecture>& batch, Architecture a) {
  if (book.Seen(a)) return false;
  const Architecture key = book.Key(a);
  for (const Architecture& b : batch) {
    if (book.Key(b) == key) return false;
  }
  batch.push_back(std::move(a));
  return true;
}

// Fills `batch` up to `size` with new feasible uniform samples (bounded attempts).
absl::Status FillRandom(const MetricModel& metrics, const SearchOptions& o, const Book& book,
                        std::vector<Architecture>& batch, size_t size, Rng& rng) {
  for (size_t attempts = 0; batch.size() < size && attempts < size * kVariationRetries; ++attempts) {
    absl::StatusOr<Architecture> a = SampleFeasible(metrics, o.constraints, rng);
    if (!a.ok()) return a.status();
    AddNew(book, batch, *std::move(a));
  }
  return absl::OkStatus();
}

bool Feasible(const MetricModel& metrics, const SearchOptions& o, const Architecture& a) {
  return Violation(metrics, a, o.constraints) == 0;
}

// Evaluates the initial architectures and `size` feasible random ones as generation 0.
absl::Status EvaluateRandomStart(const MetricModel& metrics, const SearchOptions& o,
                                 Book& book, int64_t size, Rng& rng) {
  std::vector<Architecture> first;
  // Exactly what the caller listed (an equivalent of one may be in the history already).
  const std::vector<Evaluation>& history = book.result().history;
  for (const Architecture& a : o.initial_archs) {
    if (std::find(first.begin(), first.end(), a) == first.end() &&
        std::none_of(history.begin(), history.end(), [&](const Evaluation& e) { return e.arch == a; })) {
      first.push_back(a);
    }
  }
  size = std::max<int64_t>(size, static_cast<int64_t>(first.size()));
  if (absl::Status s = FillRandom(metrics, o, book, first, std::min<int64_t>(size, book.remaining()), rng);
      !s.ok()) {
    return s;
  }
  return book.Evaluate(std::move(first), 0);
}

// The k best evaluations by the first objective (stable for ties).
std::vector<Evaluation> TopK(const Book& book, const std::vector<Evaluation>& history, size_t k) {
  std::vector<Evaluation> ranked = history;
  std::stable_sort(ranked.begin(), ranked.end(), [&](const Evaluation& a, const Evaluation& b) {
    return book.PrimaryScore(a) > book.PrimaryScore(b);
  });
  ranked.resize(std::min(ranked.size(), k));
  return ranked;
}

absl::Status RandomSearch(const MetricModel& metrics, const SearchOptions& o, Book& book,
                          Rng& rng) {
  int64_t generation = 0;
  while (book.remaining() > 0) {
    std::vector<Architecture> batch;
    if (generation == 0) {
      for (const Architecture& a : o.initial_archs) AddNew(book, batch, a);
    }
    if (absl::Status s = FillRandom(metrics, o, book, batch, std::min<int64_t>(book.remaining(), 64), rng);
        !s.ok()) {
      return s;
    }
    if (batch.empty()) break;  // The feasible space is exhausted.
    if (absl::Status s = book.Evaluate(std::move(batch), generation++); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// SPOS's evolutionary search: keep the top-k of everything evaluated; each generation
// is half mutations and half crossovers of random top-k parents, made feasible.
absl::Status Evolution(const MetricModel& metrics, const SearchOptions& o, Book& book,
                       Rng& rng) {
  const supernet::SearchSpace& space = metrics.space();
  if (absl::Status s = EvaluateRandomStart(metrics, o, book, o.population, rng); !s.ok()) return s;
  for (int64_t generation = 1; book.remaining() > 0; ++generation) {
    const std::vector<Evaluation> ranked = TopK(book, book.result().history, o.parents);
    const size_t size = std::min<int64_t>(o.population, book.remaining());
    std::vector<Architecture> batch;
    for (size_t attempts = 0; batch.size() < size / 2 && attempts < size * kVariationRetries; ++attempts) {
      const Architecture& parent = ranked[rng.UniformInt(ranked.size())].arch;
      Architecture child = space.Mutate(parent, o.mutation_probability, rng);
      if (Feasible(metrics, o, child)) AddNew(book, batch, std::move(child));
    }
    for (size_t attempts = 0; batch.size() < size && attempts < size * kVariationRetries; ++attempts) {
      const Architecture& a = ranked[rng.UniformInt(ranked.size())].arch;
      const Architecture& b = ranked[rng.UniformInt(ranked.size())].arch;
      Architecture child = space.Crossover(a, b, rng);
      if (Feasible(metrics, o, child)) AddNew(book, batch, std::move(child));
    }
    // Variation stalled (tiny or exhausted neighbourhood): top up with random samples.
    if (absl::Status s = FillRandom(metrics, o, book, batch, size, rng); !s.ok()) return s;
    if (batch.empty()) break;
    if (absl::Status s = book.Evaluate(std::move(batch), generation); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Regularized (aging) evolution: tournament selection, one-gene mutation, the oldest
// member dies. Sequential by nature: one child per cycle.
absl::Status AgingEvolution(const MetricModel& metrics, const SearchOptions& o, Book& book,
                            Rng& rng) {
  const supernet::SearchSpace& space = metrics.space();
  if (absl::Status s = EvaluateRandomStart(metrics, o, book, o.aging_population, rng); !s.ok()) return s;
  // The random start (prescored evaluations count for the best, not as members).
  std::deque<Evaluation> population;
  for (const Evaluation& e : book.result().history) {
    if (!e.prescored) population.push_back(e);
  }
  for (int64_t cycle = 1; book.remaining() > 0 && !population.empty(); ++cycle) {
    const Evaluation* parent = nullptr;
    for (int t = 0; t < o.tournament; ++t) {
      const Evaluation& e = population[rng.UniformInt(population.size())];
      if (parent == nullptr || book.PrimaryScore(e) > book.PrimaryScore(*parent)) parent = &e;
    }
    std::vector<Architecture> batch;
    for (int attempt = 0; batch.empty() && attempt < kVariationRetries; ++attempt) {
      Architecture child = space.MutateOne(parent->arch, rng);
      if (Feasible(metrics, o, child)) AddNew(book, batch, std::move(child));
    }
    if (absl::Status s = FillRandom(metrics, o, book, batch, 1, rng); !s.ok()) return s;
    if (batch.empty()) break;
    if (absl::Status s = book.Evaluate(std::move(batch), cycle); !s.ok()) return s;
    population.push_back(book.result().history.back());
    if (static_cast<int>(population.size()) > o.aging_population) population.pop_front();
  }
  return absl::OkStatus();
}

// The second objective of nsga2, the front and the plot.
Objective SecondObjective(const SearchOptions& o) {
  if (o.objectives.size() > 1) return o.objectives[1];
  return Objective{o.objectives.front().metric == "flops" ? "params" : "flops", false};
}

// Both objectives as losses (smaller is better), for non-dominated sorting.
Point Losses(const Evaluation& e, const Objective& a, const Objective& b) {
  return {-Score(e, a), -Score(e, b)};
}

// NSGA-II over two objectives: binary tournaments on (rank, crowding), uniform crossover
// then per-gene mutation, elitist survival by fronts and crowding.
absl::Status Nsga2(const MetricModel& metrics, const SearchOptions& o, Book& book, Rng& rng) {
  const supernet::SearchSpace& space = metrics.space();
  const Objective first = o.objectives.front(), second = SecondObjective(o);
  const auto Objectives = [&](const Evaluation& e) { return Losses(e, first, second); };
  book.DeferReports();  // Each generation is reported with its front's hypervolume.
  if (absl::Status s = EvaluateRandomStart(metrics, o, book, o.population, rng); !s.ok()) return s;
  std::vector<Evaluation> population = book.result().history;
  // The front of everything evaluated, kept incrementally: the front of (the last front
  // and one generation) is the front of the whole history, so a generation costs
  // O((front + population) log) whatever the budget.
  std::vector<Evaluation> front = book.result().history;
  const auto update_front = [&](size_t from, int64_t generation) {
    front.insert(front.end(), book.result().history.begin() + from, book.result().history.end());
    std::vector<Evaluation> kept;
    for (int i : ParetoFront(front, first, second)) kept.push_back(std::move(front[i]));
    front = std::move(kept);
    book.result().hypervolume.push_back(FrontHypervolume(front, first, second, metrics));
    if (!book.result().history.empty()) book.Report(generation);
  };
  update_front(book.result().history.size(), 0);
  for (int64_t generation = 1; book.remaining() > 0; ++generation) {
    std::vector<Point> points;
    for (const Evaluation& e : population) points.push_back(Objectives(e));
    const auto fronts = NonDominatedSort(points);
    std::vector<int> rank(population.size());
    std::vector<double> crowding(population.size());
    for (size_t f = 0; f < fronts.size(); ++f) {
      const std::vector<double> d = CrowdingDistance(points, fronts[f]);
      for (size_t i = 0; i < fronts[f].size(); ++i) {
        rank[fronts[f][i]] = static_cast<int>(f);
        crowding[fronts[f][i]] = d[i];
      }
    }
    auto tournament = [&]() -> const Architecture& {
      const size_t a = rng.UniformInt(population.size()), b = rng.UniformInt(population.size());
      const bool a_wins = rank[a] < rank[b] || (rank[a] == rank[b] && crowding[a] >= crowding[b]);
      return population[a_wins ? a : b].arch;
    };
    const size_t size = std::min<int64_t>(o.population, book.remaining());
    std::vector<Architecture> batch;
    for (size_t attempts = 0; batch.size() < size && attempts < size * kVariationRetries; ++attempts) {
      Architecture child = space.Mutate(space.Crossover(tournament(), tournament(), rng),
                                        o.mutation_probability, rng);
      if (Feasible(metrics, o, child)) AddNew(book, batch, std::move(child));
    }
    if (absl::Status s = FillRandom(metrics, o, book, batch, size, rng); !s.ok()) return s;
    if (batch.empty()) break;
    const size_t before = book.result().history.size();
    if (absl::Status s = book.Evaluate(std::move(batch), generation); !s.ok()) return s;
    std::vector<Evaluation> combined = population;
    combined.insert(combined.end(), book.result().history.begin() + before, book.result().history.end());
    std::vector<Point> combined_points;
    for (const Evaluation& e : combined) combined_points.push_back(Objectives(e));
    population.clear();
    for (const std::vector<int>& front : NonDominatedSort(combined_points)) {
      if (population.size() + front.size() <= static_cast<size_t>(o.population)) {
        for (int i : front) population.push_back(combined[i]);
        continue;
      }
      const std::vector<double> d = CrowdingDistance(combined_points, front);
      std::vector<size_t> order(front.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return d[a] > d[b]; });
      for (size_t i = 0; population.size() < static_cast<size_t>(o.population); ++i) {
        population.push_back(combined[front[order[i]]]);
      }
      break;
    }
    update_front(before, generation);
  }
  return absl::OkStatus();
}

// Predictor-guided search: see SearchOptions.
absl::Status PredictorGuided(const MetricModel& metrics, const SearchOptions& o, Book& book,
                             Rng& rng) {
  const supernet::SearchSpace& space = metrics.space();
  if (absl::Status s = EvaluateRandomStart(metrics, o, book, o.initial, rng); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Surrogate>> made = o.make_surrogate(o.predictor, o.seed);
  if (!made.ok()) return made.status();
  const std::unique_ptr<Surrogate> predictor = *std::move(made);
  for (int64_t round = 1; book.remaining() > 0; ++round) {
    const std::vector<Evaluation>& history = book.result().history;
    std::vector<Architecture> seen_archs;
    std::vector<double> accuracies;
    for (const Evaluation& e : history) {
      seen_archs.push_back(e.arch);
      // Rounded to float, as the models fit in float32.
      accuracies.push_back(static_cast<float>(book.PrimaryScore(e)));
    }
    predictor->Fit(OneHotFeatures(space, seen_archs), accuracies);

    const std::vector<Evaluation> ranked = TopK(book, history, 10);
    std::unordered_set<Architecture, supernet::ArchitectureHash> pool_set;
    std::vector<Architecture> pool;
    for (int i = 0; i < o.candidates; ++i) {
      Architecture c;
      switch (i % 3) {
        case 0:
          c = space.MutateOne(ranked[rng.UniformInt(ranked.size())].arch, rng);
          break;
        case 1:
          c = space.Mutate(ranked[rng.UniformInt(ranked.size())].arch, 0.3, rng);
          break;
        default:
          c = space.Sample(rng);
      }
      if (book.Seen(c) || !Feasible(metrics, o, c) || !pool_set.insert(book.Key(c)).second) continue;
      pool.push_back(std::move(c));
    }
    std::vector<Architecture> batch;
    if (!pool.empty()) {
      const FeatureMatrix x = OneHotFeatures(space, pool);
      const std::vector<double> mean = predictor->Predict(x), spread = predictor->PredictStd(x);
      std::vector<double> score(pool.size());
      for (size_t i = 0; i < pool.size(); ++i) score[i] = mean[i] + o.kappa * spread[i];
      const int64_t take = std::min<int64_t>({static_cast<int64_t>(o.batch), book.remaining(),
                                              static_cast<int64_t>(pool.size())});
      // The `take` best scores, ties in pool order.
      std::vector<size_t> order(pool.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
      for (int64_t i = 0; i < take; ++i) batch.push_back(pool[order[i]]);
    }
    if (absl::Status s = FillRandom(metrics, o, book, batch, std::min<int64_t>(o.batch, book.remaining()), rng);
        !s.ok()) {
      return s;
    }
    if (batch.empty()) break;
    if (absl::Status s = book.Evaluate(std::move(batch), round); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Re-evaluates the rerank_top best of the history with the rerank evaluator (archived
// under its id) and makes the best of those the result's best.
absl::Status Rerank(const supernet::SearchSpace& space, const SearchOptions& o, SearchResult& result) {
  const Objective& primary = o.objectives.front();
  std::vector<size_t> order(result.history.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return Score(result.history[a], primary) > Score(result.history[b], primary);
  });
  order.resize(std::min<size_t>(order.size(), static_cast<size_t>(o.rerank_top)));
  std::vector<Architecture> archs;
  for (size_t i : order) archs.push_back(result.history[i].arch);
  std::vector<double> accuracies, seconds;
  std::vector<bool> from_archive;
  if (absl::Status s = ArchivedAccuracies(space, *o.rerank_evaluator, o, archs, &accuracies, &seconds, &from_archive);
      !s.ok()) {
    return s;
  }
  for (size_t k = 0; k < order.size(); ++k) result.history[order[k]].rerank_accuracy = accuracies[k];
  size_t best = order.front();
  for (size_t i : order) {
    if (result.history[i].rerank_accuracy > result.history[best].rerank_accuracy) best = i;
  }
  result.best = result.history[best];
  return absl::OkStatus();
}

}  // namespace

double Evaluation::Value(const std::string& metric) const {
  if (metric == "accuracy") return accuracy;
  if (std::optional<supernet::CostMetric> analytic = AnalyticMetric(metric)) {
    return static_cast<double>(supernet::CostValue(cost, *analytic));
  }
  auto it = latency_ms.find(LatencyDevice(metric));
  return it == latency_ms.end() ? NAN : it->second;
}

double Score(const Evaluation& e, const Objective& objective) {
  const double v = e.Value(objective.metric);
  if (std::isnan(v)) return -INFINITY;
  return objective.maximize ? v : -v;
}

std::vector<int> ParetoFront(const std::vector<Evaluation>& history, const Objective& a, const Objective& b) {
  std::vector<Point> points;
  for (const Evaluation& e : history) points.push_back(Losses(e, a, b));
  return NonDominatedFront2D(points);
}

double FrontHypervolume(const std::vector<Evaluation>& history, const Objective& a, const Objective& b,
                        const MetricModel& metrics) {
  const auto loss = [&](const Evaluation& e, const Objective& o) {
    double largest = 100;
    if (o.metric != "accuracy") {
      absl::StatusOr<MetricModel::Extremes> range = metrics.Range(o.metric);
      largest = range.ok() ? std::max(range->max, 1e-12) : 1.0;
    }
    const double v = e.Value(o.metric);
    return o.maximize ? (largest - v) / largest : v / largest;
  };
  std::vector<Point> points;
  for (int i : ParetoFront(history, a, b)) points.push_back({loss(history[i], a), loss(history[i], b)});
  return Hypervolume2D(points, {1.0 + 1e-9, 1.0 + 1e-9});
}

absl::StatusOr<SearchResult> RunSearch(const supernet::SearchSpace& space, const AccuracyEvaluator& evaluator,
                                       const SearchOptions& options) {
  return RunSearch(MetricModel(space), &evaluator, options);
}

absl::Status ValidateSearch(const MetricModel& metrics, const AccuracyEvaluator* evaluator,
                            const SearchOptions& options) {
  if (options.budget < 1) return absl::InvalidArgumentError("budget: must be at least 1");
  if (options.budget > 10'000'000) {
    return absl::InvalidArgumentError(absl::StrCat("budget: ", options.budget, " is absurd (max 10000000)"));
  }
  if (options.population < 2 || options.parents < 1 || options.aging_population < 1 ||
      options.tournament < 1) {
    return absl::InvalidArgumentError("population >= 2, parents >= 1, tournament >= 1 are required");
  }
  if (options.objectives.empty()) return absl::InvalidArgumentError("objectives: at least one is needed");
  for (const Objective& objective : options.objectives) {
    const std::string field = absl::StrCat("objectives: ", objective.ToString());
    if (objective.metric == "accuracy") {
      if (evaluator == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": the cost evaluator has no accuracy; use table:PATH or supernet:CHECKPOINT, or "
                   "optimize flops, params or latency@DEVICE"));
      }
    } else if (absl::Status s = metrics.CheckMetric(objective.metric, field); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckReachable(metrics, options.constraints); !s.ok()) return s;
  const supernet::SearchSpace& space = metrics.space();
  for (size_t i = 0; i < options.initial_archs.size(); ++i) {
    const Architecture& a = options.initial_archs[i];
    const std::string field = absl::StrCat("initial_archs[", i, "] (", space.Format(a), ")");
    if (static_cast<int64_t>(i) >= options.budget) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": more initial architectures (",
                                                     options.initial_archs.size(), ") than the budget (",
                                                     options.budget, ")"));
    }
    if (std::find(options.initial_archs.begin(), options.initial_archs.begin() + i, a) !=
        options.initial_archs.begin() + i) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": given twice"));
    }
    if (Violation(metrics, a, MergeConstraints(options.constraints)) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": violates the constraints"));
    }
  }
  for (size_t i = 0; i < options.prescored.size(); ++i) {
    if (absl::Status s = space.Validate(options.prescored[i].arch); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("prescored[", i, "]: ", s.message()));
    }
  }
  if (options.rerank_top < 0 || options.rerank_top > 10000) {
    return absl::InvalidArgumentError(absl::StrCat("rerank_top: must be in [0, 10000], got ", options.rerank_top));
  }
  if (options.rerank_top > 0) {
    if (evaluator == nullptr || options.rerank_evaluator == nullptr) {
      return absl::InvalidArgumentError("rerank_top: needs an accuracy evaluator that can be re-run more precisely");
    }
    if (options.objectives.front().metric != "accuracy" || !options.objectives.front().maximize) {
      return absl::InvalidArgumentError(absl::StrCat("rerank_top: re-ranks by accuracy, but the first objective is ",
                                                     options.objectives.front().ToString()));
    }
  }
  if (absl::Status s = CheckAlgorithmName(options.algorithm, "algorithm"); !s.ok()) return s;
  if (options.algorithm == "predictor") {
    if (absl::Status s = CheckPredictorName(options.predictor, "predictor"); !s.ok()) return s;
    if (!options.make_surrogate) {
      return absl::FailedPreconditionError(
          "algorithm predictor: no surrogate models were linked in (SearchOptions::make_surrogate)");
    }
    if (options.initial < 2 || options.batch < 1 || options.candidates < 1) {
      return absl::InvalidArgumentError("predictor search needs initial >= 2, batch >= 1, candidates >= 1");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SearchResult> RunSearch(const MetricModel& metrics, const AccuracyEvaluator* evaluator,
                                       const SearchOptions& requested) {
  SearchOptions options = requested;
  options.constraints = MergeConstraints(requested.constraints);
  if (absl::Status s = ValidateSearch(metrics, evaluator, options); !s.ok()) return s;
  Book book(metrics, evaluator, options);
  book.AddPrescored();
  Rng rng(options.seed);
  absl::Status status;
  if (options.algorithm == "random") {
    status = RandomSearch(metrics, options, book, rng);
  } else if (options.algorithm == "evolution") {
    status = Evolution(metrics, options, book, rng);
  } else if (options.algorithm == "aging") {
    status = AgingEvolution(metrics, options, book, rng);
  } else if (options.algorithm == "nsga2") {
    status = Nsga2(metrics, options, book, rng);
  } else {
    status = PredictorGuided(metrics, options, book, rng);
  }
  if (!status.ok()) return status;
  if (book.result().history.empty()) {
    return absl::FailedPreconditionError("no feasible architecture could be evaluated");
  }
  SearchResult& result = book.result();
  if (options.rerank_top > 0 && !result.stopped) {
    if (absl::Status s = Rerank(metrics.space(), options, result); !s.ok()) return s;
  }
  result.y_objective = options.objectives.front();
  result.x_objective = SecondObjective(options);
  result.front = ParetoFront(result.history, result.y_objective, result.x_objective);
  std::vector<Objective> axes(options.objectives.begin() + std::min<size_t>(2, options.objectives.size()),
                              options.objectives.end());
  for (const Constraint& c : options.constraints) axes.push_back(Objective{c.metric, false});
  // Model size, when some evaluated architecture has a layer below 32 bits.
  if (std::any_of(result.history.begin(), result.history.end(),
                  [](const Evaluation& e) { return e.cost.size_bytes != 4 * e.cost.params; })) {
    axes.push_back(Objective{"size", false});
  }
  for (const auto& [device, ms] : result.history.front().latency_ms) {
    const bool everywhere = std::all_of(result.history.begin(), result.history.end(),
                                        [&](const Evaluation& e) { return e.latency_ms.count(device) > 0; });
    if (everywhere) axes.push_back(Objective{"latency@" + device, false});
  }
  for (const Objective& a : axes) {
    const auto same = [&](const Objective& b) { return b.metric == a.metric; };
    if (same(result.y_objective) || same(result.x_objective) ||
        std::any_of(result.more_axes.begin(), result.more_axes.end(), same)) {
      continue;
    }
    result.more_axes.push_back(a);
  }
  return std::move(book.result());
}

}  // namespace nas::search
