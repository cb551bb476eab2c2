#include "search/surrogate.h"

namespace nas::search {

FeatureMatrix OneHotFeatures(const supernet::SearchSpace& space, const std::vector<supernet::Architecture>& archs) {
  FeatureMatrix x;
  std::vector<int64_t> offsets;
  for (const supernet::Gene& g : space.genes()) {
    offsets.push_back(x.cols);
    x.cols += static_cast<int64_t>(g.options.size());
  }
  x.rows = static_cast<int64_t>(archs.size());
  x.values.assign(static_cast<size_t>(x.rows * x.cols), 0.0f);
  for (size_t i = 0; i < archs.size(); ++i) {
    for (size_t g = 0; g < offsets.size(); ++g) x.values[i * x.cols + offsets[g] + archs[i].genes[g]] = 1.0f;
  }
  return x;
}

}  // namespace nas::search
