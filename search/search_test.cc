// Constraints and search algorithms against NAS-Bench-201's table.
#include <atomic>
#include <cmath>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "search/algorithms.h"
#include "search/predictor.h"
#include "search/svg_plot.h"
#include "supernet/nb201_space.h"
#include "supernet/file_util.h"
#include "tests/test_paths.h"

namespace nas::search {
namespace {

using ::testing::HasSubstr;

class SearchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = supernet::LoadSearchSpace("configs/nb201.yaml");
    ASSERT_TRUE(loaded.ok());
    space_ = new std::shared_ptr<const supernet::SearchSpace>(*loaded);
    auto table = supernet::Nb201Table::Load(dynamic_cast<const supernet::Nb201Space&>(**loaded),
                                            nas::testing::SharedDataDir() + "/nb201_test_acc_200ep.csv");
    ASSERT_TRUE(table.ok()) << table.status();
    auto evaluator = Nb201TableEvaluator::Create(
        std::make_shared<const supernet::Nb201Table>(*std::move(table)), "cifar10");
    ASSERT_TRUE(evaluator.ok());
    evaluator_ = evaluator->release();
  }
  const supernet::SearchSpace& space() { return **space_; }
  static std::shared_ptr<const supernet::SearchSpace>* space_;
  static Nb201TableEvaluator* evaluator_;
};
std::shared_ptr<const supernet::SearchSpace>* SearchTest::space_ = nullptr;
Nb201TableEvaluator* SearchTest::evaluator_ = nullptr;

TEST(TableEvaluatorTest, CsvAndJsonTablesOfAnySpace) {
  auto space = *supernet::LoadSearchSpace("configs/mbv2_macro.yaml");
  const std::string dir = nas::testing::FreshTempDir("tables");
  ASSERT_TRUE(WriteFileAtomically(dir + "/t.csv",
                                  "arch,accuracy,latency_ms\n"
                                  "identity,identity,identity,identity,identity,identity,identity,identity,71.5,3.0\n"
                                  "0,1,2,0,1,2,0,1,80.25,5.5\n")
                  .ok());
  auto csv = TableEvaluator::Load(*space, dir + "/t.csv", "accuracy");
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ((*csv)->size(), 2u);
  EXPECT_EQ(*(*csv)->Accuracy(*space->Parse("0,1,2,0,1,2,0,1")), 80.25);
  EXPECT_EQ((*csv)->Accuracy(*space->Parse("1,1,1,1,1,1,1,1")).status().code(), absl::StatusCode::kNotFound);
  auto latency = TableEvaluator::Load(*space, dir + "/t.csv", "latency_ms");
  EXPECT_EQ(*(*latency)->Accuracy(*space->Parse("0,0,0,0,0,0,0,0")), 3.0);
  EXPECT_THAT(std::string(TableEvaluator::Load(*space, dir + "/t.csv", "top1").status().message()),
              HasSubstr("t.csv:1: no column 'top1'"));
  ASSERT_TRUE(WriteFileAtomically(dir + "/bad.csv", "arch,accuracy\n0,1,2,0,1,2,0,1,80\n0,1,9,0,1,2,0,1,70\n").ok());
  EXPECT_THAT(std::string(TableEvaluator::Load(*space, dir + "/bad.csv", "accuracy").status().message()),
              HasSubstr("bad.csv:3: arch: layers[2].op"));
  ASSERT_TRUE(WriteFileAtomically(dir + "/t.json", R"({"0,1,2,0,1,2,0,1": {"accuracy": 81}})").ok());
  auto json = TableEvaluator::Load(*space, dir + "/t.json", "accuracy");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*(*json)->Accuracy(*space->Parse("0,1,2,0,1,2,0,1")), 81.0);
  // A search over the table evaluates exactly the listed architectures it reaches.
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.algorithm = "random";
  o.budget = 1;
  o.constraints = {*ParseConstraint("flops<=8M")};  // Only the all-identity network fits.
  auto r = RunSearch(*space, **csv, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->best.accuracy, 71.5);
}

TEST(ConstraintTest, Parses) {
  auto c = ParseConstraint("flops<=300M");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->metric, "flops");
  EXPECT_TRUE(c->upper);
  EXPECT_EQ(c->bound, 3e8);
  c = ParseConstraint(" params >= 1.2m ");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->upper);
  EXPECT_DOUBLE_EQ(c->bound, 1.2e6);
  EXPECT_THAT(std::string(ParseConstraint("latency<=3").status().message()), HasSubstr("metric 'latency'"));
  EXPECT_THAT(std::string(ParseConstraint("flops<=abc").status().message()), HasSubstr("bound 'abc'"));
  EXPECT_THAT(std::string(ParseConstraint("flops=3M").status().message()), HasSubstr("METRIC<=VALUE"));
  EXPECT_FALSE(ParseConstraint("flops<=-3").ok());
}

