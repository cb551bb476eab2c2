// Accuracy predictors on NAS-Bench-201 (CIFAR-10 column): trained on 100 random cells,
// scored on 1,000 other random cells (RMSE, MAPE, Kendall tau, Spearman rho; mean over 5
// seeds), and the predictor-only scoring throughput (one-hot encoding + prediction of
// 100,000 candidates, median of 5 runs) that bounds the inner search.
// Usage: predictor_bench CONFIG CSV [THREADS=2]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include "search/predictor.h"
#include "supernet/nb201_table.h"

using nas::supernet::Architecture;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: predictor_bench CONFIG CSV [THREADS]\n");
    return 2;
  }
  torch::set_num_threads(argc > 3 ? std::stoi(argv[3]) : 2);
  auto space = nas::supernet::LoadSearchSpace(argv[1]);
  if (!space.ok()) return 1;
  auto table = nas::supernet::Nb201Table::Load(
      dynamic_cast<const nas::supernet::Nb201Space&>(**space), argv[2]);
  if (!table.ok()) return 1;
  std::printf("| predictor | RMSE | MAPE | Kendall tau | Spearman rho | training cells | test cells | seeds |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const std::string kind : {"ridge", "mlp_ensemble"}) {
    nas::search::PredictorMetrics sum;
    const int seeds = 5;
    for (int seed = 0; seed < seeds; ++seed) {
      nas::Rng rng(seed);
      std::unordered_set<Architecture, nas::supernet::ArchitectureHash> used;
      std::vector<Architecture> train, test;
      while (train.size() < 100) {
        Architecture a = (*space)->Sample(rng);
        if (used.insert(a).second) train.push_back(a);
      }
      while (test.size() < 1000) {
        Architecture a = (*space)->Sample(rng);
        if (used.insert(a).second) test.push_back(a);
      }
      std::vector<float> y;
      for (const auto& a : train) y.push_back(table->rows()[table->IndexOf(a)].cifar10_test);
      auto predictor = kind == "ridge" ? nas::search::MakeRidge() : nas::search::MakeMlpEnsemble(5, 64, 200, seed);
      predictor->Fit(nas::search::EncodeOneHot(**space, train), torch::tensor(y));
      const torch::Tensor p = predictor->Predict(nas::search::EncodeOneHot(**space, test));
      std::vector<double> predicted, truth;
      for (size_t i = 0; i < test.size(); ++i) {
        predicted.push_back(p[i].item<double>());
        truth.push_back(table->rows()[table->IndexOf(test[i])].cifar10_test);
      }
      const auto m = nas::search::ScorePredictions(predicted, truth);
      sum.rmse += m.rmse / seeds;
      sum.mape += m.mape / seeds;
      sum.kendall_tau += m.kendall_tau / seeds;
      sum.spearman_rho += m.spearman_rho / seeds;
    }
    std::printf("| %s | %.3f | %.2f %% | %.3f | %.3f | 100 | 1000 | 5 |\n", kind.c_str(), sum.rmse,
                sum.mape, sum.kendall_tau, sum.spearman_rho);
  }

  // Throughput of predictor-only scoring.
  nas::Rng rng(99);
  std::vector<Architecture> candidates;
  for (int i = 0; i < 100000; ++i) candidates.push_back((*space)->Sample(rng));
  std::vector<Architecture> train(candidates.begin(), candidates.begin() + 100);
  std::vector<float> y;
  for (const auto& a : train) y.push_back(table->rows()[table->IndexOf(a)].cifar10_test);
  std::printf("\n");
  for (const std::string kind : {"ridge", "mlp_ensemble"}) {
    auto predictor = kind == "ridge" ? nas::search::MakeRidge() : nas::search::MakeMlpEnsemble(5, 64, 200, 0);
    predictor->Fit(nas::search::EncodeOneHot(**space, train), torch::tensor(y));
    std::vector<double> rates;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const torch::Tensor x = nas::search::EncodeOneHot(**space, candidates);
      const torch::Tensor score = predictor->Predict(x) + 0.5 * predictor->PredictStd(x);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rates.push_back(candidates.size() / s);
    }
    std::sort(rates.begin(), rates.end());
    std::printf("%s: %.0f candidates/s (encode + predict mean and spread, 100,000 candidates, median of 5)\n",
                kind.c_str(), rates[2]);
  }
  return 0;
}
