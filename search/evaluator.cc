#include "search/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <tbb/parallel_for.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "search/arch_table.h"
#include "supernet/file_util.h"

namespace nas::search {

absl::Status AccuracyEvaluator::AccuracyBatch(const supernet::SearchSpace& space,
                                              const std::vector<supernet::Architecture>& archs,
                                              std::vector<double>* accuracies, std::vector<double>* seconds) const {
  accuracies->assign(archs.size(), 0.0);
  seconds->assign(archs.size(), 0.0);
  std::vector<absl::Status> statuses(archs.size());
  tbb::parallel_for(size_t{0}, archs.size(), [&](size_t k) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<double> accuracy = Accuracy(archs[k]);
    (*seconds)[k] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (accuracy.ok()) {
      (*accuracies)[k] = *accuracy;
    } else {
      statuses[k] = accuracy.status();
    }
  });
  for (size_t k = 0; k < archs.size(); ++k) {
    if (!statuses[k].ok()) {
      return absl::Status(statuses[k].code(), absl::StrCat(space.Format(archs[k]), ": ", statuses[k].message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Nb201TableEvaluator>> Nb201TableEvaluator::Create(
    std::shared_ptr<const supernet::Nb201Table> table, const std::string& column) {
  if (column != "cifar10" && column != "cifar100" && column != "imagenet16") {
    return absl::InvalidArgumentError(
        absl::StrCat("table column '", column, "' is not one of cifar10, cifar100, imagenet16"));
  }
  return std::unique_ptr<Nb201TableEvaluator>(new Nb201TableEvaluator(std::move(table), column));
}

absl::StatusOr<double> Nb201TableEvaluator::Accuracy(const supernet::Architecture& arch) const {
  const int index = table_->IndexOf(arch);
  if (index < 0) return absl::NotFoundError("architecture is not in the NAS-Bench-201 table");
  const supernet::Nb201Table::Row& row = table_->rows()[index];
  if (column_ == "cifar10") return row.cifar10_test;
  if (column_ == "cifar100") return row.cifar100_test;
  return row.imagenet16_test;
}

absl::StatusOr<std::unique_ptr<TableEvaluator>> TableEvaluator::Load(
    const supernet::SearchSpace& space, const std::string& path, const std::string& column) {
  auto table = std::make_unique<TableEvaluator>();
  table->path_ = path;
  table->column_ = column;
  auto add = [&](const std::string& where, absl::string_view arch_text, double value) -> absl::Status {
    absl::StatusOr<supernet::Architecture> arch = space.Parse(arch_text);
    if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat(where, arch.status().message()));
    if (!table->values_.emplace(*arch, value).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "architecture listed twice"));
    }
    return absl::OkStatus();
  };
  if (absl::EndsWith(path, ".json")) {
    absl::StatusOr<std::string> text = ReadFileBytes(path);
    if (!text.ok()) return text.status();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(*text);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON: ", e.what()));
    }
    if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
    for (const auto& [arch_text, metrics] : j.items()) {
      const std::string where = absl::StrCat(path, ": \"", arch_text, "\": ");
      if (!metrics.is_object() || !metrics.contains(column) || !metrics[column].is_number()) {
        return absl::InvalidArgumentError(absl::StrCat(where, "no numeric '", column, "'"));
      }
      if (absl::Status s = add(where, arch_text, metrics[column].get<double>()); !s.ok()) return s;
    }
  } else {
    absl::StatusOr<ArchTable> csv = LoadArchTableCsv(space, path);
    if (!csv.ok()) return csv.status();
    absl::StatusOr<size_t> index = csv->ColumnIndex(path, column);
    if (!index.ok()) return index.status();
    for (auto& [arch, values] : csv->rows) table->values_.emplace(arch, values[*index]);
  }
  return table;
}

absl::StatusOr<double> TableEvaluator::Accuracy(const supernet::Architecture& arch) const {
  auto it = values_.find(arch);
  if (it == values_.end() || std::isnan(it->second)) {
    return absl::NotFoundError(absl::StrCat("architecture has no ", column_, " in ", path_));
  }
  return it->second;
}

absl::StatusOr<std::unique_ptr<SubspaceEvaluator>> SubspaceEvaluator::Create(
    std::shared_ptr<const supernet::SearchSpace> sub, std::shared_ptr<const supernet::SearchSpace> full,
    std::unique_ptr<AccuracyEvaluator> inner) {
  const auto& sg = sub->genes();
  const auto& fg = full->genes();
  if (sg.size() != fg.size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", sub->name(), "' has ", sg.size(), " genes, '", full->name(),
                                                   "' has ", fg.size()));
  }
  std::unique_ptr<SubspaceEvaluator> e(new SubspaceEvaluator());
  for (size_t g = 0; g < sg.size(); ++g) {
    if (sg[g].name != fg[g].name) {
      return absl::InvalidArgumentError(absl::StrCat("gene ", g, " is ", sg[g].name, " in '", sub->name(), "' but ",
                                                     fg[g].name, " in '", full->name(), "'"));
    }
    std::vector<int> map;
    for (const std::string& option : sg[g].options) {
      auto it = std::find(fg[g].options.begin(), fg[g].options.end(), option);
      if (it == fg[g].options.end()) {
        return absl::InvalidArgumentError(absl::StrCat(sg[g].name, ": option ", option, " is not one of '",
                                                       full->name(), "'s (", absl::StrJoin(fg[g].options, ", "), ")"));
      }
      map.push_back(static_cast<int>(it - fg[g].options.begin()));
    }
    e->option_map_.push_back(std::move(map));
  }
  e->sub_ = std::move(sub);
  e->full_ = std::move(full);
  e->inner_ = std::move(inner);
  // Same skeleton: the extremes and a few random architectures cost the same in both.
  Rng rng(1);
  std::vector<supernet::Architecture> probes = {e->sub_->MinFlops().arch, e->sub_->MaxFlops().arch};
  for (int i = 0; i < 8; ++i) probes.push_back(e->sub_->Sample(rng));
  for (const supernet::Architecture& a : probes) {
    const supernet::CostSummary s = e->sub_->Cost(a), f = e->full_->Cost(e->ToFull(a));
    if (s.flops != f.flops || s.params != f.params || s.bitops != f.bitops || s.size_bytes != f.size_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("architecture ", e->sub_->Format(a), " costs ", s.flops,
                                                     " FLOPs and ", s.params, " params in '", e->sub_->name(),
                                                     "' but ", f.flops, " and ", f.params, " in '",
                                                     e->full_->name(), "' (a different skeleton)"));
    }
  }
  return e;
}

