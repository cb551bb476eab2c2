#ifndef NAS_SEARCH_RANKING_METRICS_H_
#define NAS_SEARCH_RANKING_METRICS_H_

// How well one list of scores ranks like another (predictors, proxies, supernets against
// a benchmark table). LibTorch-free.

#include <vector>

namespace nas::search {

struct PredictorMetrics {
  double rmse = 0;
  double mape = 0;  // Percent.
  double kendall_tau = 0;
  double spearman_rho = 0;
};
PredictorMetrics ScorePredictions(const std::vector<double>& predicted,
                                  const std::vector<double>& truth);
double KendallTau(const std::vector<double>& a, const std::vector<double>& b);
double SpearmanRho(const std::vector<double>& a, const std::vector<double>& b);
// Share of the top `fraction` (at least one item) by `predicted` that is also in the top
// `fraction` by `truth` (ties broken by position).
double TopPrecision(const std::vector<double>& predicted, const std::vector<double>& truth, double fraction);

}  // namespace nas::search

#endif  // NAS_SEARCH_RANKING_METRICS_H_
