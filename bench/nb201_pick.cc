// End-to-end scoring of a search's pick on NAS-Bench-201 (read here only, to score).
//
//   nb201_pick --full configs/nb201.yaml --proxy configs/nb201_proxy.yaml --full-bound 50M --print-proxy-bound
//       prints the proxy network's FLOPs bound that admits exactly the cells the full
//       network's bound admits (both are a fixed part plus the cell's cost per cell)
//   nb201_pick --full configs/nb201.yaml --full-bound 50M --result runs/S/result.json [--table CSV]
//       the pick's true accuracy and its percentile among the feasible cells, next to the
//       max-FLOPs heuristic and the best feasible cell
#include <algorithm>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "supernet/file_util.h"
#include "supernet/nb201_space.h"
#include "supernet/nb201_table.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 1;
}

bool ParseFlops(std::string text, double* value) {
  double scale = 1;
  if (!text.empty() && (text.back() == 'M' || text.back() == 'm')) {
    scale = 1e6;
    text.pop_back();
  }
  if (!absl::SimpleAtod(text, value)) return false;
  *value *= scale;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Score a NAS-Bench-201 search pick against the feasible cells"};
  std::string full_path = "configs/nb201.yaml", proxy_path = "configs/nb201_proxy.yaml", bound_text, result_path,
              table_path;
  bool print_proxy_bound = false;
  app.add_option("--full", full_path, "The full NB201 space")->capture_default_str();
  app.add_option("--proxy", proxy_path, "The proxy space the search ran on")->capture_default_str();
  app.add_option("--full-bound", bound_text, "FLOPs bound on the full network, e.g. 50M")->required();
  app.add_flag("--print-proxy-bound", print_proxy_bound, "Print the equivalent proxy bound and exit");
  app.add_option("--result", result_path, "A nas search result.json");
  app.add_option("--table", table_path, "NB201 CSV (default: $NAS_SHARED_DATA or ../shared/data)");
  CLI11_PARSE(app, argc, argv);
  double bound = 0;
  if (!ParseFlops(bound_text, &bound)) return Fail("--full-bound: not a number: " + bound_text);
  auto full = nas::supernet::LoadSearchSpace(full_path);
  if (!full.ok()) return Fail(std::string(full.status().message()));
  const auto* space = dynamic_cast<const nas::supernet::Nb201Space*>(full->get());
  if (space == nullptr) return Fail("--full: not an nb201 space");
  // Every cell of the space, with its full-network FLOPs.
  std::vector<nas::supernet::Architecture> cells;
  nas::supernet::Architecture a{std::vector<int>(space->genes().size(), 0)};
  const int ops = static_cast<int>(space->genes()[0].options.size());
  for (int64_t code = 0; code < static_cast<int64_t>(*space->ExactSize()); ++code) {
    int64_t rest = code;
    for (auto& g : a.genes) {
      g = static_cast<int>(rest % ops);
      rest /= ops;
    }
    cells.push_back(a);
  }
  if (print_proxy_bound) {
    auto proxy = nas::supernet::LoadSearchSpace(proxy_path);
    if (!proxy.ok()) return Fail(std::string(proxy.status().message()));
    int64_t proxy_bound = -1, excluded_min = std::numeric_limits<int64_t>::max();
    for (const auto& c : cells) {
      auto parsed = (*proxy)->Parse(space->Format(c));
      if (!parsed.ok()) return Fail("--proxy: " + std::string(parsed.status().message()));
      const int64_t p = (*proxy)->Cost(*parsed).flops;
      if (space->Cost(c).flops <= bound) {
        proxy_bound = std::max(proxy_bound, p);
      } else {
        excluded_min = std::min(excluded_min, p);
      }
    }
    if (proxy_bound < 0) return Fail("no cell meets the bound");
    if (excluded_min <= proxy_bound) return Fail("the proxy's FLOPs do not order the cells as the full network's");
    std::cout << proxy_bound << "\n";
    return 0;
  }
  if (result_path.empty()) return Fail("give --result or --print-proxy-bound");
  absl::StatusOr<std::string> text = nas::ReadFileBytes(result_path);
  if (!text.ok()) return Fail(std::string(text.status().message()));
  const nlohmann::json result = nlohmann::json::parse(*text);
  auto pick = space->Parse(result["best"]["arch"].get<std::string>());
  if (!pick.ok()) return Fail(std::string(pick.status().message()));
  if (space->Cost(*pick).flops > bound) return Fail("the pick exceeds the bound");
  // Only now: the table.
  if (table_path.empty()) table_path = nas::supernet::DefaultNb201TablePath();
  auto table = nas::supernet::Nb201Table::Load(*space, table_path);
  if (!table.ok()) return Fail(std::string(table.status().message()));
  std::vector<double> feasible;
  int64_t max_flops = -1;
  for (const auto& c : cells) {
    const int64_t f = space->Cost(c).flops;
    if (f <= bound) {
      feasible.push_back(table->rows()[table->IndexOf(c)].cifar10_test);
      max_flops = std::max(max_flops, f);
    }
  }
  double heuristic = 0;
  int tied = 0;
  for (const auto& c : cells) {
    if (space->Cost(c).flops == max_flops) {
      heuristic += table->rows()[table->IndexOf(c)].cifar10_test;
      ++tied;
    }
  }
  heuristic /= tied;
  auto share_below = [&](double acc) {
    return static_cast<double>(std::count_if(feasible.begin(), feasible.end(), [&](double v) { return v < acc; })) /
           feasible.size();
  };
  std::vector<double> sorted = feasible;
  std::sort(sorted.begin(), sorted.end());
  const double top1_threshold = sorted[static_cast<size_t>(0.99 * sorted.size())];
  const double truth = table->rows()[table->IndexOf(*pick)].cifar10_test;
  const nlohmann::json j = {{"bound", bound_text},
                            {"feasible", feasible.size()},
                            {"pick", space->Format(*pick)},
                            {"pick_mflops", space->Cost(*pick).flops / 1e6},
                            {"pick_true", truth},
                            {"pick_percentile", 100 * share_below(truth)},
                            {"heuristic_true", heuristic},
                            {"heuristic_cells", tied},
                            {"heuristic_percentile", 100 * share_below(heuristic)},
                            {"best_true", sorted.back()},
                            {"top1_threshold", top1_threshold}};
  std::cout << j.dump() << "\n";
  std::cout << absl::StrFormat("| flops <= %s | %d | %.2f %% (%.1f MFLOPs) | %.1f %% | %.2f %% (%d cells) | %.1f %% | %.2f %% | %.2f %% |\n",
                               bound_text, feasible.size(), truth, space->Cost(*pick).flops / 1e6,
                               100 * share_below(truth), heuristic, tied, 100 * share_below(heuristic), sorted.back(),
                               top1_threshold);
  return 0;
}
