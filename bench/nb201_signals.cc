// Ranking quality of every accuracy signal the engine computes on NAS-Bench-201 cells:
// the supernet's inherited accuracy and loss, the zero-cost proxies, FLOPs, params, and
// label-free combinations of them (search/combined_evaluator.h, with the engine's own
// reference sample). Two disjoint random sets of cells (seeds 7 and 8 by default). Every
// signal is computed first; only then is the NAS-Bench-201 table read, to score.
//
//   bazel-bin/bench/nb201_signals --checkpoint runs/X/checkpoint.nasckpt --out runs/X/signals
//       [--combos 'supernet+zc:naswot+flops;supernet_loss+zc:synflow'] [--eval-images 500]
//   (--checkpoint may also be a few-shot folder of `nas fewshot`)
//   bazel-bin/bench/nb201_signals --config configs/train_cifar10_nb201_proxy.yaml --out DIR  # training-free only
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "search/combined_evaluator.h"
#include "search/predictor.h"
#include "search/supernet_evaluator.h"
#include "search/zero_cost_evaluator.h"
#include "supernet/file_util.h"
#include "supernet/nb201_space.h"
#include "supernet/nb201_table.h"
#include "supernet/trained_supernet.h"

namespace {

using nas::supernet::Architecture;

struct Scores {
  double tau = 0, rho = 0, top10 = 0;
};

// Kendall tau, Spearman rho and the precision of the signal's top 10 %.
Scores Score(const std::vector<double>& signal, const std::vector<double>& truth) {
  Scores s;
  if (signal.size() < 3) return s;
  s.tau = nas::search::KendallTau(signal, truth);
  s.rho = nas::search::SpearmanRho(signal, truth);
  s.top10 = nas::search::TopPrecision(signal, truth, 0.1);
  return s;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

int Fail(const absl::Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ranking quality of supernet, zero-cost and combined signals on NAS-Bench-201"};
  std::string checkpoint, config_path, out, table_path, combos_text, sets_text = "7,8";
  int n = 200, workers = 2, reference = 100;
  std::string deep_cells_text = "0";
  uint64_t reference_seed = 0;
  nas::search::SupernetEvaluator::Options eo;
  eo.max_images = 500;
  eo.calibration_batches = 2;
  nas::search::ZeroCostOptions zo;
  app.add_option("--checkpoint", checkpoint, "NB201 supernet checkpoint (omit for training-free signals only)");
  app.add_option("--config", config_path, "Training config for the zero-cost proxies (default: the checkpoint's)");
  app.add_option("--sets", sets_text, "Seeds of the disjoint cell sets")->capture_default_str();
  app.add_option("--n", n, "Cells per set")->capture_default_str();
  app.add_option("--eval-images", eo.max_images, "Validation images per cell (supernet)")->capture_default_str();
  app.add_option("--calibration-batches", eo.calibration_batches, "BN recalibration batches")->capture_default_str();
  app.add_option("--zc-batch", zo.batch_size, "Images per zero-cost proxy evaluation")->capture_default_str();
  app.add_option("--zc-seed", zo.seed, "Seed of the untrained weights and proxy images")->capture_default_str();
  app.add_option("--zc-repeats", zo.repeats, "Independent draws each proxy is averaged over")->capture_default_str();
  std::string proxies_text;
  app.add_option("--deep-cells", deep_cells_text,
                 "Also score the supernet with its cells repeated to K per stage (signals supernet@K, "
                 "supernet_loss@K); comma-separated Ks, e.g. 2,3; 0: not")
      ->capture_default_str();
  app.add_option("--proxies", proxies_text, "Comma-separated proxies to compute (default: all)");
  app.add_option("--combos", combos_text,
                 "';'-separated combinations of signal names joined by '+', each optionally *WEIGHT "
                 "(supernet, supernet_loss, zc:PROXY, flops, params)");
  app.add_option("--reference", reference, "Reference sample size of the combinations")->capture_default_str();
  app.add_option("--reference-seed", reference_seed, "Seed of the reference sample")->capture_default_str();
  app.add_option("--workers", workers, "Cells evaluated at once (one thread each)")->capture_default_str();
  app.add_option("--table", table_path, "NB201 CSV (default: $NAS_SHARED_DATA or ../shared/data)");
  app.add_option("--out", out, "Directory for signals.json")->required();
  std::string reuse_path;
  app.add_option("--reuse", reuse_path,
                 "signals.json of an earlier run with the same checkpoint and settings: its raw values "
                 "(cells and reference sample) are used instead of computing them again");
  CLI11_PARSE(app, argc, argv);
  if (table_path.empty()) table_path = nas::supernet::DefaultNb201TablePath();
  torch::set_num_threads(1);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::max(1, workers));
  const double cpu_start = CpuSeconds();

  // The signals' sources.
  std::unique_ptr<nas::search::SupernetEvaluator> supernet;
  nas::supernet::TrainConfig config;
  nas::supernet::DataSplits data;
  if (!checkpoint.empty()) {
    auto loaded = nas::search::SupernetEvaluator::Load(checkpoint, torch::kCPU, eo);
    if (!loaded.ok()) return Fail(loaded.status());
    supernet = *std::move(loaded);
    config = supernet->trained().config;
    data = supernet->trained().data;
  }
  if (!config_path.empty()) {
    auto loaded = nas::supernet::LoadTrainConfig(config_path);
    if (!loaded.ok()) return Fail(loaded.status());
    config = *loaded;
    auto d = nas::supernet::LoadData(config);
    if (!d.ok()) return Fail(d.status());
    data = *d;
  }
  if (config.space == nullptr) return Fail(absl::InvalidArgumentError("give --checkpoint or --config"));
  const auto* space = dynamic_cast<const nas::supernet::Nb201Space*>(config.space.get());
  if (space == nullptr) return Fail(absl::InvalidArgumentError("the space is not nb201"));
  const double zc_setup_start = CpuSeconds();
  auto scorer = nas::search::MakeZeroCostScorer(config, data, torch::kCPU, zo);
  if (!scorer.ok()) return Fail(scorer.status());
  const double zc_setup_cpu = CpuSeconds() - zc_setup_start;

  std::vector<std::string> names;
  if (supernet) names = {"supernet", "supernet_loss"};
  // The same supernet with its cells repeated (supernet_loss@K items of a combination).
  std::map<std::string, std::unique_ptr<nas::search::SupernetEvaluator>> deep;  // By suffix "@K".
  for (absl::string_view k_text : absl::StrSplit(deep_cells_text, ',', absl::SkipWhitespace())) {
    int k = 0;
    if (!absl::SimpleAtoi(k_text, &k) || k < 0) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--deep-cells: not a count: '", k_text, "'")));
    }
    if (k == 0) continue;
    if (!supernet) return Fail(absl::InvalidArgumentError("--deep-cells needs --checkpoint"));
    const std::string suffix = absl::StrCat("@", k);
    if (deep.count(suffix)) continue;
    auto made = supernet->WithCellsPerStage(k);
    if (!made.ok()) return Fail(made.status());
    deep[suffix] = *std::move(made);
    names.push_back("supernet" + suffix);
    names.push_back("supernet_loss" + suffix);
  }
  std::vector<std::string> proxies = nas::supernet::ZeroCostProxyNames();
  if (!proxies_text.empty()) proxies = absl::StrSplit(proxies_text, ',');
  for (const std::string& p : proxies) {
    if (!nas::supernet::ParseZeroCostProxy(p).ok()) return Fail(absl::InvalidArgumentError("--proxies: unknown '" + p + "'"));
    names.push_back("zc:" + p);
  }
  names.push_back("flops");
  names.push_back("params");

