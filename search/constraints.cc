#include "search/constraints.h"

#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nas::search {
namespace {

constexpr int kUniformTries = 64;
constexpr int kRepairMoves = 256;

}  // namespace

std::string Constraint::ToString() const {
  return absl::StrCat(metric, upper ? "<=" : ">=", FormatMetric(metric, bound));
}

std::string Objective::ToString() const {
  const bool natural = metric == "accuracy" ? maximize : !maximize;
  return natural ? metric : absl::StrCat(maximize ? "max:" : "min:", metric);
}

absl::StatusOr<Objective> ParseObjective(const std::string& text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  Objective o;
  int forced = -1;
  if (absl::StartsWith(t, "max:") || absl::StartsWith(t, "min:")) {
    forced = t[1] == 'a';
    t = t.substr(4);
  }
  const bool latency = absl::StartsWith(t, "latency@") && t.size() > 8;
  if (t != "accuracy" && !AnalyticMetric(t).has_value() && !latency) {
    return absl::InvalidArgumentError(absl::StrCat("objectives: '", text, "': not one of accuracy, ",
                                                   kMetricNames, " (optionally after max: or min:)"));
  }
  o.metric = t;
  o.maximize = forced >= 0 ? forced == 1 : t == "accuracy";
  return o;
}

absl::StatusOr<Constraint> ParseConstraint(const std::string& text) {
  const std::string t(absl::StripAsciiWhitespace(text));
  size_t op = t.find("<=");
  Constraint c;
  if (op == std::string::npos) {
    op = t.find(">=");
    c.upper = false;
  }
  if (op == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("constraints: '", text, "': expected METRIC<=VALUE or METRIC>=VALUE, e.g. flops<=300M"));
  }
  c.metric = absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(0, op)));
  const bool latency = absl::StartsWith(c.metric, "latency@") && c.metric.size() > 8;
  if (!AnalyticMetric(c.metric).has_value() && !latency) {
    return absl::InvalidArgumentError(absl::StrCat("constraints: '", text, "': metric '", c.metric,
                                                   "' is not one of ", kMetricNames));
  }
  std::string value(absl::StripAsciiWhitespace(t.substr(op + 2)));
  double scale = 1;
  if (latency) {
    if (absl::EndsWithIgnoreCase(value, "ms")) value = value.substr(0, value.size() - 2);
  } else if (c.metric == "size") {
    // Bytes: B, KB / MB (10^3, 10^6) or KiB / MiB (2^10, 2^20).
    for (const auto& [unit, factor] : std::vector<std::pair<std::string, double>>{
             {"kib", 1024.0}, {"mib", 1048576.0}, {"kb", 1e3}, {"mb", 1e6}, {"b", 1.0}}) {
      if (absl::EndsWithIgnoreCase(value, unit)) {
        scale = factor;
        value = std::string(absl::StripAsciiWhitespace(value.substr(0, value.size() - unit.size())));
        break;
      }
    }
  } else if (!value.empty()) {
    const char suffix = absl::ascii_toupper(value.back());
    if (suffix == 'K' || suffix == 'M' || suffix == 'G' || suffix == 'T') {
      scale = suffix == 'K' ? 1e3 : suffix == 'M' ? 1e6 : suffix == 'G' ? 1e9 : 1e12;
      value.pop_back();
    }
  }
  double number = 0;
  if (!absl::SimpleAtod(value, &number) || !std::isfinite(number) || number < 0) {
    return absl::InvalidArgumentError(absl::StrCat("constraints: '", text, "': bound '",
                                                   t.substr(op + 2), "' is not a non-negative number"));
  }
  c.bound = number * scale;
  return c;
}

absl::Status CheckReachable(const MetricModel& metrics, const std::vector<Constraint>& constraints) {
  const supernet::SearchSpace& space = metrics.space();
  for (const Constraint& c : constraints) {
    if (absl::Status s = metrics.CheckMetric(c.metric, absl::StrCat("constraints: ", c.ToString())); !s.ok()) {
      return s;
    }
    absl::StatusOr<MetricModel::Extremes> range = metrics.Range(c.metric);
    if (!range.ok()) return range.status();
    if (c.upper && c.bound < range->min) {
      return absl::InvalidArgumentError(absl::StrCat(
          "constraint ", c.ToString(), " cannot be met: the smallest ", c.metric, " in space '", space.name(),
          "' is ", FormatMetric(c.metric, range->min), " (", space.Format(range->argmin), ")"));
    }
    if (!c.upper && c.bound > range->max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "constraint ", c.ToString(), " cannot be met: the largest ", c.metric, " in space '", space.name(),
          "' is ", FormatMetric(c.metric, range->max), " (", space.Format(range->argmax), ")"));
    }
  }
  for (const Constraint& a : constraints) {
    for (const Constraint& b : constraints) {
      if (a.metric == b.metric && a.upper && !b.upper && b.bound > a.bound) {
        return absl::InvalidArgumentError(absl::StrCat("constraints ", a.ToString(), " and ",
                                                       b.ToString(), " leave no room"));
      }
    }
  }
  return absl::OkStatus();
}

