#include "search/latency_predictor.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "search/algorithms.h"
#include "search/constraints.h"
#include "search/predictor.h"
#include "supernet/file_util.h"
#include "supernet/random.h"
#include "tests/test_paths.h"

namespace nas::search {
namespace {

using ::testing::HasSubstr;

constexpr char kTiny[] = R"(name: tiny_latency
type: shufflenet_oneshot
input: {size: 16, channels: 3}
num_classes: 5
stem: {channels: 8, kernel_size: 3, stride: 1}
stages:
  - {layers: 2, channels: 16, stride: 2}
  - {layers: 2, channels: 32, stride: 2}
head: {channels: 64}
channel_scales: [0.5, 1.0]
)";

std::shared_ptr<const supernet::SearchSpace> Tiny() {
  auto space = supernet::ParseSearchSpace(kTiny, "tiny_latency.yaml");
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

// Timing statistics all equal to `ms`.
kernels::TimingStats Stats(double ms) {
  kernels::TimingStats s;
  s.median_ms = s.p10_ms = s.mean_ms = s.min_ms = s.max_ms = ms;
  s.count = 3;
  return s;
}

// A table with every block and choice of `space`, random figures in [0.1, 1.1) ms.
supernet::LatencyLut SyntheticLut(const supernet::SearchSpace& space, uint64_t seed) {
  Rng rng(seed);
  supernet::LatencyLut lut;
  lut.space_name = space.name();
  lut.space_source = space.source();
  lut.input_size = space.input_size();
  lut.machine = kernels::DescribeMachine();
  lut.runs = 3;
  lut.created = "2026-11-29T00:00:00Z";
  supernet::LatencyBatchTable table;
  supernet::Architecture arch;
  arch.genes.assign(space.genes().size(), 0);
  for (const supernet::PlanBlock& b : space.BuildPlan(arch).blocks) {
    if (b.group < 0) {
      table.entries.push_back({b.name, "", Stats(0.1 + rng.Uniform01())});
      continue;
    }
    std::vector<int> genes;
    for (size_t g = 0; g < space.genes().size(); ++g) {
      if (space.genes()[g].group == b.group) genes.push_back(static_cast<int>(g));
    }
    // Every combination of the group's (two) genes.
    for (size_t a = 0; a < space.genes()[genes[0]].options.size(); ++a) {
      for (size_t c = 0; c < space.genes()[genes[1]].options.size(); ++c) {
        arch.genes[genes[0]] = static_cast<int>(a);
        arch.genes[genes[1]] = static_cast<int>(c);
        table.entries.push_back({b.name, supernet::GroupChoice(space, arch, b.group),
                                 Stats(0.1 + rng.Uniform01())});
      }
    }
  }
  lut.tables.push_back(table);
  return lut;
}

TEST(LatencyLutTest, RoundTripAndSum) {
  auto space = Tiny();
  const supernet::LatencyLut lut = SyntheticLut(*space, 1);
  const std::string path = nas::testing::FreshTempDir("lut") + "/lut.json";
  ASSERT_TRUE(supernet::SaveLatencyLut(lut, path).ok());
  auto loaded = supernet::LoadLatencyLut(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(supernet::LatencyLutToJson(*loaded), supernet::LatencyLutToJson(lut));

  auto model = LutLatencyModel::Load(*space, path);
  ASSERT_TRUE(model.ok()) << model.status();
  // The sum is the stem + each layer's entry + head.
  Rng rng(3);
  const supernet::Architecture arch = space->Sample(rng);
  double expected = 0;
  for (const supernet::LatencyEntry& e : lut.tables[0].entries) {
    if (e.block == "stem" || e.block == "head") expected += e.stats.median_ms;
    for (int l = 0; l < 4; ++l) {
      if (e.block == absl::StrCat("layers[", l, "]") &&
          e.choice == supernet::GroupChoice(*space, arch, l)) {
        expected += e.stats.median_ms;
      }
    }
  }
  EXPECT_NEAR((*model)->TableSumMs(arch), expected, 1e-12);
  EXPECT_NEAR(*(*model)->LatencyMs(arch, "cpu"), expected, 1e-12);  // No correction yet.
  EXPECT_THAT(std::string((*model)->LatencyMs(arch, "gpu").status().message()),
              HasSubstr("unknown device 'gpu'"));
}

TEST(LatencyLutTest, BadTablesNameTheProblem) {
  auto space = Tiny();
  const std::string dir = nas::testing::FreshTempDir("lut_bad");
  supernet::LatencyLut lut = SyntheticLut(*space, 1);
  lut.tables[0].entries.erase(lut.tables[0].entries.begin() + 3);
  const std::string missing = lut.tables[0].entries[3 - 1].block;
  auto model = LutLatencyModel::Create(*space, lut, "t.json");
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("no entry for block layers[0]"));

  lut = SyntheticLut(*space, 1);
  lut.space_name = "other";
  EXPECT_THAT(std::string(LutLatencyModel::Create(*space, lut, "t.json").status().message()),
              HasSubstr("measured for space other, not tiny_latency"));

  nlohmann::json json = supernet::LatencyLutToJson(SyntheticLut(*space, 1));
  json["tables"][0]["entries"][2]["median_ms"] = -1;
  EXPECT_THAT(std::string(supernet::LatencyLutFromJson(json, "t.json").status().message()),
              HasSubstr("tables[0].entries[2].median_ms must be a finite number >= 0"));
  json = supernet::LatencyLutToJson(SyntheticLut(*space, 1));
  json.erase("device");
  EXPECT_THAT(std::string(supernet::LatencyLutFromJson(json, "t.json").status().message()),
              HasSubstr("missing field device"));
  ASSERT_TRUE(WriteFileAtomically(dir + "/garbage.json", "{not json").ok());
  EXPECT_THAT(std::string(supernet::LoadLatencyLut(dir + "/garbage.json").status().message()),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(std::string(LoadLatencyModel(*space, "csv:x", "--latency").status().message()),
              HasSubstr("--latency: 'csv:x' is neither table:PATH"));
}

TEST(LatencyPredictorTest, CorrectionRecoversAKnownLinearModel) {
  auto space = Tiny();
  auto model = *LutLatencyModel::Create(*space, SyntheticLut(*space, 2), "synthetic");
  const std::vector<std::string> names = model->FeatureNames();
  const auto index = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) - names.begin();
  };
  ASSERT_LT(index("count:block=xception"), static_cast<long>(names.size()));
  ASSERT_LT(index("count:channel_scale=0.5"), static_cast<long>(names.size()));
  // "Measured" = 1.2 x sum + 0.3 ms per xception layer - 0.1 ms per half-width layer + 0.5.
  auto truth = [&](const supernet::Architecture& a) {
    const std::vector<double> f = model->Features(a);
    return 1.2 * f[0] + 0.3 * f[index("count:block=xception")] -
           0.1 * f[index("count:channel_scale=0.5")] + 0.5;
  };
  Rng rng(5);
  std::vector<supernet::Architecture> archs;
  std::vector<double> measured;
  for (int i = 0; i < 60; ++i) {
    archs.push_back(space->Sample(rng));
    measured.push_back(truth(archs.back()));
  }
  ASSERT_TRUE(model->FitCorrection(archs, measured).ok());
  const supernet::LatencyCorrection& c = model->lut().correction;
  EXPECT_EQ(c.samples, 60);
  EXPECT_NEAR(c.weights[0], 0.2, 0.02);
  EXPECT_LT(c.cv_mape, 1.0);
  EXPECT_GT(c.cv_mape_sum, 5.0);  // The plain sum misses the known terms.
  // Held-out architectures: within 1 %.
  std::vector<double> predicted, held_out;
  for (int i = 0; i < 100; ++i) {
    const supernet::Architecture a = space->Sample(rng);
    predicted.push_back(*model->LatencyMs(a, "cpu"));
    held_out.push_back(truth(a));
  }
  const PredictorMetrics m = ScorePredictions(predicted, held_out);
  EXPECT_LT(m.mape, 1.0);
  EXPECT_GT(m.kendall_tau, 0.9);

  // The fitted correction survives a save/load, and the exact range brackets samples.
  const std::string path = nas::testing::FreshTempDir("lut_fit") + "/lut.json";
  ASSERT_TRUE(supernet::SaveLatencyLut(model->lut(), path).ok());
  auto reloaded = *LutLatencyModel::Load(*space, path);
  const auto range = *reloaded->Range("cpu");
  EXPECT_NEAR(range.min_ms, reloaded->PredictMs(range.argmin), 1e-9);
  EXPECT_NEAR(range.max_ms, reloaded->PredictMs(range.argmax), 1e-9);
  for (int i = 0; i < 200; ++i) {
    const supernet::Architecture a = space->Sample(rng);
    EXPECT_NEAR(reloaded->PredictMs(a), model->PredictMs(a), 1e-9);
    EXPECT_GE(reloaded->PredictMs(a), range.min_ms - 1e-9);
    EXPECT_LE(reloaded->PredictMs(a), range.max_ms + 1e-9);
  }

  EXPECT_THAT(std::string(model->FitCorrection({archs[0]}, {1.0}).message()), HasSubstr("at least 5"));
  measured[3] = -1;
  EXPECT_THAT(std::string(model->FitCorrection(archs, measured).message()), HasSubstr("measurement 3"));
}

TEST(LatencyPredictorTest, LatencyConstraintFiltersCandidates) {
  auto space = Tiny();
  auto model = *LutLatencyModel::Create(*space, SyntheticLut(*space, 4), "synthetic");
  const MetricModel metrics(*space, model.get());
  const auto range = *metrics.Range("latency@cpu");
  const double bound = range.min + 0.3 * (range.max - range.min);
  SearchOptions o;
  o.make_surrogate = TorchSurrogates();
  o.algorithm = "random";
  o.budget = 40;
  o.objectives = {*ParseObjective("flops")};
  auto unconstrained = RunSearch(metrics, nullptr, o);
  ASSERT_TRUE(unconstrained.ok()) << unconstrained.status();
  int above = 0;
  for (const Evaluation& e : unconstrained->history) above += e.latency_ms.at("cpu") > bound;
  EXPECT_GT(above, 0);  // The bound does cut the space.
  for (const std::string& algorithm : {"random", "evolution", "aging", "nsga2", "predictor"}) {
    o.algorithm = algorithm;
    o.population = 10;
    o.parents = 4;
    o.candidates = 500;
    o.constraints = {*ParseConstraint(absl::StrCat("latency@cpu<=", bound, "ms"))};
    auto r = RunSearch(metrics, nullptr, o);
    ASSERT_TRUE(r.ok()) << algorithm << ": " << r.status();
    EXPECT_EQ(r->history.size(), 40u);
    for (const Evaluation& e : r->history) EXPECT_LE(e.latency_ms.at("cpu"), bound) << algorithm;
  }
  o.constraints = {*ParseConstraint(absl::StrCat("latency@cpu<=", range.min * 0.9, "ms"))};
  EXPECT_THAT(std::string(RunSearch(metrics, nullptr, o).status().message()),
              HasSubstr("smallest latency@cpu"));
}

TEST(ProfileTest, ProfilesEveryBlockOfRealSubnets) {
  auto space = Tiny();
  torch::manual_seed(0);
  supernet::Supernet net = supernet::CreateSupernet(space, {});
  supernet::ProfileOptions options;
  options.batch_sizes = {1, 4};
  options.warmup = 1;
  options.runs = 3;
  options.rounds = 1;
  int calls = 0;
  options.progress = [&](int done, int total) {
    ++calls;
    EXPECT_EQ(total, 2);  // One burst of 3 runs per batch size.
    EXPECT_EQ(done, calls);
  };
  Rng measure_rng(11);
  const std::vector<supernet::Architecture> also = {space->Sample(measure_rng), space->Sample(measure_rng)};
  std::vector<kernels::TimingStats> measured_together;
  auto lut = supernet::ProfileBlocks(*net, options, also, &measured_together);
  ASSERT_TRUE(lut.ok()) << lut.status();
  ASSERT_EQ(measured_together.size(), 2u);
  for (const kernels::TimingStats& t : measured_together) {
    EXPECT_EQ(t.count, 3);
    EXPECT_GT(t.p10_ms, 0);
  }
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(lut->tables.size(), 2u);
  for (const supernet::LatencyBatchTable& t : lut->tables) {
    EXPECT_EQ(t.entries.size(), 2u + 4 * 8);  // stem, head, every layer's every choice.
    for (const supernet::LatencyEntry& e : t.entries) {
      EXPECT_GT(e.stats.median_ms, 0) << e.block << " " << e.choice;
      EXPECT_EQ(e.stats.count, 3 * (e.choice.empty() ? 8 : 1)) << e.block << " " << e.choice;
    }
  }
  EXPECT_EQ(lut->threads, 1);
  EXPECT_NE(lut->machine.library_version.find("libtorch"), std::string::npos);
  auto model = LutLatencyModel::Create(*space, *lut, "profiled");
  ASSERT_TRUE(model.ok()) << model.status();

  Rng rng(9);
  const supernet::Architecture arch = space->Sample(rng);
  supernet::MeasureOptions measure;
  measure.runs = 5;
  auto measured = supernet::MeasureSubnetLatency(*net, arch, measure);
  ASSERT_TRUE(measured.ok()) << measured.status();
  EXPECT_EQ(measured->count, 5);
  EXPECT_GT(measured->median_ms, 0);
  EXPECT_GT((*model)->TableSumMs(arch), 0);

  // Cancellation, and a space whose blocks cannot be tabulated.
  options.should_stop = [] { return true; };
  EXPECT_EQ(supernet::ProfileBlocks(*net, options).status().code(), absl::StatusCode::kCancelled);
  auto nb201 = supernet::LoadSearchSpace("configs/nb201_proxy.yaml");
  ASSERT_TRUE(nb201.ok()) << nb201.status();
  supernet::Supernet nb = supernet::CreateSupernet(*nb201, {});
  EXPECT_THAT(std::string(supernet::ProfileBlocks(*nb, {}).status().message()),
              HasSubstr("per-architecture latency table"));
}

}  // namespace
}  // namespace nas::search