TEST(ConstraintTest, ParsesBitOpsAndSizeWithTheirUnits) {
  auto c = ParseConstraint("bitops<=2.5G");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metric, "bitops");
  EXPECT_DOUBLE_EQ(c->bound, 2.5e9);
  EXPECT_DOUBLE_EQ(ParseConstraint("bitops<=1T")->bound, 1e12);
  EXPECT_DOUBLE_EQ(ParseConstraint("size<=500KB")->bound, 5e5);
  EXPECT_DOUBLE_EQ(ParseConstraint("size <= 1.5 MiB")->bound, 1.5 * 1048576);
  EXPECT_DOUBLE_EQ(ParseConstraint("size<=64kib")->bound, 65536);
  EXPECT_DOUBLE_EQ(ParseConstraint("size>=1200")->bound, 1200);
  EXPECT_DOUBLE_EQ(ParseConstraint("size<=3MB")->bound, 3e6);
  EXPECT_EQ(ParseConstraint("size<=500KB")->ToString(), "size<=500KB");
  EXPECT_THAT(std::string(ParseConstraint("size<=5GB").status().message()), HasSubstr("bound '5GB'"));
  EXPECT_THAT(std::string(ParseConstraint("bits<=3").status().message()),
              HasSubstr("flops, params, bitops, size, latency@DEVICE"));
  auto o = ParseObjective("size");
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->maximize);
  EXPECT_TRUE(ParseObjective("min:bitops").ok());
}

TEST(ConstraintTest, SizeAndBitOpsOfAMixedPrecisionSpaceAreReachableExactly) {
  const std::string mixed_yaml = R"(name: tiny_mixed
type: mobilenetv2_macro
input: {size: 8, channels: 3}
num_classes: 10
stem: {channels: 4, kernel_size: 3, stride: 1}
stages:
  - {layers: 2, channels: 8, stride: 2}
head: {channels: 16}
choices:
  - identity
  - {kernel_size: 3, expand_ratio: 2}
precision: {weight_bits: [4, 8, 32], activation_bits: [8, 32]}
)";
  auto space = supernet::ParseSearchSpace(mixed_yaml, "mixed.yaml");
  ASSERT_TRUE(space.ok()) << space.status();
  MetricModel metrics(**space);
  auto size = metrics.Range("size");
  ASSERT_TRUE(size.ok()) << size.status();
  // Smallest: both layers identity (only layer 0's projection has weights) at 4 bits.
  EXPECT_EQ(size->min, 1864);
  EXPECT_EQ(metrics.Value(size->argmin, "size"), 1864);
  auto too_small = CheckReachable(metrics, {*ParseConstraint("size<=1800")});
  EXPECT_THAT(std::string(too_small.message()), HasSubstr("the smallest size in space 'tiny_mixed' is 1.864KB"));
  EXPECT_TRUE(CheckReachable(metrics, {*ParseConstraint("size<=1864"), *ParseConstraint("bitops<=1T")}).ok());

  // A cost-only search of this space (params its objective) plots against flops, then
  // against the constrained BitOPs and against model size (layers below 32 bits).
  SearchOptions o;
  o.algorithm = "random";
  o.budget = 20;
  o.objectives = {*ParseObjective("params")};
  o.constraints = {*ParseConstraint("bitops<=1T")};
  auto r = RunSearch(metrics, nullptr, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->more_axes.size(), 2u);
  EXPECT_EQ(r->more_axes[0].metric, "bitops");
  EXPECT_EQ(r->more_axes[1].metric, "size");
  const std::string svg = PlotSearchSvg(*r, "mixed");
  EXPECT_NE(svg.find("parameters (M) against model size (KB)"), std::string::npos);
  // Restricted to 32-bit layers, sizes are 4 bytes per parameter: no size plot.
  const std::string float_yaml = mixed_yaml.substr(0, mixed_yaml.find("precision:"));
  auto float_space = supernet::ParseSearchSpace(float_yaml, "float.yaml");
  ASSERT_TRUE(float_space.ok()) << float_space.status();
  MetricModel float_metrics(**float_space);
  o.constraints.clear();
  r = RunSearch(float_metrics, nullptr, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->more_axes.empty());
}

TEST(ConstraintTest, MergesRepeatsToTheTightestBoundPerMetricAndDirection) {
  std::vector<Constraint> c;
  for (const char* t : {"flops<=60M", "params>=1M", "flops<=50M", "flops<=70M", "params>=2M", "flops>=10M"}) {
    c.push_back(*ParseConstraint(t));
  }
  std::vector<std::string> merged;
  for (const Constraint& m : MergeConstraints(c)) merged.push_back(m.ToString());
  EXPECT_EQ(merged, (std::vector<std::string>{ParseConstraint("flops<=50M")->ToString(),
                                               ParseConstraint("params>=2M")->ToString(),
                                               ParseConstraint("flops>=10M")->ToString()}));
}

