#ifndef NAS_SEARCH_PREDICTOR_H_
#define NAS_SEARCH_PREDICTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "search/ranking_metrics.h"
#include "search/surrogate.h"
#include "supernet/search_space.h"

namespace nas::search {

// OneHotFeatures as a float32 tensor [N, sum of option counts].
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

// The ridge and MLP-ensemble predictors as surrogates of a predictor-guided search
// (SearchOptions::make_surrogate): "ridge" or "mlp_ensemble".
SurrogateFactory TorchSurrogates();
torch::Tensor ToTensor(const FeatureMatrix& x);

}  // namespace nas::search

#endif  // NAS_SEARCH_PREDICTOR_H_
