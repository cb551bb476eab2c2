#include "search/latency_predictor.h"

#include <cmath>
#include <map>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "search/predictor.h"

namespace nas::search {
namespace {

constexpr size_t kMaxCombinations = 512;
constexpr char kSumFeature[] = "table_sum_ms";

// "layers[3].block" -> "block"; "edge[2<-1]" -> "edge".
std::string Dimension(const std::string& gene_name) {
  const size_t dot = gene_name.rfind('.');
  if (dot != std::string::npos) return gene_name.substr(dot + 1);
  return gene_name.substr(0, gene_name.find('['));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LutLatencyModel>> LutLatencyModel::Create(
    const supernet::SearchSpace& space, supernet::LatencyLut lut, const std::string& source) {
  if (lut.space_name != space.name()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the table was measured for space ",
                                                   lut.space_name, ", not ", space.name()));
  }
  if (lut.input_size != space.input_size()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the table was measured at input size ",
                                                   lut.input_size, ", the space has ",
                                                   space.input_size()));
  }
  auto model = std::unique_ptr<LutLatencyModel>(new LutLatencyModel(space, std::move(lut), source));
  if (absl::Status s = model->BuildTables(); !s.ok()) return s;
  return model;
}

absl::StatusOr<std::unique_ptr<LutLatencyModel>> LutLatencyModel::Load(
    const supernet::SearchSpace& space, const std::string& path) {
  absl::StatusOr<supernet::LatencyLut> lut = supernet::LoadLatencyLut(path);
  if (!lut.ok()) return lut.status();
  return Create(space, *std::move(lut), path);
}

size_t LutLatencyModel::GroupCode(const supernet::Architecture& arch, int group) const {
  return supernet::GroupCombination(space_, group_genes_[group], arch);
}

absl::Status LutLatencyModel::BuildTables() {
  const supernet::LatencyBatchTable* table = lut_.Table(1);
  if (table == nullptr) return absl::InvalidArgumentError(source_ + ": no batch-size-1 table");
  std::map<std::pair<std::string, std::string>, double> medians;
  for (const supernet::LatencyEntry& e : table->entries) {
    medians[{e.block, e.choice}] = kernels::StatisticValue(e.stats, lut_.statistic);
  }

  group_genes_.assign(space_.group_names().size(), {});
  for (size_t g = 0; g < space_.genes().size(); ++g) {
    group_genes_[space_.genes()[g].group].push_back(static_cast<int>(g));
  }
  supernet::Architecture arch;
  arch.genes.assign(space_.genes().size(), 0);
  const supernet::NetworkPlan plan = space_.BuildPlan(arch);
  std::map<std::string, bool> known_blocks;
  auto lookup = [&](const std::string& block, const std::string& choice) -> absl::StatusOr<double> {
    auto it = medians.find({block, choice});
    if (it == medians.end()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": no entry for block ", block,
                                                     choice.empty() ? "" : " choice " + choice,
                                                     " (was the table profiled for this space?)"));
    }
    return it->second;
  };
  fixed_ms_ = 0;
  group_ms_.assign(space_.group_names().size(), {});
  for (size_t g = 0; g < group_genes_.size(); ++g) {
    size_t n = 1;
    for (int gene : group_genes_[g]) n *= space_.genes()[gene].options.size();
    if (n > kMaxCombinations) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": block ", space_.group_names()[g],
                                                     " has ", n, " choices; a lookup table needs at most ",
                                                     kMaxCombinations));
    }
    group_ms_[g].assign(n, 0.0);
  }
  for (const supernet::PlanBlock& block : plan.blocks) {
    known_blocks[block.name] = true;
    if (block.group < 0) {
      absl::StatusOr<double> ms = lookup(block.name, "");
      if (!ms.ok()) return ms.status();
      fixed_ms_ += *ms;
      continue;
    }
    for (size_t code = 0; code < group_ms_[block.group].size(); ++code) {
      supernet::SetGroupCombination(space_, group_genes_[block.group], code, &arch);
      absl::StatusOr<double> ms = lookup(block.name, supernet::GroupChoice(space_, arch, block.group));
      if (!ms.ok()) return ms.status();
      group_ms_[block.group][code] += *ms;
    }
  }
  for (const supernet::LatencyEntry& e : table->entries) {
    if (!known_blocks.count(e.block)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ": entry for block ", e.block, ", which space ", space_.name(), " lacks"));
    }
  }

  // Correction features: the sum, then one count per (dimension, option).
  feature_names_ = {kSumFeature};
  gene_feature_offset_.clear();
  std::map<std::string, int> dimension_offset;
  for (const supernet::Gene& gene : space_.genes()) {
    const std::string dim = Dimension(gene.name);
    auto it = dimension_offset.find(dim);
    if (it == dimension_offset.end()) {
      it = dimension_offset.emplace(dim, static_cast<int>(feature_names_.size())).first;
      for (const std::string& option : gene.options) feature_names_.push_back(absl::StrCat("count:", dim, "=", option));
    }
    gene_feature_offset_.push_back(it->second);
  }
  gene_onehot_offset_.clear();
  for (const supernet::Gene& gene : space_.genes()) {
    gene_onehot_offset_.push_back(static_cast<int>(feature_names_.size()));
    for (const std::string& option : gene.options) feature_names_.push_back(absl::StrCat(gene.name, "=", option));
  }
  if (lut_.has_correction && lut_.correction.features != feature_names_) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_, ": correction.features [", absl::StrJoin(lut_.correction.features, ", "),
        "] do not match this space's [", absl::StrJoin(feature_names_, ", "), "]"));
  }
  FoldCorrection();
  return absl::OkStatus();
}