std::vector<Constraint> MergeConstraints(const std::vector<Constraint>& constraints) {
  std::vector<Constraint> merged;
  std::map<std::pair<std::string, bool>, size_t> slot;
  for (const Constraint& c : constraints) {
    auto [it, inserted] = slot.emplace(std::make_pair(c.metric, c.upper), merged.size());
    if (inserted) {
      merged.push_back(c);
      continue;
    }
    Constraint& kept = merged[it->second];
    kept.bound = c.upper ? std::min(kept.bound, c.bound) : std::max(kept.bound, c.bound);
  }
  return merged;
}

double Violation(const MetricModel& metrics, const supernet::Architecture& arch,
                 const std::vector<Constraint>& constraints) {
  double total = 0;
  for (const Constraint& c : constraints) {
    const double v = metrics.Value(arch, c.metric);
    if (std::isnan(v)) return 1e9;
    const double denom = std::max(c.bound, 1e-9);
    if (c.upper && v > c.bound) total += (v - c.bound) / denom;
    if (!c.upper && v < c.bound) total += (c.bound - v) / denom;
  }
  return total;
}

absl::StatusOr<supernet::Architecture> Repair(const MetricModel& metrics,
                                              const std::vector<Constraint>& constraints,
                                              supernet::Architecture arch, Rng& rng) {
  const supernet::SearchSpace& space = metrics.space();
  double violation = Violation(metrics, arch, constraints);
  for (int move = 0; move < kRepairMoves && violation > 0; ++move) {
    const size_t g = rng.UniformInt(space.genes().size());
    const int options = static_cast<int>(space.genes()[g].options.size());
    std::vector<int> best;
    double best_violation = INFINITY;
    for (int o = 0; o < options; ++o) {
      arch.genes[g] = o;
      const double v = Violation(metrics, arch, constraints);
      if (v < best_violation - 1e-15) {
        best_violation = v;
        best = {o};
      } else if (std::abs(v - best_violation) <= 1e-15) {
        best.push_back(o);
      }
    }
    arch.genes[g] = best[rng.UniformInt(best.size())];
    violation = best_violation;
  }
  if (violation > 0) {
    return absl::FailedPreconditionError("no feasible architecture found within the repair bound");
  }
  return arch;
}

absl::Status CheckAlgorithmName(const std::string& algorithm, const std::string& field) {
  if (algorithm == "random" || algorithm == "evolution" || algorithm == "aging" || algorithm == "nsga2" ||
      algorithm == "predictor") {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", algorithm, "' is not one of random, evolution, aging, nsga2, predictor"));
}

absl::Status CheckPredictorName(const std::string& predictor, const std::string& field) {
  if (predictor == "mlp_ensemble" || predictor == "ridge") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": '", predictor, "' is not one of mlp_ensemble, ridge"));
}

absl::StatusOr<supernet::Architecture> SampleFeasible(const MetricModel& metrics,
                                                      const std::vector<Constraint>& constraints, Rng& rng) {
  const supernet::SearchSpace& space = metrics.space();
  const std::vector<supernet::Architecture>* support = metrics.Support();
  supernet::Architecture best;
  double best_violation = INFINITY;
  for (int t = 0; t < kUniformTries; ++t) {
    supernet::Architecture a = support ? (*support)[rng.UniformInt(support->size())] : space.Sample(rng);
    const double v = Violation(metrics, a, constraints);
    if (v == 0) return a;
    if (v < best_violation) {
      best_violation = v;
      best = std::move(a);
    }
  }
  if (support != nullptr) {
    // A table: pick uniformly among its feasible rows (one bounded pass).
    std::vector<size_t> feasible;
    for (size_t i = 0; i < support->size(); ++i) {
      if (Violation(metrics, (*support)[i], constraints) == 0) feasible.push_back(i);
    }
    if (feasible.empty()) return absl::FailedPreconditionError("no architecture in the table meets the constraints");
    return (*support)[feasible[rng.UniformInt(feasible.size())]];
  }
  return Repair(metrics, constraints, std::move(best), rng);
}

}  // namespace nas::search
