#include "search/metrics.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "search/arch_table.h"

namespace nas::search {

absl::StatusOr<std::unique_ptr<LatencyTable>> LatencyTable::Load(const supernet::SearchSpace& space,
                                                                 const std::string& path) {
  absl::StatusOr<ArchTable> csv = LoadArchTableCsv(space, path);
  if (!csv.ok()) return csv.status();
  if (csv->rows.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no rows"));
  auto table = std::unique_ptr<LatencyTable>(new LatencyTable());
  table->path_ = path;
  table->devices_ = csv->columns;
  for (size_t r = 0; r < csv->rows.size(); ++r) {
    for (size_t c = 0; c < csv->columns.size(); ++c) {
      const double v = csv->rows[r].second[c];
      if (!std::isnan(v) && !(v > 0 && std::isfinite(v))) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": row ", r + 1, ": ", csv->columns[c], ": latency must be positive"));
      }
    }
    table->rows_.emplace(csv->rows[r].first, csv->rows[r].second);
    table->archs_.push_back(csv->rows[r].first);
  }
  return table;
}

absl::StatusOr<size_t> LatencyTable::DeviceIndex(const std::string& device) const {
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (devices_[i] == device) return i;
  }
  return absl::InvalidArgumentError(absl::StrCat("device '", device, "' is not in ", path_, " (devices: ",
                                                 absl::StrJoin(devices_, ", "), ")"));
}

absl::StatusOr<double> LatencyTable::LatencyMs(const supernet::Architecture& arch,
                                               const std::string& device) const {
  absl::StatusOr<size_t> index = DeviceIndex(device);
  if (!index.ok()) return index.status();
  auto it = rows_.find(arch);
  if (it == rows_.end() || std::isnan(it->second[*index])) {
    return absl::NotFoundError(absl::StrCat("no ", device, " latency in ", path_));
  }
  return it->second[*index];
}

absl::StatusOr<LatencyModel::Extremes> LatencyTable::Range(const std::string& device) const {
  absl::StatusOr<size_t> index = DeviceIndex(device);
  if (!index.ok()) return index.status();
  Extremes e;
  e.min_ms = INFINITY;
  e.max_ms = -INFINITY;
  for (const auto& [arch, values] : rows_) {
    const double v = values[*index];
    if (std::isnan(v)) continue;
    // Ties broken by the architecture, so the result does not depend on hash order.
    if (v < e.min_ms || (v == e.min_ms && arch < e.argmin)) e.min_ms = v, e.argmin = arch;
    if (v > e.max_ms || (v == e.max_ms && arch < e.argmax)) e.max_ms = v, e.argmax = arch;
  }
  if (!std::isfinite(e.min_ms)) return absl::NotFoundError(absl::StrCat("no ", device, " latency in ", path_));
  return e;
}

std::string LatencyDevice(const std::string& metric) {
  return absl::StartsWith(metric, "latency@") ? metric.substr(8) : std::string();
}

std::optional<supernet::CostMetric> AnalyticMetric(const std::string& metric) {
  if (metric == "flops") return supernet::CostMetric::kFlops;
  if (metric == "params") return supernet::CostMetric::kParams;
  if (metric == "bitops") return supernet::CostMetric::kBitOps;
  if (metric == "size") return supernet::CostMetric::kSizeBytes;
  return std::nullopt;
}

std::string FormatMetric(const std::string& metric, double value) {
  if (!LatencyDevice(metric).empty()) return absl::StrFormat("%.4gms", value);
  if (metric == "accuracy") return absl::StrFormat("%.2f%%", value);
  if (metric == "size") {
    if (std::abs(value) >= 1e6) return absl::StrFormat("%.4gMB", value / 1e6);
    if (std::abs(value) >= 1e3) return absl::StrFormat("%.4gKB", value / 1e3);
    return absl::StrFormat("%.4gB", value);
  }
  if (std::abs(value) >= 1e12) return absl::StrFormat("%.4gT", value / 1e12);
  if (std::abs(value) >= 1e9) return absl::StrFormat("%.4gG", value / 1e9);
  if (std::abs(value) >= 1e6) return absl::StrFormat("%.4gM", value / 1e6);
  if (std::abs(value) >= 1e3) return absl::StrFormat("%.4gK", value / 1e3);
  return absl::StrFormat("%.4g", value);
}

absl::Status MetricModel::CheckMetric(const std::string& metric, const std::string& field) const {
  if (AnalyticMetric(metric).has_value()) return absl::OkStatus();
  const std::string device = LatencyDevice(metric);
  if (device.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": metric '", metric, "' is not one of ", kMetricNames));
  }
  if (latency_ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", metric, " needs a latency model (--latency table:PATH)"));
  }
  if (absl::StatusOr<LatencyModel::Extremes> r = latency_->Range(device); !r.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", r.status().message()));
  }
  return absl::OkStatus();
}

double MetricModel::Value(const supernet::Architecture& arch, const std::string& metric) const {
  if (std::optional<supernet::CostMetric> cost = AnalyticMetric(metric)) {
    return static_cast<double>(supernet::CostValue(space_.Cost(arch), *cost));
  }
  if (latency_ == nullptr) return NAN;
  absl::StatusOr<double> ms = latency_->LatencyMs(arch, LatencyDevice(metric));
  return ms.ok() ? *ms : NAN;
}

std::map<std::string, double> MetricModel::Latencies(const supernet::Architecture& arch) const {
  std::map<std::string, double> out;
  if (latency_ == nullptr) return out;
  for (const std::string& device : latency_->devices()) {
    if (absl::StatusOr<double> ms = latency_->LatencyMs(arch, device); ms.ok()) out[device] = *ms;
  }
  return out;
}

absl::StatusOr<MetricModel::Extremes> MetricModel::Range(const std::string& metric) const {
  if (absl::Status s = CheckMetric(metric, "metric"); !s.ok()) return s;
  Extremes e;
  if (std::optional<supernet::CostMetric> cost = AnalyticMetric(metric)) {
    const supernet::SearchSpace::Extreme& lo = space_.Min(*cost);
    const supernet::SearchSpace::Extreme& hi = space_.Max(*cost);
    e.min = static_cast<double>(supernet::CostValue(lo.cost, *cost));
    e.max = static_cast<double>(supernet::CostValue(hi.cost, *cost));
    e.argmin = lo.arch;
    e.argmax = hi.arch;
    return e;
  }
  absl::StatusOr<LatencyModel::Extremes> r = latency_->Range(LatencyDevice(metric));
  if (!r.ok()) return r.status();
  e.min = r->min_ms;
  e.max = r->max_ms;
  e.argmin = r->argmin;
  e.argmax = r->argmax;
  return e;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseLatencySpec(const std::string& spec,
                                                                     const std::string& field) {
  for (const char* kind : {"table", "lut"}) {
    const std::string prefix = absl::StrCat(kind, ":");
    if (absl::StartsWith(spec, prefix) && spec.size() > prefix.size()) {
      return std::make_pair(std::string(kind), spec.substr(prefix.size()));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": '", spec, "' is neither table:PATH (per-architecture latency CSV) nor lut:PATH "
      "(lookup table written by nas profile)"));
}

}  // namespace nas::search
