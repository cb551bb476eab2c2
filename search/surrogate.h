#ifndef NAS_SEARCH_SURROGATE_H_
#define NAS_SEARCH_SURROGATE_H_

// The model a predictor-guided search fits to what it has evaluated, as an interface free
// of LibTorch: the search algorithms build without it; the LibTorch models
// (search/predictor.h) implement it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "supernet/search_space.h"

namespace nas::search {

// Row-major float features.
struct FeatureMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;  // rows * cols.
};

// One-hot encoding from the space: one block of options.size() entries per gene (per
// layer dimension; per edge for nb201).
FeatureMatrix OneHotFeatures(const supernet::SearchSpace& space, const std::vector<supernet::Architecture>& archs);

// A regression model over encoded architectures. Fit may be called again as data grows.
// Not thread-safe.
class Surrogate {
 public:
  virtual ~Surrogate() = default;
  virtual std::string name() const = 0;
  virtual void Fit(const FeatureMatrix& x, const std::vector<double>& y) = 0;
  virtual std::vector<double> Predict(const FeatureMatrix& x) const = 0;
  // Predictive spread (an ensemble's standard deviation), or zeros.
  virtual std::vector<double> PredictStd(const FeatureMatrix& x) const {
    return std::vector<double>(static_cast<size_t>(x.rows), 0.0);
  }
};

// Makes the surrogate a search names (SearchOptions::predictor), seeded.
using SurrogateFactory =
    std::function<absl::StatusOr<std::unique_ptr<Surrogate>>(const std::string& name, uint64_t seed)>;

}  // namespace nas::search

#endif  // NAS_SEARCH_SURROGATE_H_
