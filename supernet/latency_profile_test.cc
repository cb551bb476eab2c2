#include "supernet/latency_profile.h"

#include <gtest/gtest.h>

#include "supernet/random.h"

namespace nas::supernet {
namespace {

// Times made exactly additive (fixed part + one value per block choice) are fitted back
// exactly, up to the shift that makes each block's smallest value 0.
TEST(FitAdditiveLatencyTest, RecoversAnAdditiveTable) {
  const std::vector<size_t> combinations = {3, 2, 4};
  const std::vector<std::vector<double>> truth = {{0.5, 0.2, 0.9}, {1.0, 1.5}, {0.3, 0.1, 0.7, 0.4}};
  const double fixed = 2.0;
  Rng rng(7);
  std::vector<std::vector<size_t>> codes;
  std::vector<double> ms;
  for (int n = 0; n < 40; ++n) {
    std::vector<size_t> code;
    double t = fixed;
    for (size_t g = 0; g < combinations.size(); ++g) {
      code.push_back(n < 4 ? n % combinations[g] : rng.UniformInt(combinations[g]));
      t += truth[g][code.back()];
    }
    codes.push_back(code);
    ms.push_back(t);
  }
  absl::StatusOr<AdditiveLatencyFit> fit = FitAdditiveLatency(combinations, codes, ms);
  ASSERT_TRUE(fit.ok()) << fit.status();
  // Shifted: block minima 0.2, 1.0, 0.1 move into the fixed part.
  EXPECT_NEAR(fit->fixed_ms, 2.0 + 0.2 + 1.0 + 0.1, 1e-6);
  for (size_t g = 0; g < combinations.size(); ++g) {
    const double least = *std::min_element(truth[g].begin(), truth[g].end());
    ASSERT_EQ(fit->group_ms[g].size(), combinations[g]);
    for (size_t c = 0; c < combinations[g]; ++c) EXPECT_NEAR(fit->group_ms[g][c], truth[g][c] - least, 1e-6);
  }
  EXPECT_LT(fit->mape, 1e-6);
}

TEST(FitAdditiveLatencyTest, NoisyTimesGiveTheLeastSquaresFit) {
  // One block of two choices: the least-squares values are the two groups' means.
  const std::vector<std::vector<size_t>> codes = {{0}, {0}, {1}, {1}, {1}};
  const std::vector<double> ms = {1.0, 1.2, 2.0, 2.3, 2.6};
  absl::StatusOr<AdditiveLatencyFit> fit = FitAdditiveLatency({2}, codes, ms);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->fixed_ms, 1.1, 1e-6);
  EXPECT_NEAR(fit->group_ms[0][0], 0.0, 1e-6);
  EXPECT_NEAR(fit->group_ms[0][1], 1.2, 1e-6);
  // |1.1-1|/1 + |1.1-1.2|/1.2 + |2.3-2|/2 + 0 + |2.3-2.6|/2.6, averaged, in %.
  EXPECT_NEAR(fit->mape, 100.0 * (0.1 + 0.1 / 1.2 + 0.15 + 0.3 / 2.6) / 5, 1e-6);
}

TEST(FitAdditiveLatencyTest, RejectsUnmeasuredChoicesAndTooFewNetworks) {
  absl::StatusOr<AdditiveLatencyFit> unseen = FitAdditiveLatency({3}, {{0}, {1}, {0}, {1}}, {1, 2, 1, 2});
  EXPECT_FALSE(unseen.ok());
  EXPECT_NE(std::string(unseen.status().message()).find("choice 2 is in no measured network"), std::string::npos);
  // Free values: 1 + 2 + 1 = 4, three networks.
  EXPECT_FALSE(FitAdditiveLatency({3, 2}, {{0, 0}, {1, 1}, {2, 0}}, {1, 2, 3}).ok());
  EXPECT_FALSE(FitAdditiveLatency({2}, {{0}, {1}}, {1.0}).ok());
  EXPECT_FALSE(FitAdditiveLatency({2}, {{0}, {2}}, {1.0, 2.0}).ok());
}

}  // namespace
}  // namespace nas::supernet
