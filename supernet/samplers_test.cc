// Path samplers: determinism, bin frequencies, the shifted update, sandwich paths.
#include "supernet/samplers.h"
#include "supernet/shrinking.h"

#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nas::supernet {
namespace {

std::shared_ptr<const SearchSpace> Load(const std::string& path) {
  auto space = LoadSearchSpace(path);
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

std::unique_ptr<PathSampler> Make(std::shared_ptr<const SearchSpace> space, SamplerConfig config,
                                  uint64_t seed) {
  auto sampler = CreateSampler(std::move(space), config, seed);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  return *std::move(sampler);
}

TEST(SamplersTest, SameSeedAndStepGiveTheSamePathInAnyInstance) {
  auto space = Load("configs/spos_shufflenet_small.yaml");
  for (const std::string kind : {"uniform", "flops_uniform", "shifted", "sandwich"}) {
    SamplerConfig config;
    config.kind = kind;
    auto a = Make(space, config, 77), b = Make(space, config, 77), c = Make(space, config, 78);
    bool differs = false;
    for (int64_t step : {0, 5, 1000, 3}) {  // Any order: a pure function of the step.
      EXPECT_EQ(a->Sample(step), b->Sample(step)) << kind;
      differs = differs || a->Sample(step) != c->Sample(step);
    }
    EXPECT_TRUE(differs) << kind;
  }
}

TEST(SamplersTest, UniformSamplerChoiceFrequencies) {
  auto space = Load("configs/nb201.yaml");
  auto sampler = Make(space, SamplerConfig{}, 1);
  constexpr int kSteps = 20000;
  std::vector<std::vector<int>> counts(6, std::vector<int>(5, 0));
  for (int s = 0; s < kSteps; ++s) {
    const Architecture a = sampler->Sample(s).front();
    for (int g = 0; g < 6; ++g) ++counts[g][a.genes[g]];
  }
  const double sigma = std::sqrt(kSteps * 0.2 * 0.8);
  for (const auto& gene : counts) {
    for (int c : gene) EXPECT_NEAR(c, kSteps * 0.2, 5 * sigma);
  }
}

TEST(SamplersTest, FlopsUniformPicksNonEmptyBinsEqually) {
  for (const char* path : {"configs/nb201.yaml", "configs/spos_shufflenet.yaml"}) {
    auto space = Load(path);
    SamplerConfig config;
    config.kind = "flops_uniform";
    config.num_bins = 8;
    auto sampler = Make(space, config, 2);
    ComplexityBins bins(space, 8);
    const std::vector<double> p = sampler->BinProbabilities();
    int non_empty = 0;
    for (int b = 0; b < 8; ++b) non_empty += !bins.empty(b);
    EXPECT_GE(non_empty, 2) << path;
    constexpr int kSteps = 4000;
    std::vector<int> counts(8, 0);
    for (int s = 0; s < kSteps; ++s) ++counts[bins.BinOf(space->Cost(sampler->Sample(s).front()).flops)];
    for (int b = 0; b < 8; ++b) {
      if (bins.empty(b)) {
        EXPECT_EQ(counts[b], 0) << path << " bin " << b;
        EXPECT_EQ(p[b], 0.0);
      } else {
        const double q = 1.0 / non_empty;
        EXPECT_NEAR(counts[b], kSteps * q, 5 * std::sqrt(kSteps * q * (1 - q))) << path << " bin " << b;
      }
    }
  }
}

TEST(SamplersTest, GeneratorReachesEveryBinOfALargeSpaceWithinItsBound) {
  auto space = Load("configs/spos_shufflenet_channels.yaml");
  ComplexityBins bins(space, 10);
  Rng rng(3);
  for (int b = 0; b < 10; ++b) {
    EXPECT_FALSE(bins.empty(b));
    for (int i = 0; i < 5; ++i) {
      bool in_bin = false;
      const Architecture a = bins.Generate(b, rng, &in_bin);
      EXPECT_TRUE(in_bin);
      EXPECT_EQ(bins.BinOf(space->Cost(a).flops), b);
    }
  }
}

TEST(SamplersTest, ShiftedMovesTowardTheBinThatKeepsImproving) {
  auto space = Load("configs/spos_shufflenet_small.yaml");
  SamplerConfig config;
  config.kind = "shifted";
  config.num_bins = 5;
  config.update_every = 50;
  auto sampler = Make(space, config, 4);
  ComplexityBins bins(space, 5);
  const std::vector<double> initial = sampler->BinProbabilities();
  for (double p : initial) EXPECT_NEAR(p, 0.2, 1e-12);
  // Synthetic signal: paths in bin 3 keep getting better, the others have plateaued.
  for (int64_t step = 0; step < 2000; ++step) {
    for (const Architecture& a : sampler->Sample(step)) {
      const int b = bins.BinOf(space->Cost(a).flops);
      const double loss = b == 3 ? 2.0 * std::exp(-step / 500.0) + 0.3 : 1.0;
      sampler->Observe(step, a, loss);
    }
  }
  const std::vector<double> p = sampler->BinProbabilities();
  EXPECT_GT(p[3], 0.5);
  for (int b = 0; b < 5; ++b) {
    if (b != 3) {
      EXPECT_LT(p[b], p[3]);
    }
    EXPECT_GE(p[b], config.min_probability / 5 - 1e-12);  // The uniform floor.
  }
  double total = 0;
  for (double x : p) total += x;
  EXPECT_NEAR(total, 1.0, 1e-9);
  // Its state round-trips.
  auto copy = Make(space, config, 4);
  ASSERT_TRUE(copy->LoadState(sampler->SaveState()).ok());
  EXPECT_EQ(copy->BinProbabilities(), p);
  EXPECT_EQ(copy->Sample(5000), sampler->Sample(5000));
  EXPECT_FALSE(copy->LoadState(nlohmann::json{{"loss", 1}}).ok());
}

TEST(SamplersTest, SandwichHasLargestSmallestAndRandomPaths) {
  auto space = Load("configs/mbv2_macro.yaml");
  SamplerConfig config;
  config.kind = "sandwich";
  config.sandwich_random = 3;
  auto sampler = Make(space, config, 5);
  EXPECT_TRUE(sampler->distills());
  const std::vector<Architecture> paths = sampler->Sample(0);
  ASSERT_EQ(paths.size(), 5u);
  EXPECT_EQ(paths[0], space->MaxFlops().arch);
  EXPECT_EQ(paths[1], space->MinFlops().arch);
}

TEST(SamplersTest, FairTrainsEveryOptionOfEveryGeneExactlyOncePerStep) {
  for (const char* path : {"configs/nb201.yaml", "configs/mbv2_macro.yaml", "configs/spos_shufflenet_channels.yaml"}) {
    auto space = Load(path);
    SamplerConfig config;
    config.kind = "fair";
    auto sampler = Make(space, config, 9);
    EXPECT_TRUE(sampler->sums_paths());
    EXPECT_FALSE(sampler->distills());
    size_t most = 0;
    for (const Gene& g : space->genes()) most = std::max(most, g.options.size());
    std::set<std::vector<int>> distinct_steps;
    for (int64_t step = 0; step < 20; ++step) {
      const std::vector<Architecture> paths = sampler->Sample(step);
      ASSERT_EQ(paths.size(), most) << path;
      for (const Architecture& a : paths) EXPECT_TRUE(space->Validate(a).ok());
      for (size_t g = 0; g < space->genes().size(); ++g) {
        const size_t n = space->genes()[g].options.size();
        std::vector<int> count(n, 0);
        // The first n paths hold a permutation of the gene's options; genes with fewer
        // options than paths fill the rest with uniform draws.
        for (size_t k = 0; k < n; ++k) ++count[paths[k].genes[g]];
        for (size_t o = 0; o < n; ++o) EXPECT_EQ(count[o], 1) << path << " gene " << g << " option " << o;
      }
      distinct_steps.insert(paths[0].genes);
      EXPECT_EQ(sampler->Sample(step), paths);  // Depends only on seed and step.
    }
    EXPECT_GT(distinct_steps.size(), 1u);
  }
}

TEST(SamplersTest, RestrictFixesOneGeneAndKeepsTheKindsOtherGenes) {
  for (const char* path : {"configs/nb201.yaml", "configs/mbv2_macro.yaml"}) {
    auto space = Load(path);
    for (const std::string kind : {"uniform", "flops_uniform", "shifted", "sandwich", "fair"}) {
      SamplerConfig config;
      config.kind = kind;
      auto plain = Make(space, config, 21);
      config.restrict_gene = 2;
      config.restrict_option = 1;
      auto restricted = Make(space, config, 21);
      EXPECT_EQ(restricted->name(), plain->name());
      EXPECT_EQ(restricted->sums_paths(), plain->sums_paths());
      EXPECT_EQ(restricted->distills(), plain->distills());
      std::set<std::vector<int>> others;
      for (int64_t step = 0; step < 30; ++step) {
        std::vector<Architecture> expected = plain->Sample(step);
        const std::vector<Architecture> got = restricted->Sample(step);
        ASSERT_EQ(got.size(), expected.size()) << path << " " << kind;
        for (size_t k = 0; k < got.size(); ++k) {
          EXPECT_EQ(got[k].genes[2], 1) << path << " " << kind;
          EXPECT_TRUE(space->Validate(got[k]).ok());
          expected[k].genes[2] = 1;  // Everything else is the kind's own draw.
          EXPECT_EQ(got[k], expected[k]) << path << " " << kind;
          others.insert(got[k].genes);
        }
      }
      EXPECT_GT(others.size(), 1u) << path << " " << kind;
    }
  }
}

TEST(SamplersTest, BadRestrictionsNameTheField) {
  auto space = Load("configs/nb201.yaml");  // 6 genes of 5 options.
  SamplerConfig config;
  config.kind = "uniform";
  config.restrict_gene = 6;
  config.restrict_option = 0;
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.restrict.gene: must be in [0, 5], got 6"));
  config.restrict_gene = 1;
  config.restrict_option = 5;
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.restrict.option: gene 1 has options 0-4, got 5"));
  config.restrict_option = -1;
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.restrict.option"));
  config.restrict_option = 2;
  config.kind = "fixed";
  config.arch = space->Format(space->MaxFlops().arch);
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.restrict: not with the fixed sampler"));
}

TEST(SamplersTest, ExcludedOptionsAreNeverSampledAndBinsAreOverTheShrunkSpace) {
  auto space = Load("configs/nb201.yaml");  // Ops: none, skip, conv1x1, conv3x3, avg_pool.
  for (const std::string kind : {"uniform", "flops_uniform", "shifted", "sandwich", "fair"}) {
    SamplerConfig config;
    config.kind = kind;
    config.exclude = {"none", "avg_pool_3x3"};
    auto sampler = Make(space, config, 4);
    std::set<int> seen;
    for (int64_t step = 0; step < 200; ++step) {
      for (const Architecture& a : sampler->Sample(step)) {
        ASSERT_TRUE(space->Validate(a).ok());
        for (int g : a.genes) {
          EXPECT_NE(g, 0) << kind;
          EXPECT_NE(g, 4) << kind;
          seen.insert(g);
        }
        sampler->Observe(step, a, 1.0);
      }
    }
    EXPECT_EQ(seen, (std::set<int>{1, 2, 3})) << kind;
  }
  // FLOPs bins of the shrunk space: the smallest path is all skips, the largest all 3x3.
  SamplerConfig config;
  config.kind = "sandwich";
  config.exclude = {"none", "avg_pool_3x3"};
  const std::vector<Architecture> paths = Make(space, config, 0)->Sample(0);
  EXPECT_EQ(paths[0].genes, std::vector<int>(6, 3));
  EXPECT_EQ(paths[1].genes, std::vector<int>(6, 1));

  auto shrunk = RestrictedSpace::Excluding(space, {"none", "avg_pool_3x3"}, "x");
  ASSERT_TRUE(shrunk.ok()) << shrunk.status();
  EXPECT_EQ((*shrunk)->ExactSize(), std::optional<uint64_t>(729));
  Rng rng(3);
  for (int i = 0; i < 20; ++i) {
    const Architecture a = (*shrunk)->Sample(rng), full = (*shrunk)->ToFull(a);
    EXPECT_EQ((*shrunk)->Cost(a).flops, space->Cost(full).flops);
    EXPECT_EQ((*shrunk)->Cost(a).params, space->Cost(full).params);
    EXPECT_EQ((*shrunk)->Format(a), space->Format(full));
    EXPECT_EQ(*(*shrunk)->Parse(space->Format(full)), a);
    EXPECT_EQ(*(*shrunk)->FromFull(full), a);
  }
  EXPECT_THAT(std::string((*shrunk)->Parse(space->Format(space->MinFlops().arch)).status().message()),
              ::testing::HasSubstr("none is not in this restriction"));

  config.exclude = {"conv_7x7"};
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.exclude: 'conv_7x7' is not an option of any gene of space 'nb201'"));
  config.exclude = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.exclude: leaves gene"));
  config.exclude = {"none"};
  config.restrict_gene = 1;
  config.restrict_option = 0;
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.restrict.option: none is one of the excluded options"));
}

// Search-space shrinking's option scores, by hand: four NB201 cells ranked 0, 1/3, 2/3, 1.
TEST(ShrinkingTest, OptionScoresByHand) {
  auto space = Load("configs/nb201.yaml");  // Ops: none, skip, conv1x1, conv3x3, avg_pool.
  const std::vector<Architecture> archs = {
      {{3, 3, 3, 3, 3, 3}}, {{0, 0, 0, 1, 1, 1}}, {{0, 1, 3, 3, 4, 4}}, {{0, 2, 2, 2, 2, 2}}};
  const std::vector<double> values = {3.0, 1.0, 2.0, 4.0};
  auto by_name = [](const std::vector<OptionScore>& scores) {
    std::map<std::string, std::pair<double, int64_t>> m;
    for (const OptionScore& s : scores) m[s.option] = {s.score, s.uses};
    return m;
  };
  auto mean = ScoreOptions(*space, archs, values, "mean");
  ASSERT_TRUE(mean.ok()) << mean.status();
  auto m = by_name(*mean);
  // none: ranks 0, 0, 0 (second cell), 1/3 (third), 1 (fourth).
  EXPECT_NEAR(m["none"].first, (1.0 / 3 + 1) / 5, 1e-12);
  EXPECT_EQ(m["none"].second, 5);
  EXPECT_NEAR(m["skip_connect"].first, (1.0 / 3) / 4, 1e-12);
  EXPECT_NEAR(m["nor_conv_1x1"].first, 1.0, 1e-12);
  EXPECT_NEAR(m["nor_conv_3x3"].first, (6 * 2.0 / 3 + 2 * 1.0 / 3) / 8, 1e-12);
  EXPECT_NEAR(m["avg_pool_3x3"].first, 1.0 / 3, 1e-12);
  auto q90 = ScoreOptions(*space, archs, values, "q90");
  ASSERT_TRUE(q90.ok()) << q90.status();
  auto q = by_name(*q90);
  // The 90th percentile of none's five ranks lies 0.6 of the way from 1/3 to 1.
  EXPECT_NEAR(q["none"].first, 1.0 / 3 + 0.6 * (2.0 / 3), 1e-12);
  EXPECT_NEAR(q["skip_connect"].first, 0.7 / 3, 1e-12);
  EXPECT_NEAR(q["nor_conv_3x3"].first, 2.0 / 3, 1e-12);
  EXPECT_NEAR(q["avg_pool_3x3"].first, 1.0 / 3, 1e-12);
  // Worst first: the mean drops none (many poor cells take it), q90 spares it (the best
  // cell takes it too).
  EXPECT_EQ(ChooseDropped(*space, *mean, {}, 2), (std::vector<std::string>{"skip_connect", "none"}));
  EXPECT_EQ(ChooseDropped(*space, *q90, {}, 2), (std::vector<std::string>{"skip_connect", "avg_pool_3x3"}));
  EXPECT_EQ(ChooseDropped(*space, *q90, {"skip_connect"}, 1), (std::vector<std::string>{"avg_pool_3x3"}));
  // Every gene keeps an option.
  EXPECT_TRUE(ChooseDropped(*space, *q90, {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"}, 1).empty());

  EXPECT_THAT(std::string(ScoreOptions(*space, archs, values, "q100").status().message()),
              ::testing::HasSubstr("'q100' is not mean or qNN"));
  EXPECT_THAT(std::string(ScoreOptions(*space, archs, {1.0}, "mean").status().message()),
              ::testing::HasSubstr("4 architectures but 1 scores"));
}

TEST(SamplersTest, BadConfigsNameTheField) {
  auto space = Load("configs/nb201.yaml");
  SamplerConfig config;
  config.kind = "greedy";
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.kind: 'greedy'"));
  config.kind = "shifted";
  config.num_bins = 0;
  EXPECT_THAT(std::string(CreateSampler(space, config, 0).status().message()),
              ::testing::HasSubstr("sampler.num_bins"));
}

}  // namespace
}  // namespace nas::supernet
