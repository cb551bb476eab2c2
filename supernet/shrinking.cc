#include "supernet/shrinking.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nas::supernet {
namespace {

// The quantile of `q` in (0, 1) of "qNN"; 0 for "mean".
double QuantileOf(const std::string& method) {
  int nn = 0;
  if (method.size() == 3 && method[0] == 'q' && absl::SimpleAtoi(method.substr(1), &nn) && nn >= 1 && nn <= 99) {
    return nn / 100.0;
  }
  return 0;
}

double Quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

absl::Status ValidateScoreMethod(const std::string& method, const std::string& field) {
  if (method == "mean" || QuantileOf(method) > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", method, "' is not mean or qNN (a percentile, q01 to q99, e.g. q90)"));
}

absl::StatusOr<std::vector<OptionScore>> ScoreOptions(const SearchSpace& space,
                                                      const std::vector<Architecture>& archs,
                                                      const std::vector<double>& values, const std::string& method) {
  if (absl::Status s = ValidateScoreMethod(method, "score"); !s.ok()) return s;
  if (archs.size() != values.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(archs.size(), " architectures but ", values.size(), " scores"));
  }
  if (archs.size() < 2) return absl::InvalidArgumentError("scoring options needs at least 2 architectures");
  std::vector<size_t> order(archs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  const auto& genes = space.genes();
  std::map<std::string, std::vector<double>> ranks;
  for (size_t r = 0; r < order.size(); ++r) {
    const double rank = static_cast<double>(r) / static_cast<double>(order.size() - 1);
    const Architecture& arch = archs[order[r]];
    if (arch.genes.size() != genes.size()) return absl::InvalidArgumentError("an architecture of another space");
    for (size_t g = 0; g < genes.size(); ++g) {
      if (arch.genes[g] < 0 || arch.genes[g] >= static_cast<int>(genes[g].options.size())) {
        return absl::InvalidArgumentError(absl::StrCat("gene ", genes[g].name, ": option ", arch.genes[g], " out of range"));
      }
      ranks[genes[g].options[arch.genes[g]]].push_back(rank);
    }
  }
  const double q = QuantileOf(method);
  std::vector<OptionScore> scores;
  for (const auto& [option, r] : ranks) {
    OptionScore s;
    s.option = option;
    s.uses = static_cast<int64_t>(r.size());
    s.score = q > 0 ? Quantile(r, q) : std::accumulate(r.begin(), r.end(), 0.0) / static_cast<double>(r.size());
    scores.push_back(s);
  }
  std::stable_sort(scores.begin(), scores.end(),
                   [](const OptionScore& a, const OptionScore& b) { return a.score < b.score; });
  return scores;
}

std::vector<std::string> ChooseDropped(const SearchSpace& space, const std::vector<OptionScore>& scores,
                                       const std::vector<std::string>& excluded, int64_t drop) {
  std::vector<std::string> gone = excluded, dropped;
  auto leaves_every_gene_an_option = [&](const std::string& candidate) {
    for (const Gene& gene : space.genes()) {
      bool kept = false;
      for (const std::string& o : gene.options) {
        if (o != candidate && std::find(gone.begin(), gone.end(), o) == gone.end()) kept = true;
      }
      if (!kept) return false;
    }
    return true;
  };
  for (const OptionScore& s : scores) {
    if (static_cast<int64_t>(dropped.size()) >= drop) break;
    if (std::find(gone.begin(), gone.end(), s.option) != gone.end()) continue;
    if (!leaves_every_gene_an_option(s.option)) continue;
    gone.push_back(s.option);
    dropped.push_back(s.option);
  }
  return dropped;
}

}  // namespace nas::supernet
