#ifndef NAS_SEARCH_LATENCY_PREDICTOR_H_
#define NAS_SEARCH_LATENCY_PREDICTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "search/metrics.h"
#include "supernet/latency_profile.h"

namespace nas::search {

// Latency predicted from a block lookup table (supernet/latency_profile.h): the sum of the
// architecture's batch-1 block figures (the table's statistic, p10 by default), plus an optional learned correction fitted on
// end-to-end measurements of extracted subnets:
//   predicted = sum + intercept + w_sum * sum + sum_k w_k * count_k(arch)
//               + sum_{gene g, option o} v_{g,o} * [arch uses o at g]
// where count_k is how many layers use option k of a dimension ("count:block=xception")
// and the indicators ("layers[3].block=xception") let the data adjust single entries
// whose cost in a real network differs from the table's (neighbour and cache effects).
// Both terms are additive over blocks, so the prediction is a per-block table lookup and
// the exact minimum and maximum over the whole space are found block by block.
class LutLatencyModel : public LatencyModel {
 public:
  // Checks that `lut` was measured for `space` and holds every block and choice.
  // `source` names the table in errors and in id().
  static absl::StatusOr<std::unique_ptr<LutLatencyModel>> Create(const supernet::SearchSpace& space,
                                                                 supernet::LatencyLut lut,
                                                                 const std::string& source);
  static absl::StatusOr<std::unique_ptr<LutLatencyModel>> Load(const supernet::SearchSpace& space,
                                                               const std::string& path);

  std::string id() const override { return "latency_lut:" + source_; }
  std::vector<std::string> devices() const override { return {lut_.device}; }
  absl::StatusOr<double> LatencyMs(const supernet::Architecture& arch,
                                   const std::string& device) const override;
  absl::StatusOr<Extremes> Range(const std::string& device) const override;

  // Batch-1 table sum, without the correction.
  double TableSumMs(const supernet::Architecture& arch) const;
  // The prediction (with the correction, when fitted).
  double PredictMs(const supernet::Architecture& arch) const;

  // Fits the correction on measured end-to-end latencies (at least 5): ridge regression of
  // (measured - sum) on the standardized features, the feature set (sum and counts, or
  // also the per-layer indicators) and penalty chosen by 5-fold cross-validated MAPE; when
  // no fit beats the plain sum the correction stays zero. Stores it in lut().
  // InvalidArgument on too few or bad measurements.
  absl::Status FitCorrection(const std::vector<supernet::Architecture>& archs,
                             const std::vector<double>& measured_ms);

  const supernet::LatencyLut& lut() const { return lut_; }
  // Feature names and values of the correction (before the weights).
  std::vector<std::string> FeatureNames() const;
  std::vector<double> Features(const supernet::Architecture& arch) const;

 private:
  LutLatencyModel(const supernet::SearchSpace& space, supernet::LatencyLut lut, std::string source)
      : space_(space), lut_(std::move(lut)), source_(std::move(source)) {}
  absl::Status BuildTables();
  // Folds the correction into per-group tables.
  void FoldCorrection();
  size_t GroupCode(const supernet::Architecture& arch, int group) const;
  absl::Status CheckDevice(const std::string& device) const;

  const supernet::SearchSpace& space_;
  supernet::LatencyLut lut_;
  std::string source_;
  std::vector<std::vector<int>> group_genes_;
  // Batch-1 block figures: fixed blocks, and [group][combination code].
  double fixed_ms_ = 0;
  std::vector<std::vector<double>> group_ms_;
  // Per-gene dimension feature index ("count:DIM=OPTION" block start) and names.
  std::vector<int> gene_feature_offset_;
  // Per-gene start of its option indicators ("layers[3].block=OPTION").
  std::vector<int> gene_onehot_offset_;
  std::vector<std::string> feature_names_;
  // The prediction folded per group: base + sum_g predicted_[g][code].
  double base_ms_ = 0;
  std::vector<std::vector<double>> predicted_;
};

// Loads the latency model a search names: "table:PATH" (per-architecture CSV, any
// devices) or "lut:PATH" (a `nas profile` lookup table). Errors start with `field`.
absl::StatusOr<std::unique_ptr<LatencyModel>> LoadLatencyModel(const supernet::SearchSpace& space,
                                                               const std::string& spec,
                                                               const std::string& field);

}  // namespace nas::search

#endif  // NAS_SEARCH_LATENCY_PREDICTOR_H_
