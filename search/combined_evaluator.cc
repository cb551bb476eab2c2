#include "search/combined_evaluator.h"

#include <cmath>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>

#include <tbb/parallel_for.h>

#include "absl/strings/str_cat.h"
#include "supernet/random.h"

namespace nas::search {

absl::StatusOr<std::unique_ptr<CombinedEvaluator>> CombinedEvaluator::Create(
    std::shared_ptr<const supernet::SearchSpace> space, std::vector<ScoreComponent> components,
    int reference_size, uint64_t seed, std::string id, const std::function<bool()>& should_stop,
    const std::function<void(int, int)>& on_progress) {
  if (components.empty()) return absl::InvalidArgumentError("a combination needs at least one component");
  if (reference_size < 2 || reference_size > 100000) {
    return absl::InvalidArgumentError(absl::StrCat("reference size must be in [2, 100000], got ", reference_size));
  }
  for (const ScoreComponent& c : components) {
    if (!(c.weight > 0)) return absl::InvalidArgumentError(absl::StrCat(c.name, ": weight must be positive"));
  }
  std::unique_ptr<CombinedEvaluator> e(new CombinedEvaluator());
  e->space_ = std::move(space);
  e->components_ = std::move(components);
  e->id_ = std::move(id);
  // Distinct architectures where the space has enough; bounded draws either way.
  Rng rng(seed);
  std::vector<supernet::Architecture> archs;
  std::set<supernet::Architecture> seen;
  for (int draws = 0; static_cast<int>(archs.size()) < reference_size && draws < 20 * reference_size; ++draws) {
    supernet::Architecture a = e->space_->Sample(rng);
    if (seen.insert(a).second) archs.push_back(std::move(a));
  }
  while (static_cast<int>(archs.size()) < reference_size) archs.push_back(e->space_->Sample(rng));
  const size_t n = archs.size(), k = e->components_.size();
  std::vector<std::vector<double>> values(k, std::vector<double>(n));
  std::vector<absl::Status> errors(n);
  std::mutex progress_mu;
  int scored = 0;
  std::atomic<bool> stopped{false};
  tbb::parallel_for(size_t{0}, n, [&](size_t i) {
    if (should_stop && should_stop()) {
      stopped = true;
      return;
    }
    for (size_t c = 0; c < k; ++c) {
      absl::StatusOr<double> v = e->components_[c].score(archs[i]);
      if (!v.ok()) {
        errors[i] = absl::Status(v.status().code(), absl::StrCat(e->components_[c].name, ": ",
                                                                 e->space_->Format(archs[i]), ": ", v.status().message()));
        return;
      }
      values[c][i] = *v;
    }
    std::lock_guard<std::mutex> lock(progress_mu);
    ++scored;
    if (on_progress) on_progress(scored, static_cast<int>(n));
  });
  for (const absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  if (stopped) {
    return absl::CancelledError(
        absl::StrCat("stopped while scoring the reference sample (", scored, " of ", n, " architectures scored)"));
  }
  std::vector<std::vector<double>> sorted = values;
  for (auto& v : sorted) std::sort(v.begin(), v.end());
  e->reference_ = std::move(sorted);
  std::set<supernet::Architecture> listed;
  for (size_t i = 0; i < n; ++i) {
    if (!listed.insert(archs[i]).second) continue;  // A small space repeats architectures.
    std::vector<double> raw(k);
    for (size_t c = 0; c < k; ++c) raw[c] = values[c][i];
    e->prescored_.push_back({archs[i], e->Combine(raw)});
  }
  return e;
}

absl::StatusOr<std::unique_ptr<CombinedEvaluator>> CombinedEvaluator::WithComponents(
    std::vector<ScoreComponent> components, std::string id) const {
  if (components.size() != components_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("a refined combination needs ", components_.size(),
                                                   " components, got ", components.size()));
  }
  std::unique_ptr<CombinedEvaluator> e(new CombinedEvaluator());
  e->space_ = space_;
  e->components_ = std::move(components);
  e->reference_ = reference_;
  e->id_ = std::move(id);
  return e;
}

double CombinedEvaluator::Percentile(const std::vector<double>& ref, double value) {
  const size_t n = ref.size();
  if (n == 0) return 0.5;
  // Reference point j sits at (j + 0.5) / n; a run of equal values shares their mean.
  const auto lower = std::lower_bound(ref.begin(), ref.end(), value);
  const auto upper = std::upper_bound(ref.begin(), ref.end(), value);
  const size_t lo = lower - ref.begin(), hi = upper - ref.begin();
  if (lo != hi) return (0.5 * (lo + hi)) / n;  // Equal to reference values: their mid-rank.
  // Beyond the reference range: the outer half-step (0.5 / n) shrinks exponentially with
  // the distance past the extreme, in units of the mean spacing of the last few reference
  // values. Continuous and strictly increasing, never reaching 0 or 1, so candidates past
  // every reference value are still told apart (in their order) instead of tying.
  if (lo == 0 || lo == n) {
    const size_t k = std::min<size_t>(5, n - 1);
    double scale = lo == 0 ? (ref[k] - ref[0]) / std::max<size_t>(k, 1) : (ref[n - 1] - ref[n - 1 - k]) / std::max<size_t>(k, 1);
    if (!(scale > 0)) scale = n > 1 ? (ref[n - 1] - ref[0]) / (n - 1) : 0;
    if (!(scale > 0)) scale = std::max(std::abs(ref[0]), 1e-12);
    const double distance = lo == 0 ? ref[0] - value : value - ref[n - 1];
    const double tail = 0.5 / n * std::exp(-distance / scale);
    return lo == 0 ? tail : 1.0 - tail;
  }
  const double a = ref[lo - 1], b = ref[lo];
  const double t = (value - a) / (b - a);
  return (lo - 0.5 + t) / n;
}

absl::StatusOr<std::vector<double>> CombinedEvaluator::RawScores(const supernet::Architecture& arch) const {
  std::vector<double> raw(components_.size());
  for (size_t c = 0; c < components_.size(); ++c) {
    absl::StatusOr<double> v = components_[c].score(arch);
    if (!v.ok()) return absl::Status(v.status().code(), absl::StrCat(components_[c].name, ": ", v.status().message()));
    raw[c] = *v;
  }
  return raw;
}

double CombinedEvaluator::Combine(const std::vector<double>& raw) const {
  double sum = 0, weights = 0;
  for (size_t c = 0; c < components_.size(); ++c) {
    sum += components_[c].weight * Percentile(reference_[c], raw[c]);
    weights += components_[c].weight;
  }
  return 100.0 * sum / weights;
}

absl::StatusOr<double> CombinedEvaluator::Accuracy(const supernet::Architecture& arch) const {
  absl::StatusOr<std::vector<double>> raw = RawScores(arch);
  if (!raw.ok()) return raw.status();
  return Combine(*raw);
}

}  // namespace nas::search