void LutLatencyModel::FoldCorrection() {
  std::vector<double> w(feature_names_.size(), 0.0);
  double intercept = 0;
  if (lut_.has_correction) {
    w = lut_.correction.weights;
    intercept = lut_.correction.intercept;
  }
  const double scale = 1.0 + w[0];
  base_ms_ = scale * fixed_ms_ + intercept;
  predicted_ = group_ms_;
  supernet::Architecture arch;
  arch.genes.assign(space_.genes().size(), 0);
  for (size_t g = 0; g < group_genes_.size(); ++g) {
    for (size_t code = 0; code < predicted_[g].size(); ++code) {
      supernet::SetGroupCombination(space_, group_genes_[g], code, &arch);
      double v = scale * group_ms_[g][code];
      for (int gene : group_genes_[g]) {
        v += w[gene_feature_offset_[gene] + arch.genes[gene]] + w[gene_onehot_offset_[gene] + arch.genes[gene]];
      }
      predicted_[g][code] = v;
    }
  }
}

std::vector<std::string> LutLatencyModel::FeatureNames() const { return feature_names_; }

std::vector<double> LutLatencyModel::Features(const supernet::Architecture& arch) const {
  std::vector<double> f(feature_names_.size(), 0.0);
  f[0] = TableSumMs(arch);
  for (size_t gene = 0; gene < arch.genes.size(); ++gene) {
    f[gene_feature_offset_[gene] + arch.genes[gene]] += 1;
    f[gene_onehot_offset_[gene] + arch.genes[gene]] = 1;
  }
  return f;
}

absl::Status LutLatencyModel::CheckDevice(const std::string& device) const {
  if (device == lut_.device) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", device, "': ", source_, " measures device '", lut_.device, "'"));
}

double LutLatencyModel::TableSumMs(const supernet::Architecture& arch) const {
  double ms = fixed_ms_;
  for (size_t g = 0; g < group_ms_.size(); ++g) ms += group_ms_[g][GroupCode(arch, static_cast<int>(g))];
  return ms;
}

double LutLatencyModel::PredictMs(const supernet::Architecture& arch) const {
  double ms = base_ms_;
  for (size_t g = 0; g < predicted_.size(); ++g) ms += predicted_[g][GroupCode(arch, static_cast<int>(g))];
  return ms;
}

absl::StatusOr<double> LutLatencyModel::LatencyMs(const supernet::Architecture& arch,
                                                  const std::string& device) const {
  if (absl::Status s = CheckDevice(device); !s.ok()) return s;
  if (absl::Status s = space_.Validate(arch); !s.ok()) return s;
  return PredictMs(arch);
}

absl::StatusOr<LatencyModel::Extremes> LutLatencyModel::Range(const std::string& device) const {
  if (absl::Status s = CheckDevice(device); !s.ok()) return s;
  Extremes e;
  e.argmin.genes.assign(space_.genes().size(), 0);
  e.argmax.genes.assign(space_.genes().size(), 0);
  e.min_ms = e.max_ms = base_ms_;
  for (size_t g = 0; g < predicted_.size(); ++g) {
    size_t lo = 0, hi = 0;
    for (size_t code = 1; code < predicted_[g].size(); ++code) {
      if (predicted_[g][code] < predicted_[g][lo]) lo = code;
      if (predicted_[g][code] > predicted_[g][hi]) hi = code;
    }
    e.min_ms += predicted_[g][lo];
    e.max_ms += predicted_[g][hi];
    supernet::SetGroupCombination(space_, group_genes_[g], lo, &e.argmin);
    supernet::SetGroupCombination(space_, group_genes_[g], hi, &e.argmax);
  }
  return e;
}