TEST_F(SearchTest, ImpossibleConstraintIsAnImmediateError) {
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.constraints = {*ParseConstraint("flops<=5M")};
  auto result = RunSearch(space(), *evaluator_, o);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("flops<=5M cannot be met: the smallest flops in space 'nb201' is 7.783M"));
  o.constraints = {*ParseConstraint("params>=2M")};
  EXPECT_THAT(std::string(RunSearch(space(), *evaluator_, o).status().message()), HasSubstr("largest params"));
  o.constraints = {*ParseConstraint("flops<=50M"), *ParseConstraint("flops>=60M")};
  EXPECT_THAT(std::string(RunSearch(space(), *evaluator_, o).status().message()), HasSubstr("leave no room"));
}

TEST_F(SearchTest, SameSeedSameResult) {
  for (const std::string algorithm : {"random", "evolution", "aging", "nsga2"}) {
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.algorithm = algorithm;
    o.budget = 60;
    o.population = 20;
    o.parents = 5;
    o.seed = 11;
    auto a = RunSearch(space(), *evaluator_, o), b = RunSearch(space(), *evaluator_, o);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->history.size(), 60u) << algorithm;
    for (size_t i = 0; i < a->history.size(); ++i) EXPECT_EQ(a->history[i].arch, b->history[i].arch);
    o.seed = 12;
    auto c = RunSearch(space(), *evaluator_, o);
    EXPECT_NE(a->history.back().arch, c->history.back().arch) << algorithm;
    std::set<supernet::Architecture> distinct;
    for (const auto& e : a->history) distinct.insert(e.arch);
    EXPECT_EQ(distinct.size(), a->history.size()) << "an architecture was paid for twice";
  }
}

TEST_F(SearchTest, ConstraintsFilterEveryEvaluatedArchitecture) {
  for (const std::string algorithm : {"random", "evolution", "aging", "nsga2"}) {
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.algorithm = algorithm;
    o.budget = 80;
    o.constraints = {*ParseConstraint("flops<=60M"), *ParseConstraint("params>=0.2M")};
    auto r = RunSearch(space(), *evaluator_, o);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& e : r->history) {
      EXPECT_LE(e.cost.flops, 60e6) << algorithm;
      EXPECT_GE(e.cost.params, 0.2e6) << algorithm;
    }
  }
}

TEST_F(SearchTest, StopsWhenTheFeasibleSpaceIsExhausted) {
  // Under 8 MFLOPs only cells without convolutions fit: 3^6 = 729 architectures.
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.algorithm = "random";
  o.budget = 2000;
  o.constraints = {*ParseConstraint("flops<=8M")};
  o.skip_equivalent = false;
  auto r = RunSearch(space(), *evaluator_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->history.size(), 729u);
  // By default one per function: 291 classes of those 729 (counted independently, by
  // enumeration in Python).
  o.skip_equivalent = true;
  r = RunSearch(space(), *evaluator_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->history.size(), 291u);
}

TEST_F(SearchTest, EquivalentArchitecturesAreEvaluatedOnce) {
  // Under 30 MFLOPs many random cells differ only on edges no path uses. Every algorithm,
  // prescored entries included, evaluates one architecture per FunctionKey by default,
  // and spends the same budget; with skip_equivalent false equivalents do come back.
  Rng rng(5);
  std::vector<ScoredArchitecture> prescored;
  for (int i = 0; i < 40; ++i) {
    const supernet::Architecture a = space().Sample(rng);
    prescored.push_back({a, *evaluator_->Accuracy(a)});
  }
  for (const std::string algorithm : {"random", "evolution", "aging", "nsga2", "predictor"}) {
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.algorithm = algorithm;
    o.budget = 120;
    o.population = 20;
    o.parents = 5;
    o.batch = 20;
    o.candidates = 2000;
    o.seed = 3;
    o.constraints = {*ParseConstraint("flops<=30M")};
    o.prescored = prescored;
    auto distinct = RunSearch(space(), *evaluator_, o);
    ASSERT_TRUE(distinct.ok()) << distinct.status();
    std::set<supernet::Architecture> keys;
    for (const Evaluation& e : distinct->history) {
      EXPECT_TRUE(keys.insert(space().FunctionKey(e.arch)).second) << algorithm << ": " << space().Format(e.arch);
    }
    EXPECT_EQ(static_cast<int64_t>(distinct->history.size()) - distinct->prescored, 120) << algorithm;
    o.skip_equivalent = false;
    auto all = RunSearch(space(), *evaluator_, o);
    ASSERT_TRUE(all.ok()) << all.status();
    keys.clear();
    int repeats = 0;
    for (const Evaluation& e : all->history) repeats += keys.insert(space().FunctionKey(e.arch)).second ? 0 : 1;
    EXPECT_GT(repeats, 0) << algorithm;
  }
}

TEST_F(SearchTest, EvolutionBeatsRandomOnAverage) {
  double random_sum = 0, evolution_sum = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.budget = 100;
    o.seed = seed;
    o.population = 20;
    o.parents = 5;
    o.algorithm = "random";
    random_sum += RunSearch(space(), *evaluator_, o)->best.accuracy;
    o.algorithm = "evolution";
    evolution_sum += RunSearch(space(), *evaluator_, o)->best.accuracy;
  }
  EXPECT_GT(evolution_sum / 10, 93.5);
  EXPECT_GT(evolution_sum, random_sum);
}