  // Raw values, computed once per (architecture, signal) and kept.
  std::mutex mu;
  std::map<Architecture, std::map<std::string, double>> cache;
  std::map<std::string, double> seconds;  // Summed wall seconds per signal.
  auto raw = [&](const Architecture& a, const std::string& name) -> absl::StatusOr<double> {
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = cache.find(a);
      if (it != cache.end() && it->second.count(name)) return it->second.at(name);
    }
    const auto t0 = std::chrono::steady_clock::now();
    double v = 0;
    if (absl::StartsWith(name, "supernet")) {  // supernet, supernet_loss (@K: cells repeated).
      const size_t at = name.find('@');
      const std::string suffix = at == std::string::npos ? "" : name.substr(at);
      absl::StatusOr<nas::supernet::EvalResult> r = (suffix.empty() ? supernet : deep.at(suffix))->Evaluate(a);
      if (!r.ok()) return r.status();
      std::lock_guard<std::mutex> lock(mu);
      cache[a]["supernet" + suffix] = 100.0 * r->accuracy;
      cache[a]["supernet_loss" + suffix] = -r->loss;
      seconds["supernet" + suffix] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return cache[a][name];
    }
    if (name == "flops" || name == "params") {
      const nas::supernet::CostSummary c = space->Cost(a);
      v = static_cast<double>(name == "flops" ? c.flops : c.params);
    } else {
      absl::StatusOr<nas::supernet::ZeroCostProxy> p = nas::supernet::ParseZeroCostProxy(name.substr(3));
      if (!p.ok()) return p.status();
      absl::StatusOr<double> s = (*scorer)->Score(*p, a);
      if (!s.ok()) return s.status();
      v = *s;
    }
    std::lock_guard<std::mutex> lock(mu);
    cache[a][name] = v;
    seconds[name] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return v;
  };

  // Raw values of an earlier run with the same sources and settings.
  if (!reuse_path.empty()) {
    absl::StatusOr<std::string> text = nas::ReadFileBytes(reuse_path);
    if (!text.ok()) return Fail(text.status());
    const nlohmann::json old = nlohmann::json::parse(*text, nullptr, false);
    if (old.is_discarded() || !old.is_object()) return Fail(absl::InvalidArgumentError("--reuse: not a JSON object: " + reuse_path));
    const nlohmann::json now = {{"checkpoint", checkpoint},       {"eval_images", eo.max_images},
                                {"calibration_batches", eo.calibration_batches}, {"zc_batch", zo.batch_size},
                                {"zc_seed", zo.seed},             {"zc_repeats", zo.repeats}};
    for (const auto& [key, value] : now.items()) {
      if (!old.contains(key) || old.at(key) != value) {
        return Fail(absl::InvalidArgumentError(absl::StrCat("--reuse: ", reuse_path, " has another ", key, " (",
                                                            old.contains(key) ? old.at(key).dump() : "none", " against ",
                                                            value.dump(), ")")));
      }
    }
    int reused = 0;
    for (const char* list : {"cells", "reference_cells"}) {
      if (!old.contains(list)) continue;
      for (const nlohmann::json& c : old.at(list)) {
        absl::StatusOr<Architecture> a = space->Parse(c.at("arch").get<std::string>());
        if (!a.ok()) return Fail(absl::InvalidArgumentError("--reuse: " + std::string(a.status().message())));
        for (const std::string& name : names) {
          if (c.contains(name) && c.at(name).is_number()) {
            cache[*a][name] = c.at(name).get<double>();
            ++reused;
          }
        }
      }
    }
    std::cerr << "reusing " << reused << " raw values from " << reuse_path << "\n";
  }

  // Disjoint cell sets.
  std::vector<std::vector<Architecture>> sets;
  std::vector<uint64_t> set_seeds;
  std::set<Architecture> taken;
  for (absl::string_view s : absl::StrSplit(sets_text, ',')) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(s, &seed)) return Fail(absl::InvalidArgumentError("--sets: not integers"));
    set_seeds.push_back(seed);
    nas::Rng rng(seed);
    std::vector<Architecture> cells;
    while (static_cast<int>(cells.size()) < n) {
      Architecture a = space->Sample(rng);
      if (taken.insert(a).second) cells.push_back(a);
    }
    sets.push_back(cells);
  }
  std::vector<Architecture> all_cells;
  for (const auto& s : sets) all_cells.insert(all_cells.end(), s.begin(), s.end());
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> done{0};
  std::vector<absl::Status> errors(all_cells.size());
  tbb::parallel_for(size_t{0}, all_cells.size(), [&](size_t i) {
    for (const std::string& name : names) {
      if (absl::StartsWith(name, "supernet_loss")) continue;  // Comes with "supernet".
      absl::StatusOr<double> v = raw(all_cells[i], name);
      if (!v.ok()) errors[i] = v.status();
    }
    const int d = ++done;
    if (d % 50 == 0) {
      std::cerr << absl::StrFormat("%d/%d cells, %.0f s\n", d, all_cells.size(),
                                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  });
  for (size_t i = 0; i < errors.size(); ++i) {
    if (!errors[i].ok()) return Fail(absl::Status(errors[i].code(), space->Format(all_cells[i]) + ": " + std::string(errors[i].message())));
  }
  const double signals_cpu = CpuSeconds() - cpu_start;

  // Combinations, each with the engine's evaluator over its own reference sample.
  std::map<std::string, std::vector<double>> combo_values;  // Per cell of all_cells.
  std::vector<std::string> combo_names;
  std::map<std::string, double> combo_reference_cpu;
  for (absl::string_view text : absl::StrSplit(combos_text, ';', absl::SkipWhitespace())) {
    std::vector<nas::search::ScoreComponent> components;
    for (absl::string_view item_view : absl::StrSplit(text, '+')) {
      std::string item(item_view);
      nas::search::ScoreComponent c;
      if (const size_t star = item.rfind('*'); star != std::string::npos) {
        if (!absl::SimpleAtod(item.substr(star + 1), &c.weight)) return Fail(absl::InvalidArgumentError("--combos: bad weight in " + item));
        item = item.substr(0, star);
      }
      if (std::find(names.begin(), names.end(), item) == names.end()) {
        return Fail(absl::InvalidArgumentError("--combos: unknown signal '" + item + "'"));
      }
      c.name = item;
      c.score = [&raw, item](const Architecture& a) { return raw(a, item); };
      components.push_back(c);
    }
    const double t0 = CpuSeconds();
    auto combined = nas::search::CombinedEvaluator::Create(config.space, components, reference, reference_seed,
                                                           std::string(text));
    if (!combined.ok()) return Fail(combined.status());
    combo_reference_cpu[std::string(text)] = CpuSeconds() - t0;
    std::vector<double> values;
    for (const Architecture& a : all_cells) values.push_back(*(*combined)->Accuracy(a));
    combo_names.push_back(std::string(text));
    combo_values[std::string(text)] = values;
  }
  const double total_cpu = CpuSeconds() - cpu_start;

  // Only now: the benchmark table, to score.
  auto table = nas::supernet::Nb201Table::Load(*space, table_path);
  if (!table.ok()) return Fail(table.status());
  nlohmann::json j = {{"checkpoint", checkpoint},
                      {"steps", supernet ? supernet->trained().step : 0},
                      {"sampler", config.sampler.kind},
                      {"eval_images", eo.max_images},
                      {"calibration_batches", eo.calibration_batches},
                      {"zc_batch", zo.batch_size},
                      {"zc_seed", zo.seed},
                      {"zc_repeats", zo.repeats},
                      {"reference", reference},
                      {"cpu_seconds", {{"signals_total", signals_cpu}, {"zc_setup", zc_setup_cpu}, {"all", total_cpu}}}};
  nlohmann::json per_cell_seconds;
  for (const auto& [name, s] : seconds) per_cell_seconds[name] = s / all_cells.size();
  j["wall_seconds_per_cell"] = per_cell_seconds;
  std::vector<std::string> rows = names;
  rows.insert(rows.end(), combo_names.begin(), combo_names.end());
  nlohmann::json results;
  {
    std::string header = "| signal", rule = "|---";
    for (uint64_t seed : set_seeds) {
      absl::StrAppendFormat(&header, " | set %d: tau | rho | top-10 %%", seed);
      rule += "|---|---|---";
    }
    std::cout << header << " |\n" << rule << "|\n";
  }
  for (const std::string& row : rows) {
    std::string line = "| " + row;
    for (size_t si = 0; si < sets.size(); ++si) {
      std::vector<double> signal, truth;
      size_t offset = 0;
      for (size_t k = 0; k < si; ++k) offset += sets[k].size();
      for (size_t i = 0; i < sets[si].size(); ++i) {
        const Architecture& a = sets[si][i];
        if (!space->IsConnected(a)) continue;
        const bool combo = combo_values.count(row) > 0;
        signal.push_back(combo ? combo_values[row][offset + i] : cache[a][row]);
        truth.push_back(table->rows()[table->IndexOf(a)].cifar10_test);
      }
      const Scores s = Score(signal, truth);
      results[row][std::to_string(set_seeds[si])] = {
          {"n", signal.size()}, {"kendall_tau", s.tau}, {"spearman_rho", s.rho}, {"top10_precision", s.top10}};
      absl::StrAppendFormat(&line, " | %.3f | %.3f | %.2f", s.tau, s.rho, s.top10);
    }
    std::cout << line << " |\n";
  }
  j["scores_connected"] = results;
  j["combo_reference_cpu_seconds"] = combo_reference_cpu;
  nlohmann::json cells = nlohmann::json::array();
  for (size_t si = 0; si < sets.size(); ++si) {
    for (const Architecture& a : sets[si]) {
      nlohmann::json c = {{"set", set_seeds[si]},
                          {"arch", space->Format(a)},
                          {"connected", space->IsConnected(a)},
                          {"true", table->rows()[table->IndexOf(a)].cifar10_test}};
      for (const auto& [name, v] : cache[a]) c[name] = v;
      cells.push_back(c);
    }
  }
  j["cells"] = cells;
  // The other architectures scored (the combinations' reference samples), for --reuse.
  nlohmann::json reference_cells = nlohmann::json::array();
  for (const auto& [a, values] : cache) {
    if (taken.count(a)) continue;
    nlohmann::json c = {{"arch", space->Format(a)}};
    for (const auto& [name, v] : values) c[name] = v;
    reference_cells.push_back(c);
  }
  j["reference_cells"] = reference_cells;
  std::cout << absl::StrFormat("CPU seconds: signals %.1f (zero-cost setup %.1f), with combinations %.1f\n",
                               signals_cpu, zc_setup_cpu, total_cpu);
  for (const auto& [name, s] : per_cell_seconds.items()) {
    std::cout << absl::StrFormat("  %s: %.3f s per cell (wall, %d workers)\n", name, s.get<double>(), workers);
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (absl::Status s = nas::WriteFileAtomically(out + "/signals.json", j.dump(1) + "\n"); !s.ok()) return Fail(s);
  return 0;
}
