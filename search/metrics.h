#ifndef NAS_SEARCH_METRICS_H_
#define NAS_SEARCH_METRICS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "supernet/architecture.h"
#include "supernet/search_space.h"

namespace nas::search {

// Latency (milliseconds, batch 1) of architectures on named devices. Implementations:
// LatencyTable (measured per architecture, any device) here; profiled block lookup
// tables with a learned correction come with the latency work. Thread-safe.
class LatencyModel {
 public:
  virtual ~LatencyModel() = default;
  // Identifies the model (for archives and logs).
  virtual std::string id() const = 0;
  virtual std::vector<std::string> devices() const = 0;
  // NotFound when the model has no figure for `arch`; InvalidArgument for an unknown device.
  virtual absl::StatusOr<double> LatencyMs(const supernet::Architecture& arch,
                                           const std::string& device) const = 0;
  // The smallest and largest latency the model gives on `device` over the whole space
  // (for a table: over its rows), with the architectures.
  struct Extremes {
    double min_ms = 0, max_ms = 0;
    supernet::Architecture argmin, argmax;
  };
  virtual absl::StatusOr<Extremes> Range(const std::string& device) const = 0;
  // The architectures the model knows, when it knows only some (a table); null when it
  // covers the whole space. Feasible sampling draws from here.
  virtual const std::vector<supernet::Architecture>* Support() const { return nullptr; }
};

// Per-architecture latencies: CSV whose header is `arch,DEVICE1,DEVICE2,...` and whose
// rows are architecture strings of the space followed by milliseconds. Lets a search target
// devices the engine cannot run on.
class LatencyTable : public LatencyModel {
 public:
  // Errors name the file, line and column.
  static absl::StatusOr<std::unique_ptr<LatencyTable>> Load(const supernet::SearchSpace& space,
                                                            const std::string& path);
  std::string id() const override { return "latency_table:" + path_; }
  std::vector<std::string> devices() const override { return devices_; }
  absl::StatusOr<double> LatencyMs(const supernet::Architecture& arch,
                                   const std::string& device) const override;
  absl::StatusOr<Extremes> Range(const std::string& device) const override;
  const std::vector<supernet::Architecture>* Support() const override { return &archs_; }
  size_t size() const { return rows_.size(); }

 private:
  absl::StatusOr<size_t> DeviceIndex(const std::string& device) const;
  std::string path_;
  std::vector<std::string> devices_;
  std::unordered_map<supernet::Architecture, std::vector<double>, supernet::ArchitectureHash> rows_;
  std::vector<supernet::Architecture> archs_;  // In file order.
};

// The cheap metrics of architectures: analytic "flops", "params", "bitops" and "size"
// (bytes) from the space's cost model and "latency@DEVICE" from an optional latency model. Metric names are checked once
// (CheckMetric); Value is then a lookup.
class MetricModel {
 public:
  explicit MetricModel(const supernet::SearchSpace& space, const LatencyModel* latency = nullptr)
      : space_(space), latency_(latency) {}
  const supernet::SearchSpace& space() const { return space_; }
  const LatencyModel* latency() const { return latency_; }

  // OK when `metric` can be computed; otherwise InvalidArgument that starts with `field`.
  absl::Status CheckMetric(const std::string& metric, const std::string& field) const;
  // NaN when the latency model has no figure for `arch`.
  double Value(const supernet::Architecture& arch, const std::string& metric) const;
  // Latencies of `arch` on every device the model knows (empty without a model).
  std::map<std::string, double> Latencies(const supernet::Architecture& arch) const;
  // See LatencyModel::Support; null without a latency model.
  const std::vector<supernet::Architecture>* Support() const {
    return latency_ == nullptr ? nullptr : latency_->Support();
  }

  struct Extremes {
    double min = 0, max = 0;
    supernet::Architecture argmin, argmax;
  };
  absl::StatusOr<Extremes> Range(const std::string& metric) const;

 private:
  const supernet::SearchSpace& space_;
  const LatencyModel* latency_;
};

// Splits a latency model spec, "table:PATH" (per-architecture CSV) or "lut:PATH" (a
// `nas profile` lookup table), into kind and path; InvalidArgument (starting with `field`)
// for anything else. search/latency_predictor.h loads both.
absl::StatusOr<std::pair<std::string, std::string>> ParseLatencySpec(const std::string& spec,
                                                                     const std::string& field);

// The space's analytic cost a metric name stands for: "flops", "params", "bitops"
// (weight MACs x weight bits x activation bits), "size" (parameter bytes at their
// bit-widths); nullopt for anything else.
std::optional<supernet::CostMetric> AnalyticMetric(const std::string& metric);

// The metric names a constraint or objective may use, for messages.
inline constexpr char kMetricNames[] = "flops, params, bitops, size, latency@DEVICE";

// "latency@cpu" -> "cpu"; empty for other metrics.
std::string LatencyDevice(const std::string& metric);

// Formats a metric value with its unit: 3.2M, 12.5ms, 840KB.
std::string FormatMetric(const std::string& metric, double value);

}  // namespace nas::search

#endif  // NAS_SEARCH_METRICS_H_