TEST_F(SearchTest, PredictorGuidedSearchIsDeterministicAndFindsGoodCells) {
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.algorithm = "predictor";
  o.budget = 50;
  o.candidates = 3000;
  o.seed = 5;
  auto a = RunSearch(space(), *evaluator_, o), b = RunSearch(space(), *evaluator_, o);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status();
  ASSERT_EQ(a->history.size(), 50u);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(a->history[i].arch, b->history[i].arch);
  // Quality over 100 seeds is measured by bench/nb201_search_bench; here a sanity bound.
  EXPECT_GT(a->best.accuracy, 93.5);
  o.predictor = "forest";
  EXPECT_THAT(std::string(RunSearch(space(), *evaluator_, o).status().message()),
              HasSubstr("predictor: 'forest'"));
  // Without models linked in, the predictor algorithm is refused, not crashed.
  o.predictor = "ridge";
  o.make_surrogate = nullptr;
  EXPECT_THAT(std::string(RunSearch(space(), *evaluator_, o).status().message()), HasSubstr("make_surrogate"));
}

TEST_F(SearchTest, Nsga2FrontIsNonDominatedAndHypervolumeNeverFalls) {
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.algorithm = "nsga2";
  o.budget = 200;
  o.population = 20;
  o.seed = 4;
  auto r = RunSearch(space(), *evaluator_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->front.empty());
  for (int i : r->front) {
    for (const Evaluation& e : r->history) {
      const Evaluation& f = r->history[i];
      const bool dominated = e.accuracy >= f.accuracy && e.cost.flops <= f.cost.flops &&
                             (e.accuracy > f.accuracy || e.cost.flops < f.cost.flops);
      EXPECT_FALSE(dominated);
    }
  }
  ASSERT_EQ(r->hypervolume.size(), 10u);
  // The per-generation front is kept incrementally: each value equals the hypervolume of
  // the front of everything evaluated up to that generation.
  const MetricModel metrics(space());
  for (size_t g = 0; g < r->hypervolume.size(); ++g) {
    std::vector<Evaluation> upto;
    for (const Evaluation& e : r->history) {
      if (e.generation <= static_cast<int64_t>(g)) upto.push_back(e);
    }
    EXPECT_DOUBLE_EQ(r->hypervolume[g], FrontHypervolume(upto, r->y_objective, r->x_objective, metrics)) << g;
  }
  for (size_t g = 1; g < r->hypervolume.size(); ++g) EXPECT_GE(r->hypervolume[g], r->hypervolume[g - 1]);
  EXPECT_GT(r->hypervolume.back(), r->hypervolume.front());

  const std::string svg = PlotSearchSvg(*r, "nsga2 <nb201>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("nsga2 &lt;nb201&gt;"), std::string::npos);
  size_t circles = 0, front = 0;
  for (size_t pos = 0; (pos = svg.find("<circle", pos)) != std::string::npos; ++pos) ++circles;
  for (size_t pos = 0; (pos = svg.find("class=\"front\"", pos)) != std::string::npos; ++pos) ++front;
  EXPECT_EQ(circles, r->history.size() + r->front.size());
  EXPECT_EQ(front, r->front.size());
}

// Counts the evaluations actually paid for.
class CountingEvaluator : public AccuracyEvaluator {
 public:
  explicit CountingEvaluator(const AccuracyEvaluator& inner) : inner_(inner) {}
  std::string id() const override { return inner_.id(); }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override {
    ++calls;
    return inner_.Accuracy(arch);
  }
  mutable std::atomic<int> calls{0};

 private:
  const AccuracyEvaluator& inner_;
};

void ExpectSameHistory(const SearchResult& a, const SearchResult& b) {
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    EXPECT_EQ(a.history[i].arch, b.history[i].arch) << i;
    EXPECT_EQ(a.history[i].accuracy, b.history[i].accuracy) << i;
    EXPECT_EQ(a.history[i].generation, b.history[i].generation) << i;
  }
  EXPECT_EQ(a.best.arch, b.best.arch);
  EXPECT_EQ(a.front, b.front);
}

TEST_F(SearchTest, ArchiveMakesARepeatedSearchFree) {
  const std::string dir = nas::testing::FreshTempDir("archive");
  auto archive = EvaluationArchive::Open(dir + "/archive.sqlite");
  ASSERT_TRUE(archive.ok()) << archive.status();
  for (const std::string algorithm : {"evolution", "nsga2", "predictor"}) {
    CountingEvaluator counting(*evaluator_);
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.algorithm = algorithm;
    o.budget = 60;
    o.population = 20;
    o.candidates = 2000;
    o.seed = 3;
    o.archive = archive->get();
    auto first = RunSearch(MetricModel(space()), &counting, o);
    ASSERT_TRUE(first.ok()) << first.status();
    // Earlier algorithms share the random start (same seed): those come from the archive.
    EXPECT_EQ(first->paid + first->archive_hits, 60) << algorithm;
    EXPECT_EQ(counting.calls.load(), first->paid) << algorithm;
    auto second = RunSearch(MetricModel(space()), &counting, o);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->paid, 0) << algorithm;
    EXPECT_EQ(second->archive_hits, 60) << algorithm;
    EXPECT_EQ(counting.calls.load(), first->paid) << algorithm << ": the second search paid";
    ExpectSameHistory(*first, *second);
  }
  // Reopening the file (a new process) sees the same records.
  archive->reset();
  auto reopened = EvaluationArchive::Open(dir + "/archive.sqlite");
  ASSERT_TRUE(reopened.ok());
  EXPECT_GE(*(*reopened)->Count(evaluator_->id()), 60);
  EXPECT_EQ(*(*reopened)->Count("table:other"), 0);
  ASSERT_TRUE(WriteFileAtomically(dir + "/garbage.sqlite", std::string(4096, 'x')).ok());
  EXPECT_FALSE(EvaluationArchive::Open(dir + "/garbage.sqlite").ok());
}

