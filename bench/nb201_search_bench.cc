// Best NAS-Bench-201 CIFAR-10 accuracy found by each search algorithm at budgets of 100
// and 150 queries, over 100 seeds (mean ± std), with the table as the evaluator.
// Usage: nb201_search_bench CONFIG CSV [SEEDS=100]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "search/algorithms.h"
#include "search/predictor.h"
#include "supernet/nb201_space.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: nb201_search_bench CONFIG CSV [SEEDS]\n");
    return 2;
  }
  const int seeds = argc > 3 ? std::stoi(argv[3]) : 100;
  auto space = nas::supernet::LoadSearchSpace(argv[1]);
  if (!space.ok()) return 1;
  auto table = nas::supernet::Nb201Table::Load(
      dynamic_cast<const nas::supernet::Nb201Space&>(**space), argv[2]);
  if (!table.ok()) {
    std::fprintf(stderr, "%s\n", std::string(table.status().message()).c_str());
    return 1;
  }
  auto evaluator = nas::search::Nb201TableEvaluator::Create(
      std::make_shared<const nas::supernet::Nb201Table>(*std::move(table)), "cifar10");
  std::printf("| algorithm | settings | budget | mean best accuracy | std | seeds |\n|---|---|---|---|---|---|\n");
  for (const std::string algorithm : {"random", "evolution", "aging", "predictor"}) {
    // One run of 150 queries per seed gives both budgets: the first 100 evaluations of
    // a run are exactly those of a 100-query run with the same seed.
    std::vector<double> best100, best150;
    for (int seed = 0; seed < seeds; ++seed) {
        nas::search::SearchOptions o;
        o.make_surrogate = nas::search::TorchSurrogates();
        o.algorithm = algorithm;
        o.budget = 150;
        o.seed = seed;
        o.population = 20;
        o.parents = 5;
        o.mutation_probability = 0.1;
        o.aging_population = 10;
        o.tournament = 3;
        auto r = nas::search::RunSearch(**space, **evaluator, o);
        if (!r.ok()) {
          std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
          return 1;
        }
        double b100 = 0;
        for (size_t i = 0; i < r->history.size() && i < 100; ++i) b100 = std::max(b100, r->history[i].accuracy);
        best100.push_back(b100);
        best150.push_back(r->best.accuracy);
    }
    for (int budget : {100, 150}) {
      const std::vector<double>& best = budget == 100 ? best100 : best150;
      double mean = 0, var = 0;
      for (double b : best) mean += b;
      mean /= best.size();
      for (double b : best) var += (b - mean) * (b - mean);
      const char* settings = algorithm == "random"      ? "uniform"
                             : algorithm == "evolution" ? "P=20, top-5, p_mut=0.1, half crossover"
                             : algorithm == "aging"     ? "P=10, tournament 3"
                                                        : "5-MLP ensemble, 10 initial, batches of 10, 20k candidates, UCB k=0.5";
      std::printf("| %s | %s | %d | %.2f | %.2f | %d |\n", algorithm.c_str(), settings, budget, mean,
                  std::sqrt(var / best.size()), seeds);
    }
  }
  return 0;
}
