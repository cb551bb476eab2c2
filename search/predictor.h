#ifndef NAS_SEARCH_PREDICTOR_H_
#define NAS_SEARCH_PREDICTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "supernet/search_space.h"

namespace nas::search {

// One-hot encoding from the space: one block of options.size() entries per gene (per
// layer dimension; per edge for nb201). Returns float32 [N, sum of option counts].
torch::Tensor EncodeOneHot(const supernet::SearchSpace& space,
                           const std::vector<supernet::Architecture>& archs);

// Accuracy predictor over encoded architectures. Fit may be called again as data grows.
// Not thread-safe.
class Predictor {
 public:
  virtual ~Predictor() = default;
  virtual std::string name() const = 0;
  virtual void Fit(const torch::Tensor& x, const torch::Tensor& y) = 0;
  // Predicted mean, float32 [N].
  virtual torch::Tensor Predict(const torch::Tensor& x) const = 0;
  // Predictive spread (ensemble standard deviation), or zeros.
  virtual torch::Tensor PredictStd(const torch::Tensor& x) const { return torch::zeros({x.size(0)}); }
};

// Ridge regression on centred data, solved in closed form in float64:
// y ~ (x - x_mean) . weights + y_mean, the intercept not penalised.
struct RidgeSolution {
  torch::Tensor x_mean;   // float64 [D]
  torch::Tensor weights;  // float64 [D]
  double y_mean = 0;
};
RidgeSolution SolveRidge(const torch::Tensor& x, const torch::Tensor& y, double lambda);

// Ridge regression (closed form, float64 solve), intercept not penalised.
std::unique_ptr<Predictor> MakeRidge(double lambda = 1.0);
// An ensemble of small MLPs (two hidden ReLU layers), each trained full-batch with Adam
// on standardized targets from its own seed.
std::unique_ptr<Predictor> MakeMlpEnsemble(int members = 5, int hidden = 64, int epochs = 200,
                                           uint64_t seed = 0);

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

#endif  // NAS_SEARCH_PREDICTOR_H_