supernet::Architecture SubspaceEvaluator::ToFull(const supernet::Architecture& arch) const {
  supernet::Architecture full = arch;
  for (size_t g = 0; g < option_map_.size(); ++g) full.genes[g] = option_map_[g][arch.genes[g]];
  return full;
}

std::vector<ScoredArchitecture> SubspaceEvaluator::Prescored() const {
  std::vector<ScoredArchitecture> out;
  for (ScoredArchitecture& s : inner_->Prescored()) {
    supernet::Architecture sub = s.arch;
    bool inside = sub.genes.size() == option_map_.size();
    for (size_t g = 0; inside && g < option_map_.size(); ++g) {
      const auto it = std::find(option_map_[g].begin(), option_map_[g].end(), s.arch.genes[g]);
      inside = it != option_map_[g].end();
      if (inside) sub.genes[g] = static_cast<int>(it - option_map_[g].begin());
    }
    if (inside) out.push_back({std::move(sub), s.accuracy});
  }
  return out;
}

absl::StatusOr<double> SubspaceEvaluator::Accuracy(const supernet::Architecture& arch) const {
  return inner_->Accuracy(ToFull(arch));
}

absl::Status SubspaceEvaluator::AccuracyBatch(const supernet::SearchSpace& space,
                                              const std::vector<supernet::Architecture>& archs,
                                              std::vector<double>* accuracies, std::vector<double>* seconds) const {
  (void)space;
  std::vector<supernet::Architecture> full;
  full.reserve(archs.size());
  for (const supernet::Architecture& a : archs) full.push_back(ToFull(a));
  return inner_->AccuracyBatch(*full_, full, accuracies, seconds);
}

}  // namespace nas::search