// An evaluator that has already scored some architectures (as a combination has its
// reference sample): the table's values, and how many it was asked for.
class PrescoringEvaluator : public AccuracyEvaluator {
 public:
  PrescoringEvaluator(const AccuracyEvaluator* table, std::vector<ScoredArchitecture> pre)
      : table_(table), pre_(std::move(pre)) {}
  std::string id() const override { return "prescoring"; }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override {
    ++calls;
    return table_->Accuracy(arch);
  }
  std::vector<ScoredArchitecture> Prescored() const override { return pre_; }
  mutable std::atomic<int> calls{0};

 private:
  const AccuracyEvaluator* table_;
  std::vector<ScoredArchitecture> pre_;
};

TEST_F(SearchTest, PrescoredEvaluationsAreFreeAndOutsideTheBudget) {
  const supernet::Architecture best_cell =
      *space().Parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  const supernet::Architecture small_cell =
      *space().Parse("|skip_connect~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|skip_connect~2|");
  Rng rng(3);
  std::vector<ScoredArchitecture> pre = {{best_cell, *evaluator_->Accuracy(best_cell)},
                                         {small_cell, *evaluator_->Accuracy(small_cell)}};
  for (int i = 0; i < 18; ++i) {
    const supernet::Architecture a = space().Sample(rng);
    pre.push_back({a, *evaluator_->Accuracy(a)});
  }
  for (const std::string algorithm : {"random", "evolution", "aging", "nsga2", "predictor"}) {
    PrescoringEvaluator evaluator(evaluator_, pre);
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.algorithm = algorithm;
    o.budget = 25;
    o.population = 10;
    o.candidates = 500;
    o.seed = 5;
    o.archive = nullptr;
    o.prescored = evaluator.Prescored();
    GenerationProgress last;
    o.on_generation = [&last](const GenerationProgress& g) { last = g; };
    auto r = RunSearch(space(), evaluator, o);
    ASSERT_TRUE(r.ok()) << algorithm << ": " << r.status();
    std::set<supernet::Architecture> distinct;
    for (const auto& e : r->history) distinct.insert(e.arch);
    EXPECT_EQ(distinct.size(), r->history.size()) << algorithm;
    // The 20 prescored first, in generation 0, then the 25 paid ones.
    EXPECT_EQ(r->prescored, 20) << algorithm;
    ASSERT_EQ(r->history.size(), 45u) << algorithm;
    EXPECT_EQ(evaluator.calls.load(), 25) << algorithm << ": a prescored architecture was evaluated again";
    EXPECT_EQ(r->paid, 25) << algorithm;
    EXPECT_EQ(last.evaluated, 25) << algorithm;  // Progress counts the budget's evaluations,
    EXPECT_EQ(last.prescored, 20) << algorithm;  // and the free ones apart.
    for (int i = 0; i < 20; ++i) {
      EXPECT_TRUE(r->history[i].prescored) << algorithm << " " << i;
      EXPECT_EQ(r->history[i].generation, 0) << algorithm;
      EXPECT_EQ(r->history[i].arch, pre[i].arch) << algorithm;
      EXPECT_EQ(r->history[i].accuracy, pre[i].accuracy) << algorithm;
      EXPECT_EQ(r->history[i].seconds, 0) << algorithm;
    }
    EXPECT_FALSE(r->history[20].prescored) << algorithm;
    EXPECT_GE(r->best.accuracy, pre[0].accuracy) << algorithm;  // A prescored cell of 94.37 %.
  }
  // Infeasible prescored architectures are left out; an invalid one is an error.
  PrescoringEvaluator evaluator(evaluator_, pre);
  SearchOptions o;
  o.budget = 5;
  o.population = 5;
  o.constraints = {*ParseConstraint("flops<=50M")};
  o.prescored = pre;
  auto r = RunSearch(space(), evaluator, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->prescored, 0);
  EXPECT_LT(r->prescored, 20);
  for (const auto& e : r->history) EXPECT_LE(e.cost.flops, 50'000'000) << space().Format(e.arch);
  EXPECT_EQ(static_cast<int64_t>(r->history.size()), r->prescored + 5);
  o.prescored = {{supernet::Architecture{{0, 1}}, 50}};
  auto invalid = RunSearch(space(), evaluator, o);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr("prescored[0]"));
}

