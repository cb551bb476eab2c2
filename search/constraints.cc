#include "search/constraints.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nas::search {
namespace {

constexpr int kUniformTries = 64;
constexpr int kRepairMoves = 256;

double MetricOf(const supernet::CostSummary& cost, const std::string& metric) {
  return metric == "flops" ? static_cast<double>(cost.flops) : static_cast<double>(cost.params);
}

std::string Human(double v) {
  if (std::abs(v) >= 1e9) return absl::StrFormat("%.4gG", v / 1e9);
  if (std::abs(v) >= 1e6) return absl::StrFormat("%.4gM", v / 1e6);
  if (std::abs(v) >= 1e3) return absl::StrFormat("%.4gK", v / 1e3);
  return absl::StrFormat("%.4g", v);
}

}  // namespace

std::string Constraint::ToString() const {
  return absl::StrCat(metric, upper ? "<=" : ">=", Human(bound));
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
        absl::StrCat("--constraint '", text, "': expected METRIC<=VALUE or METRIC>=VALUE, e.g. flops<=300M"));
  }
  c.metric = absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(0, op)));
  if (c.metric != "flops" && c.metric != "params") {
    return absl::InvalidArgumentError(absl::StrCat("--constraint '", text, "': metric '", c.metric,
                                                   "' is not one of flops, params"));
  }
  std::string value(absl::StripAsciiWhitespace(t.substr(op + 2)));
  double scale = 1;
  if (!value.empty()) {
    const char suffix = absl::ascii_toupper(value.back());
    if (suffix == 'K' || suffix == 'M' || suffix == 'G') {
      scale = suffix == 'K' ? 1e3 : suffix == 'M' ? 1e6 : 1e9;
      value.pop_back();
    }
  }
  double number = 0;
  if (!absl::SimpleAtod(value, &number) || !std::isfinite(number) || number < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--constraint '", text, "': bound '",
                                                   t.substr(op + 2), "' is not a non-negative number"));
  }
  c.bound = number * scale;
  return c;
}

absl::Status CheckReachable(const supernet::SearchSpace& space,
                            const std::vector<Constraint>& constraints) {
  for (const Constraint& c : constraints) {
    const bool flops = c.metric == "flops";
    const supernet::SearchSpace::Extreme& lo = flops ? space.MinFlops() : space.MinParams();
    const supernet::SearchSpace::Extreme& hi = flops ? space.MaxFlops() : space.MaxParams();
    const double min_value = MetricOf(lo.cost, c.metric), max_value = MetricOf(hi.cost, c.metric);
    if (c.upper && c.bound < min_value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "constraint ", c.ToString(), " cannot be met: the smallest ", c.metric, " in space '",
          space.name(), "' is ", Human(min_value), " (", space.Format(lo.arch), ")"));
    }
    if (!c.upper && c.bound > max_value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "constraint ", c.ToString(), " cannot be met: the largest ", c.metric, " in space '",
          space.name(), "' is ", Human(max_value), " (", space.Format(hi.arch), ")"));
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

double Violation(const supernet::CostSummary& cost, const std::vector<Constraint>& constraints) {
  double total = 0;
  for (const Constraint& c : constraints) {
    const double v = MetricOf(cost, c.metric);
    const double denom = std::max(c.bound, 1.0);
    if (c.upper && v > c.bound) total += (v - c.bound) / denom;
    if (!c.upper && v < c.bound) total += (c.bound - v) / denom;
  }
  return total;
}

absl::StatusOr<supernet::Architecture> Repair(const supernet::SearchSpace& space,
                                              const std::vector<Constraint>& constraints,
                                              supernet::Architecture arch, Rng& rng) {
  double violation = Violation(space.Cost(arch), constraints);
  for (int move = 0; move < kRepairMoves && violation > 0; ++move) {
    const size_t g = rng.UniformInt(space.genes().size());
    const int options = static_cast<int>(space.genes()[g].options.size());
    std::vector<int> best;
    double best_violation = INFINITY;
    for (int o = 0; o < options; ++o) {
      arch.genes[g] = o;
      const double v = Violation(space.Cost(arch), constraints);
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

absl::StatusOr<supernet::Architecture> SampleFeasible(const supernet::SearchSpace& space,
                                                      const std::vector<Constraint>& constraints,
                                                      Rng& rng) {
  supernet::Architecture best;
  double best_violation = INFINITY;
  for (int t = 0; t < kUniformTries; ++t) {
    supernet::Architecture a = space.Sample(rng);
    const double v = Violation(space.Cost(a), constraints);
    if (v == 0) return a;
    if (v < best_violation) {
      best_violation = v;
      best = std::move(a);
    }
  }
  return Repair(space, constraints, std::move(best), rng);
}

}  // namespace nas::search
