#include "search/ranking_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace nas::search {
namespace {

std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = 0.5 * (i + j);  // Average rank of ties.
    i = j + 1;
  }
  return ranks;
}

}  // namespace

double KendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  int64_t concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) {
        ++ties_a;
      } else if (db == 0) {
        ++ties_b;
      } else if ((da > 0) == (db > 0)) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  // Tau-b: corrected for ties.
  const double n1 = concordant + discordant + ties_a, n2 = concordant + discordant + ties_b;
  if (n1 == 0 || n2 == 0) return 0;
  return (concordant - discordant) / std::sqrt(n1 * n2);
}

double TopPrecision(const std::vector<double>& predicted, const std::vector<double>& truth, double fraction) {
  const size_t n = std::min(predicted.size(), truth.size());
  if (n == 0) return 0;
  const size_t k = std::max<size_t>(1, static_cast<size_t>(n * fraction));
  std::vector<size_t> by_predicted(n), by_truth(n);
  for (size_t i = 0; i < n; ++i) by_predicted[i] = by_truth[i] = i;
  std::stable_sort(by_predicted.begin(), by_predicted.end(), [&](size_t x, size_t y) { return predicted[x] > predicted[y]; });
  std::stable_sort(by_truth.begin(), by_truth.end(), [&](size_t x, size_t y) { return truth[x] > truth[y]; });
  std::vector<bool> in_true_top(n, false);
  for (size_t i = 0; i < k; ++i) in_true_top[by_truth[i]] = true;
  size_t hits = 0;
  for (size_t i = 0; i < k; ++i) hits += in_true_top[by_predicted[i]];
  return static_cast<double>(hits) / k;
}

double SpearmanRho(const std::vector<double>& a, const std::vector<double>& b) {
  const std::vector<double> ra = Ranks(a), rb = Ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double cov = 0, va = 0, vb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    cov += (ra[i] - ma) * (rb[i] - mb);
    va += (ra[i] - ma) * (ra[i] - ma);
    vb += (rb[i] - mb) * (rb[i] - mb);
  }
  return va > 0 && vb > 0 ? cov / std::sqrt(va * vb) : 0;
}

PredictorMetrics ScorePredictions(const std::vector<double>& predicted,
                                  const std::vector<double>& truth) {
  PredictorMetrics m;
  double se = 0, ape = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    se += (predicted[i] - truth[i]) * (predicted[i] - truth[i]);
    ape += std::abs(predicted[i] - truth[i]) / std::max(1e-12, std::abs(truth[i]));
  }
  m.rmse = std::sqrt(se / truth.size());
  m.mape = 100 * ape / truth.size();
  m.kendall_tau = KendallTau(predicted, truth);
  m.spearman_rho = SpearmanRho(predicted, truth);
  return m;
}

}  // namespace nas::search