TEST_F(SearchTest, InitialArchitecturesAreEvaluatedFirstAndCount) {
  const supernet::Architecture best_cell =
      *space().Parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  const supernet::Architecture small_cell =
      *space().Parse("|skip_connect~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|skip_connect~2|");
  for (const std::string algorithm : {"random", "evolution", "aging", "nsga2", "predictor"}) {
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.algorithm = algorithm;
    o.budget = 30;
    o.population = 10;
    o.candidates = 500;
    o.seed = 5;
    o.initial_archs = {small_cell, best_cell};
    auto r = RunSearch(space(), *evaluator_, o);
    ASSERT_TRUE(r.ok()) << algorithm << ": " << r.status();
    ASSERT_EQ(r->history.size(), 30u) << algorithm;
    EXPECT_EQ(r->history[0].arch, small_cell) << algorithm;
    EXPECT_EQ(r->history[1].arch, best_cell) << algorithm;
    EXPECT_EQ(r->history[1].generation, 0) << algorithm;
    EXPECT_EQ(r->history[1].accuracy, *evaluator_->Accuracy(best_cell));
    EXPECT_GE(r->best.accuracy, r->history[1].accuracy) << algorithm;
    std::set<supernet::Architecture> distinct;
    for (const auto& e : r->history) distinct.insert(e.arch);
    EXPECT_EQ(distinct.size(), r->history.size()) << algorithm << ": an initial architecture was paid twice";
  }
  SearchOptions o;
  o.budget = 1;
  o.initial_archs = {small_cell, best_cell};
  EXPECT_THAT(std::string(RunSearch(space(), *evaluator_, o).status().message()),
              HasSubstr("initial_archs[1] (|nor_conv_3x3~0|"));
  o.budget = 10;
  o.initial_archs = {best_cell, best_cell};
  EXPECT_THAT(std::string(RunSearch(space(), *evaluator_, o).status().message()),
              HasSubstr("initial_archs[1] (|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                        "nor_conv_3x3~1|nor_conv_3x3~2|): given twice"));
  o.initial_archs = {small_cell, best_cell};
  o.constraints = {*ParseConstraint("flops<=50M")};
  auto infeasible = RunSearch(space(), *evaluator_, o);
  EXPECT_EQ(infeasible.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(infeasible.status().message()), HasSubstr("initial_archs[1]"));
  EXPECT_THAT(std::string(infeasible.status().message()), HasSubstr("violates the constraints"));
}

// The table's accuracy plus a fixed pseudo-random error of up to +-4 points per
// architecture: a small-sample estimate.
class NoisyEvaluator : public AccuracyEvaluator {
 public:
  explicit NoisyEvaluator(const AccuracyEvaluator& inner) : inner_(inner) {}
  std::string id() const override { return "noisy:" + inner_.id(); }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override {
    absl::StatusOr<double> a = inner_.Accuracy(arch);
    if (!a.ok()) return a;
    const size_t h = supernet::ArchitectureHash()(arch) * 0x9e3779b97f4a7c15ULL;
    return *a + 8.0 * (static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53) - 0.5);
  }

 private:
  const AccuracyEvaluator& inner_;
};

