// Label-free combinations (reference-sample percentiles) and the zc:/combo: spec parser.
#include "search/combined_evaluator.h"

#include <atomic>
#include <cmath>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "search/evaluator_spec.h"
#include "supernet/random.h"
#include "supernet/search_space.h"

namespace nas::search {
namespace {

std::shared_ptr<const supernet::SearchSpace> Nb201() {
  auto space = supernet::LoadSearchSpace("configs/nb201.yaml");
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

TEST(CombinedEvaluatorTest, PercentileIsTheInterpolatedMidRank) {
  const std::vector<double> ref = {1, 2, 2, 4};
  EXPECT_DOUBLE_EQ(CombinedEvaluator::Percentile(ref, 1), 0.5 / 4);
  EXPECT_DOUBLE_EQ(CombinedEvaluator::Percentile(ref, 2), 2.0 / 4);  // Ties share ranks 1 and 2.
  EXPECT_DOUBLE_EQ(CombinedEvaluator::Percentile(ref, 3), 3.0 / 4);  // Halfway between 2 (at 2.5) and 4 (at 3.5).
  EXPECT_DOUBLE_EQ(CombinedEvaluator::Percentile(ref, 4), 3.5 / 4);
  EXPECT_LT(CombinedEvaluator::Percentile(ref, 0), 0.5 / 4);
  EXPECT_GT(CombinedEvaluator::Percentile(ref, 9), 3.5 / 4);
  EXPECT_LT(CombinedEvaluator::Percentile(ref, 1.5), CombinedEvaluator::Percentile(ref, 1.9));
  // Past the extremes: continuous at them, still increasing, inside (0, 1). The upper tail
  // scale is the mean of the last 3 spacings, (4 - 1) / 3 = 1: at 4 + 1 the outer
  // half-step 0.5 / 4 has shrunk by e.
  EXPECT_NEAR(CombinedEvaluator::Percentile(ref, 4 + 1e-9), 3.5 / 4, 1e-9);
  EXPECT_NEAR(CombinedEvaluator::Percentile(ref, 5), 1 - 0.5 / 4 * std::exp(-1.0), 1e-12);
  EXPECT_LT(CombinedEvaluator::Percentile(ref, 5), CombinedEvaluator::Percentile(ref, 9));
  EXPECT_LT(CombinedEvaluator::Percentile(ref, 9), 1.0);
  EXPECT_NEAR(CombinedEvaluator::Percentile(ref, 1 - 1e-9), 0.5 / 4, 1e-9);
  EXPECT_NEAR(CombinedEvaluator::Percentile(ref, 0), 0.5 / 4 * std::exp(-1.0), 1e-12);  // Lower scale (4 - 1) / 3.
  EXPECT_LT(CombinedEvaluator::Percentile(ref, -5), CombinedEvaluator::Percentile(ref, 0));
  EXPECT_GT(CombinedEvaluator::Percentile(ref, -5), 0.0);
  const std::vector<double> flat = {2, 2};  // No spread at all: still ordered.
  EXPECT_LT(CombinedEvaluator::Percentile(flat, 3), CombinedEvaluator::Percentile(flat, 4));
  EXPECT_GT(CombinedEvaluator::Percentile(flat, 3), 0.75);
}

TEST(CombinedEvaluatorTest, WeightedMeanPercentileOfTheComponents) {
  auto space = Nb201();
  // Two hand-made signals: FLOPs, and minus the number of `none` edges.
  ScoreComponent flops{"flops", 3, [space](const supernet::Architecture& a) -> absl::StatusOr<double> {
                         return static_cast<double>(space->Cost(a).flops);
                       }};
  ScoreComponent nones{"nones", 1, [](const supernet::Architecture& a) -> absl::StatusOr<double> {
                         double n = 0;
                         for (int g : a.genes) n -= g == 0;
                         return n;
                       }};
  auto e = CombinedEvaluator::Create(space, {flops, nones}, 50, 1, "test");
  ASSERT_TRUE(e.ok()) << e.status();
  const supernet::Architecture largest = space->MaxFlops().arch, smallest = space->MinFlops().arch;
  absl::StatusOr<double> hi = (*e)->Accuracy(largest), lo = (*e)->Accuracy(smallest);
  ASSERT_TRUE(hi.ok() && lo.ok());
  EXPECT_GT(*hi, 90);
  EXPECT_LT(*lo, 10);
  // The value is exactly the weighted mean of the two percentiles, in percent.
  absl::StatusOr<std::vector<double>> raw = (*e)->RawScores(largest);
  ASSERT_TRUE(raw.ok());
  EXPECT_DOUBLE_EQ((*e)->Combine(*raw), *hi);
  // Same seed, same reference: same values (reproducible, archivable).
  auto again = CombinedEvaluator::Create(space, {flops, nones}, 50, 1, "test");
  ASSERT_TRUE(again.ok());
  Rng rng(2);
  for (int i = 0; i < 20; ++i) {
    const supernet::Architecture a = space->Sample(rng);
    EXPECT_EQ(*(*e)->Accuracy(a), *(*again)->Accuracy(a));
  }
}

TEST(CombinedEvaluatorTest, PrescoredIsTheReferenceSampleWithItsValues) {
  auto space = Nb201();
  std::atomic<int> calls{0};
  ScoreComponent flops{"flops", 2, [space, &calls](const supernet::Architecture& a) -> absl::StatusOr<double> {
                         ++calls;
                         return static_cast<double>(space->Cost(a).flops);
                       }};
  ScoreComponent params{"params", 1, [space](const supernet::Architecture& a) -> absl::StatusOr<double> {
                          return -static_cast<double>(space->Cost(a).params);
                        }};
  auto e = CombinedEvaluator::Create(space, {flops, params}, 30, 6, "test");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(calls.load(), 30);
  const std::vector<ScoredArchitecture> pre = (*e)->Prescored();
  ASSERT_EQ(pre.size(), 30u);  // 15,625 cells: 30 distinct draws.
  std::set<supernet::Architecture> distinct;
  for (const ScoredArchitecture& p : pre) {
    distinct.insert(p.arch);
    EXPECT_DOUBLE_EQ(p.accuracy, *(*e)->Accuracy(p.arch)) << space->Format(p.arch);
  }
  EXPECT_EQ(distinct.size(), pre.size());
  // Over the reference sample the value is the weighted rank average: its mean is 50.
  double sum = 0;
  for (const ScoredArchitecture& p : pre) sum += p.accuracy;
  EXPECT_NEAR(sum / pre.size(), 50.0, 1e-9);
  // A refined evaluator has scored nothing itself.
  auto refined = (*e)->WithComponents({flops, params}, "refined");
  ASSERT_TRUE(refined.ok());
  EXPECT_TRUE((*refined)->Prescored().empty());
}

TEST(CombinedEvaluatorTest, RefinedComponentsKeepTheReferenceScores) {
  auto space = Nb201();
  std::atomic<int> calls{0};
  ScoreComponent flops{"flops", 1, [space, &calls](const supernet::Architecture& a) -> absl::StatusOr<double> {
                         ++calls;
                         return static_cast<double>(space->Cost(a).flops);
                       }};
  auto e = CombinedEvaluator::Create(space, {flops}, 20, 3, "test");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(calls.load(), 20);
  // The same signal "measured more precisely": here shifted by one FLOP, which moves a
  // value between reference scores but keeps the scale: percentiles among the same 20.
  ScoreComponent shifted{"flops", 1, [space](const supernet::Architecture& a) -> absl::StatusOr<double> {
                           return static_cast<double>(space->Cost(a).flops) + 1;
                         }};
  auto refined = (*e)->WithComponents({shifted}, "test-refined");
  ASSERT_TRUE(refined.ok()) << refined.status();
  EXPECT_EQ(calls.load(), 20);  // No reference sample scored again.
  EXPECT_EQ((*refined)->id(), "test-refined");
  Rng rng(4);
  for (int i = 0; i < 10; ++i) {
    const supernet::Architecture a = space->Sample(rng);
    const double flops_a = static_cast<double>(space->Cost(a).flops);
    EXPECT_DOUBLE_EQ(*(*refined)->Accuracy(a), (*e)->Combine({flops_a + 1})) << i;
    EXPECT_GE(*(*refined)->Accuracy(a), *(*e)->Accuracy(a)) << i;
  }
  EXPECT_FALSE((*e)->WithComponents({shifted, shifted}, "x").ok());
}

TEST(CombinedEvaluatorTest, ComponentErrorsNameTheComponent) {
  auto space = Nb201();
  ScoreComponent broken{"broken", 1, [](const supernet::Architecture&) -> absl::StatusOr<double> {
                          return absl::InternalError("no signal");
                        }};
  auto e = CombinedEvaluator::Create(space, {broken}, 10, 0, "test");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("broken"), std::string::npos);
  EXPECT_FALSE(CombinedEvaluator::Create(space, {}, 10, 0, "test").ok());
  ScoreComponent zero_weight{"w", 0, [](const supernet::Architecture&) -> absl::StatusOr<double> { return 1.0; }};
  EXPECT_FALSE(CombinedEvaluator::Create(space, {zero_weight}, 10, 0, "test").ok());
}

TEST(CombinedEvaluatorTest, ReportsProgressAndStopsWhenAsked) {
  auto space = Nb201();
  std::atomic<int> calls{0};
  ScoreComponent flops{"flops", 1, [space, &calls](const supernet::Architecture& a) -> absl::StatusOr<double> {
                         ++calls;
                         return static_cast<double>(space->Cost(a).flops);
                       }};
  std::vector<int> reported;
  auto e = CombinedEvaluator::Create(space, {flops}, 12, 3, "test", nullptr, [&](int scored, int total) {
    EXPECT_EQ(total, 12);
    reported.push_back(scored);
  });
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(reported.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(reported[i], i + 1);
  // A stop request after 5 architectures: the rest are not scored and Create fails.
  calls = 0;
  auto stopped = CombinedEvaluator::Create(space, {flops}, 40, 3, "test", [&calls] { return calls.load() >= 5; });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled);
  EXPECT_NE(stopped.status().message().find("reference sample"), std::string::npos);
  EXPECT_LT(calls.load(), 40);
}

TEST(EvaluatorSpecTest, ParsesAndFormatsCombinations) {
  auto spec = ParseEvaluatorSpec("combo:supernet:runs/a.nasckpt*2+zc:naswot+zc:synflow:cfg.yaml+flops+ref=64", "--evaluator");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->items.size(), 4u);
  EXPECT_EQ(spec->items[0].kind, EvaluatorItem::Kind::kSupernet);
  EXPECT_EQ(spec->items[0].path, "runs/a.nasckpt");
  EXPECT_EQ(spec->items[0].weight, 2);
  EXPECT_EQ(spec->items[1].proxy, "naswot");
  EXPECT_EQ(spec->items[1].path, "");
  EXPECT_EQ(spec->items[2].path, "cfg.yaml");
  EXPECT_EQ(spec->items[3].kind, EvaluatorItem::Kind::kFlops);
  EXPECT_EQ(spec->reference, 64);
  EXPECT_EQ(spec->Format(), "combo:supernet:runs/a.nasckpt*2+zc:naswot+zc:synflow:cfg.yaml+flops+ref=64");
  auto deep = ParseEvaluatorSpec("combo:supernet_loss:a.nasckpt*2+supernet_loss@2:a.nasckpt+supernet@5:b", "--evaluator");
  ASSERT_TRUE(deep.ok()) << deep.status();
  EXPECT_EQ(deep->items[0].cells_per_stage, 0);
  EXPECT_EQ(deep->items[1].kind, EvaluatorItem::Kind::kSupernetLoss);
  EXPECT_EQ(deep->items[1].cells_per_stage, 2);
  EXPECT_EQ(deep->items[1].path, "a.nasckpt");
  EXPECT_EQ(deep->items[2].kind, EvaluatorItem::Kind::kSupernet);
  EXPECT_EQ(deep->items[2].cells_per_stage, 5);
  EXPECT_EQ(deep->Format(), "combo:supernet_loss:a.nasckpt*2+supernet_loss@2:a.nasckpt+supernet@5:b");
  auto zc = ParseEvaluatorSpec("zc:snip:configs/x.yaml", "--evaluator");
  ASSERT_TRUE(zc.ok());
  EXPECT_EQ(zc->Format(), "zc:snip:configs/x.yaml");
}

TEST(EvaluatorSpecTest, BadSpecsNameTheItem) {
  for (const auto& [spec, needle] : std::vector<std::pair<std::string, std::string>>{
           {"zc:fisher:c.yaml", "fisher"},
           {"zc:naswot", "needs a training config"},
           {"combo:zc:naswot+flops", "needs :CONFIG"},
           {"combo:flops+params", "at least one supernet or zc item"},
           {"combo:supernet:a*0", "weight"},
           {"combo:supernet:a+ref=1", "ref="},
           {"combo:supernet:a+bogus", "item 'bogus'"},
           {"combo:supernet:", "checkpoint path"},
           {"combo:supernet_loss@2", "checkpoint path"},
           {"combo:supernet_loss@0:a", "'@0' must give the cells per stage"},
           {"combo:supernet@x:a", "'@x'"}}) {
    auto parsed = ParseEvaluatorSpec(spec, "spec.evaluator");
    ASSERT_FALSE(parsed.ok()) << spec;
    EXPECT_NE(parsed.status().message().find(needle), std::string::npos) << parsed.status();
    EXPECT_EQ(parsed.status().message().rfind("spec.evaluator", 0), 0u) << parsed.status();
  }
}

}  // namespace
}  // namespace nas::search
