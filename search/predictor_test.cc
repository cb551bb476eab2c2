#include "search/predictor.h"

#include <gtest/gtest.h>

namespace nas::search {
namespace {

TEST(RankCorrelationTest, HandCases) {
  EXPECT_DOUBLE_EQ(KendallTau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(KendallTau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // One discordant pair out of six: (5 - 1) / 6.
  EXPECT_DOUBLE_EQ(KendallTau({1, 2, 3, 4}, {1, 2, 4, 3}), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(SpearmanRho({1, 2, 3, 4}, {1, 2, 3, 4}), 1.0);
  // d = (0, 0, 1, -1): 1 - 6 * 2 / (4 * 15) = 0.8.
  EXPECT_NEAR(SpearmanRho({1, 2, 3, 4}, {1, 2, 4, 3}), 0.8, 1e-12);
  const PredictorMetrics m = ScorePredictions({1, 2, 4}, {1, 2, 2});
  EXPECT_NEAR(m.rmse, std::sqrt(4.0 / 3), 1e-12);
  EXPECT_NEAR(m.mape, 100.0 * (0 + 0 + 1) / 3, 1e-9);
}

TEST(PredictorTest, RidgeRecoversAKnownLinearModel) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::randint(0, 2, {200, 12}).to(torch::kFloat32);
  const torch::Tensor w = torch::randn({12});
  const torch::Tensor y = x.mv(w) + 3.0;
  auto ridge = MakeRidge(1e-6);
  ridge->Fit(x, y);
  const torch::Tensor x_test = torch::randint(0, 2, {50, 12}).to(torch::kFloat32);
  EXPECT_LT((ridge->Predict(x_test) - (x_test.mv(w) + 3.0)).abs().max().item<float>(), 1e-3);
}

TEST(PredictorTest, MlpEnsembleFitsAndReportsSpread) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randint(0, 2, {100, 10}).to(torch::kFloat32);
  const torch::Tensor y = (x.slice(1, 0, 3).sum(1) * x.slice(1, 3, 6).sum(1)) + 90;
  auto mlp = MakeMlpEnsemble(3, 32, 300, 7);
  mlp->Fit(x, y);
  std::vector<double> predicted, truth;
  const torch::Tensor p = mlp->Predict(x);
  for (int64_t i = 0; i < 100; ++i) {
    predicted.push_back(p[i].item<double>());
    truth.push_back(y[i].item<double>());
  }
  const PredictorMetrics m = ScorePredictions(predicted, truth);
  EXPECT_LT(m.rmse, 1.0);
  EXPECT_GT(m.kendall_tau, 0.8);
  EXPECT_GE(mlp->PredictStd(x).min().item<float>(), 0.0f);
  // Same seed, same predictions.
  auto again = MakeMlpEnsemble(3, 32, 300, 7);
  again->Fit(x, y);
  EXPECT_TRUE(torch::allclose(again->Predict(x), p));
}

}  // namespace
}  // namespace nas::search