TEST_F(SearchTest, RerankingPicksTheBestOfTheTopByThePreciseEvaluator) {
  const NoisyEvaluator noisy(*evaluator_);
  CountingEvaluator precise(*evaluator_);
  const std::string dir = nas::testing::FreshTempDir("rerank");
  auto archive = EvaluationArchive::Open(dir + "/archive.sqlite");
  ASSERT_TRUE(archive.ok()) << archive.status();
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.budget = 60;
  o.population = 20;
  o.seed = 2;
  o.archive = archive->get();
  auto plain = RunSearch(MetricModel(space()), &noisy, o);
  ASSERT_TRUE(plain.ok()) << plain.status();
  o.rerank_top = 5;
  o.rerank_evaluator = &precise;
  auto reranked = RunSearch(MetricModel(space()), &noisy, o);
  ASSERT_TRUE(reranked.ok()) << reranked.status();
  EXPECT_EQ(reranked->paid, 0);  // The search itself came from the archive; only re-ranking paid.
  EXPECT_EQ(precise.calls.load(), 5);
  // The top 5 by the noisy value, re-evaluated; the best is the most accurate of them.
  std::vector<Evaluation> ranked = reranked->history;
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const Evaluation& a, const Evaluation& b) { return a.accuracy > b.accuracy; });
  double best_true = -1;
  for (size_t i = 0; i < ranked.size(); ++i) {
    EXPECT_EQ(std::isnan(ranked[i].rerank_accuracy), i >= 5) << i;
    if (i < 5) {
      EXPECT_EQ(ranked[i].rerank_accuracy, *evaluator_->Accuracy(ranked[i].arch));
      best_true = std::max(best_true, ranked[i].rerank_accuracy);
    }
  }
  EXPECT_EQ(plain->best.arch, ranked[0].arch);
  EXPECT_EQ(reranked->best.rerank_accuracy, best_true);
  EXPECT_GE(*evaluator_->Accuracy(reranked->best.arch), *evaluator_->Accuracy(plain->best.arch));
  // A repeat takes the re-ranking from the archive too.
  auto again = RunSearch(MetricModel(space()), &noisy, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(precise.calls.load(), 5);
  EXPECT_EQ(again->best.arch, reranked->best.arch);

  o.objectives = {*ParseObjective("flops")};
  EXPECT_THAT(std::string(RunSearch(MetricModel(space()), &noisy, o).status().message()),
              HasSubstr("rerank_top: re-ranks by accuracy, but the first objective is"));
  o.objectives = {*ParseObjective("accuracy")};
  o.rerank_evaluator = nullptr;
  EXPECT_EQ(RunSearch(MetricModel(space()), &noisy, o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SearchTest, InterruptedSearchResumedEqualsUninterrupted) {
  for (const std::string algorithm : {"evolution", "aging", "nsga2", "predictor"}) {
    const std::string dir = nas::testing::FreshTempDir("resume_" + algorithm);
    SearchOptions o;
    o.make_surrogate = TorchSurrogates();
    o.algorithm = algorithm;
    o.budget = 80;
    o.population = 20;
    o.candidates = 2000;
    o.seed = 21;
    o.constraints = {*ParseConstraint("flops<=120M")};
    auto reference = RunSearch(space(), *evaluator_, o);
    ASSERT_TRUE(reference.ok()) << reference.status();

    auto archive = EvaluationArchive::Open(dir + "/archive.sqlite");
    ASSERT_TRUE(archive.ok());
    o.archive = archive->get();
    int generations = 0;
    o.should_stop = [&] { return ++generations == 3; };  // "Crash" after three generations.
    CountingEvaluator counting(*evaluator_);
    auto interrupted = RunSearch(MetricModel(space()), &counting, o);
    ASSERT_TRUE(interrupted.ok());
    EXPECT_TRUE(interrupted->stopped);
    const int paid_before = counting.calls.load();
    ASSERT_LT(interrupted->history.size(), reference->history.size()) << algorithm;

    o.should_stop = nullptr;
    auto resumed = RunSearch(MetricModel(space()), &counting, o);
    ASSERT_TRUE(resumed.ok());
    EXPECT_FALSE(resumed->stopped);
    ExpectSameHistory(*reference, *resumed);
    EXPECT_EQ(resumed->archive_hits, static_cast<int64_t>(interrupted->history.size())) << algorithm;
    EXPECT_EQ(counting.calls.load() - paid_before, static_cast<int>(reference->history.size() - interrupted->history.size()))
        << algorithm << ": finished generations were paid for again";
  }
}

TEST(LatencyTest, LatencyTableConstrainsAndDrivesASearch) {
  auto space = *supernet::LoadSearchSpace("configs/mbv2_macro.yaml");
  const std::string dir = nas::testing::FreshTempDir("latency");
  // A synthetic two-device table over 300 random architectures: latency grows with FLOPs
  // on "cpu" and is the reverse on "npu".
  std::string csv = "arch,cpu,npu\n";
  Rng rng(5);
  std::set<supernet::Architecture> archs;
  while (archs.size() < 300) archs.insert(space->Sample(rng));
  for (const auto& a : archs) {
    const double mflops = space->Cost(a).flops / 1e6;
    absl::StrAppend(&csv, space->Format(a), ",", mflops / 10, ",", 100 - mflops / 10, "\n");
  }
  ASSERT_TRUE(WriteFileAtomically(dir + "/lat.csv", csv).ok());
  auto table = LatencyTable::Load(*space, dir + "/lat.csv");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->devices(), (std::vector<std::string>{"cpu", "npu"}));
  const MetricModel metrics(*space, table->get());
  const auto range = *metrics.Range("latency@cpu");
  EXPECT_LT(range.min, range.max);

  SearchOptions o;

  o.make_surrogate = TorchSurrogates();
  o.algorithm = "evolution";
  o.budget = 40;
  o.population = 10;
  o.objectives = {*ParseObjective("latency@npu")};  // Cost-only search: minimize npu latency.
  const double bound = (range.min + range.max) / 2;
  o.constraints = {*ParseConstraint(absl::StrCat("latency@cpu<=", bound, "ms"))};
  auto r = RunSearch(metrics, nullptr, o);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const Evaluation& e : r->history) {
    ASSERT_EQ(e.latency_ms.count("cpu"), 1u);  // Only architectures in the table are feasible.
    EXPECT_LE(e.latency_ms.at("cpu"), bound);
    EXPECT_TRUE(std::isnan(e.accuracy));
    EXPECT_GE(e.latency_ms.at("npu"), r->best.latency_ms.at("npu"));
  }
  EXPECT_EQ(r->x_objective.metric, "flops");
  EXPECT_NE(PlotSearchSvg(*r, "latency").find("latency@npu (ms)"), std::string::npos);
  // The constrained metric gets its own plot and front below the first; the objective's
  // own device does not (it is the y axis), nor does flops again.
  ASSERT_EQ(r->more_axes.size(), 1u);
  EXPECT_EQ(r->more_axes[0].metric, "latency@cpu");
  {
    const std::string svg = PlotSearchSvg(*r, "latency");
    size_t panels = 0, circles = 0, front = 0;
    for (size_t pos = 0; (pos = svg.find("<g transform", pos)) != std::string::npos; ++pos) ++panels;
    for (size_t pos = 0; (pos = svg.find("<circle", pos)) != std::string::npos; ++pos) ++circles;
    for (size_t pos = 0; (pos = svg.find("class=\"front\"", pos)) != std::string::npos; ++pos) ++front;
    EXPECT_EQ(panels, 2u);
    EXPECT_NE(svg.find("latency@npu (ms) against latency@cpu (ms)"), std::string::npos);
    const size_t cpu_front = ParetoFront(r->history, r->y_objective, r->more_axes[0]).size();
    EXPECT_EQ(front, r->front.size() + cpu_front);
    EXPECT_EQ(circles, 2 * r->history.size() + front);
  }

  // Impossible, unknown and unavailable latency bounds are immediate errors.
  o.constraints = {*ParseConstraint(absl::StrCat("latency@cpu<=", range.min / 2))};
  EXPECT_THAT(std::string(RunSearch(metrics, nullptr, o).status().message()),
              HasSubstr("the smallest latency@cpu in space 'mbv2_macro' is"));
  o.constraints = {*ParseConstraint("latency@gpu<=5ms")};
  EXPECT_THAT(std::string(RunSearch(metrics, nullptr, o).status().message()), HasSubstr("device 'gpu' is not in"));
  o.constraints = {*ParseConstraint("latency@cpu<=5ms")};
  EXPECT_THAT(std::string(RunSearch(MetricModel(*space), nullptr, o).status().message()),
              HasSubstr("needs a latency model"));
  o.constraints.clear();
  o.objectives = {*ParseObjective("accuracy")};
  EXPECT_THAT(std::string(RunSearch(metrics, nullptr, o).status().message()), HasSubstr("has no accuracy"));
  EXPECT_FALSE(ParseObjective("speed").ok());
  EXPECT_TRUE(ParseObjective("max:flops")->maximize);
  EXPECT_FALSE(ParseObjective("params")->maximize);
  ASSERT_TRUE(WriteFileAtomically(dir + "/bad.csv", "arch,cpu\n0,1,2,0,1,2,0,1,-3\n").ok());
  EXPECT_THAT(std::string(LatencyTable::Load(*space, dir + "/bad.csv").status().message()),
              HasSubstr("latency must be positive"));
}