absl::Status LutLatencyModel::FitCorrection(const std::vector<supernet::Architecture>& archs,
                                            const std::vector<double>& measured_ms) {
  constexpr int kFolds = 5;
  if (archs.size() != measured_ms.size()) {
    return absl::InvalidArgumentError(absl::StrCat(archs.size(), " architectures but ",
                                                   measured_ms.size(), " measurements"));
  }
  if (archs.size() < static_cast<size_t>(kFolds)) {
    return absl::InvalidArgumentError(absl::StrCat("the correction needs at least ", kFolds,
                                                   " measured subnets, got ", archs.size()));
  }
  const int64_t n = static_cast<int64_t>(archs.size());
  const int64_t d = static_cast<int64_t>(feature_names_.size());
  torch::Tensor x = torch::empty({n, d}, torch::kFloat64);
  torch::Tensor residual = torch::empty({n}, torch::kFloat64);
  std::vector<double> sums(n);
  for (int64_t i = 0; i < n; ++i) {
    if (!(measured_ms[i] > 0) || !std::isfinite(measured_ms[i])) {
      return absl::InvalidArgumentError(absl::StrCat("measurement ", i, " is not a positive latency"));
    }
    const std::vector<double> f = Features(archs[i]);
    for (int64_t k = 0; k < d; ++k) x[i][k] = f[k];
    sums[i] = f[0];
    residual[i] = measured_ms[i] - f[0];
  }
  const torch::Tensor mean = x.mean(0);
  torch::Tensor std = x.std(0, /*unbiased=*/false);
  std = torch::where(std > 1e-12, std, torch::ones_like(std));
  const torch::Tensor xs = (x - mean) / std;

  // Candidate feature sets: the sum and the counts, and those plus the per-layer
  // indicators. Each is fitted with every penalty of the grid, scored by 5-fold
  // cross-validated MAPE, and the best wins, unless the plain sum does better.
  std::vector<int64_t> small_set, full_set;
  for (int64_t k = 0; k < d; ++k) {
    full_set.push_back(k);
    if (k == 0 || absl::StartsWith(feature_names_[k], "count:")) small_set.push_back(k);
  }
  auto cross_validated_mape = [&](const torch::Tensor& columns, double lambda) {
    const torch::Tensor xc = xs.index_select(1, columns);
    std::vector<double> predicted(n);
    for (int fold = 0; fold < kFolds; ++fold) {
      std::vector<int64_t> train, test;
      for (int64_t i = 0; i < n; ++i) (i % kFolds == fold ? test : train).push_back(i);
      const torch::Tensor tr = torch::tensor(train), te = torch::tensor(test);
      const RidgeSolution s = SolveRidge(xc.index_select(0, tr), residual.index_select(0, tr), lambda);
      const torch::Tensor p = (xc.index_select(0, te) - s.x_mean).mv(s.weights) + s.y_mean;
      for (size_t j = 0; j < test.size(); ++j) predicted[test[j]] = sums[test[j]] + p[j].item<double>();
    }
    return ScorePredictions(predicted, measured_ms).mape;
  };
  const double sum_mape = ScorePredictions(sums, measured_ms).mape;
  double best_lambda = 0, best_mape = sum_mape;
  const std::vector<int64_t>* best_set = nullptr;
  for (const std::vector<int64_t>* set : {&small_set, &full_set}) {
    const torch::Tensor columns = torch::tensor(*set);
    for (double lambda : {0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0}) {
      const double mape = cross_validated_mape(columns, lambda);
      if (mape < best_mape) {
        best_mape = mape;
        best_lambda = lambda;
        best_set = set;
      }
    }
  }
  // Back to raw features: w = w_std / std, the intercept absorbs the means.
  torch::Tensor w = torch::zeros({d}, torch::kFloat64);
  double intercept = 0;
  if (best_set != nullptr) {
    const torch::Tensor columns = torch::tensor(*best_set);
    const RidgeSolution s = SolveRidge(xs.index_select(1, columns), residual, best_lambda);
    const torch::Tensor wc = s.weights / std.index_select(0, columns);
    w.index_copy_(0, columns, wc);
    intercept = s.y_mean - ((mean.index_select(0, columns) + s.x_mean * std.index_select(0, columns)) * wc)
                               .sum()
                               .item<double>();
  }
  supernet::LatencyCorrection& c = lut_.correction;
  c.features = feature_names_;
  c.weights.assign(w.data_ptr<double>(), w.data_ptr<double>() + d);
  c.intercept = intercept;
  c.lambda = best_lambda;
  c.samples = static_cast<int>(n);
  c.cv_mape = best_mape;
  c.cv_mape_sum = sum_mape;
  lut_.has_correction = true;
  FoldCorrection();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LatencyModel>> LoadLatencyModel(const supernet::SearchSpace& space,
                                                               const std::string& spec,
                                                               const std::string& field) {
  absl::StatusOr<std::pair<std::string, std::string>> parsed = ParseLatencySpec(spec, field);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<std::unique_ptr<LatencyModel>> model;
  if (parsed->first == "table") {
    auto table = LatencyTable::Load(space, parsed->second);
    if (table.ok()) model = std::unique_ptr<LatencyModel>(*std::move(table));
    else model = table.status();
  } else {
    auto lut = LutLatencyModel::Load(space, parsed->second);
    if (lut.ok()) model = std::unique_ptr<LatencyModel>(*std::move(lut));
    else model = lut.status();
  }
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat(field, ": ", model.status().message()));
  }
  return model;
}

}  // namespace nas::search