TEST_F(SearchTest, RepeatedConstraintsGiveTheSameSearchAsOne) {
  // 100,000 copies of one bound (a request the server once spent 100 s per search on)
  // search exactly as the single bound does.
  SearchOptions one;
  one.budget = 60;
  one.population = 20;
  one.constraints = {*ParseConstraint("flops<=40M")};
  SearchOptions many = one;
  many.constraints.assign(100000, one.constraints[0]);
  auto a = RunSearch(space(), *evaluator_, one);
  auto b = RunSearch(space(), *evaluator_, many);
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectSameHistory(*a, *b);
}

TEST_F(SearchTest, LongCostOnlyNsga2StaysLinear) {
  // Thousands of cost-only evaluations of NSGA-II over the MobileNetV2 macro space (it
  // stops when variation finds nothing new, after about 6,500): the front and the
  // per-generation hypervolume come from the last front, not the whole history (which
  // took memory and time quadratic in the budget).
  auto mbv2 = supernet::LoadSearchSpace("configs/mbv2_macro.yaml");
  ASSERT_TRUE(mbv2.ok()) << mbv2.status();
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.algorithm = "nsga2";
  o.budget = 40000;
  o.population = 100;
  o.objectives = {*ParseObjective("max:flops"), *ParseObjective("min:params")};
  auto r = RunSearch(MetricModel(**mbv2), nullptr, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->history.size(), 5000u);
  EXPECT_EQ(r->hypervolume.size(), static_cast<size_t>(r->history.back().generation + 1));
  for (size_t g = 1; g < r->hypervolume.size(); ++g) EXPECT_GE(r->hypervolume[g], r->hypervolume[g - 1]);
}

TEST_F(SearchTest, CostEvaluatorFindsTheLargestNetworkUnderABound) {
  // Maximize FLOPs under flops<=60M: the best is feasible and close to the bound.
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.algorithm = "evolution";
  o.budget = 200;
  o.population = 20;
  o.objectives = {*ParseObjective("max:flops")};
  o.constraints = {*ParseConstraint("flops<=60M")};
  auto r = RunSearch(MetricModel(space()), nullptr, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LE(r->best.cost.flops, 60e6);
  EXPECT_GT(r->best.cost.flops, 55e6);
}

}  // namespace
}  // namespace nas::search
