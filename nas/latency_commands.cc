#include "nas/latency_commands.h"

#include <iostream>
#include <memory>

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nas/train_commands.h"
#include "search/latency_predictor.h"
#include "search/predictor.h"
#include "supernet/latency_profile.h"
#include "supernet/random.h"

namespace nas::service {
namespace {

// Prints "what done/total" about ten times over a loop, and at its end.
class ProgressLines {
 public:
  ProgressLines(std::ostream& log, std::string what) : log_(log), what_(std::move(what)) {}
  void Report(int done, int total) {
    const int every = std::max(1, total / 10);
    if (done % every != 0 && done != total) return;
    log_ << absl::StrFormat("%s %d/%d (%.0f s)\n", what_, done, total,
                            std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count())
         << std::flush;
  }

 private:
  std::ostream& log_;
  std::string what_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

nlohmann::json MetricsJson(const search::PredictorMetrics& m) {
  return {{"mape_percent", m.mape},
          {"rmse_ms", m.rmse},
          {"kendall_tau", m.kendall_tau},
          {"spearman_rho", m.spearman_rho}};
}

}  // namespace

absl::Status RunProfile(const ProfileCommandOptions& options, std::ostream& out, std::ostream& log) {
  if (options.out.empty()) return absl::InvalidArgumentError("--out: required");
  if (std::filesystem::exists(options.out) && !options.force) {
    return absl::AlreadyExistsError(
        absl::StrCat("--out: ", options.out, " exists; pass --force to replace it"));
  }
  if (options.device_name.empty() || options.device_name.find_first_of(" <>=@,") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device-name: '", options.device_name, "' must be non-empty without spaces or <>=@,"));
  }
  if (options.calibrate != 0 && options.calibrate < 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--calibrate: the correction needs at least 5 measured subnets (or 0 for none), got ", options.calibrate));
  }
  if (options.holdout < 0 || options.calibrate < 0) {
    return absl::InvalidArgumentError("--holdout and --calibrate must be >= 0");
  }
  auto space = supernet::LoadSearchSpace(options.space);
  if (!space.ok()) return space.status();

  torch::manual_seed(options.seed);
  supernet::Supernet net = supernet::CreateSupernet(*space, {});
  net->eval();
  supernet::ProfileOptions po;
  po.batch_sizes = {1};
  if (options.batch_size > 1) po.batch_sizes.push_back(options.batch_size);
  po.warmup = options.warmup;
  po.runs = options.runs;
  po.rounds = options.rounds;
  po.threads = options.threads;
  po.seed = options.seed;
  po.device_name = options.device_name;
  po.statistic = options.statistic;
  po.should_stop = options.should_stop;
  ProgressLines block_progress(log, "timed round");
  po.progress = [&](int done, int total) { block_progress.Report(done, total); };
  // The calibration and held-out subnets are measured end to end in the same interleaved
  // session as the profiling networks.
  std::vector<supernet::Architecture> calibration, holdout, all;
  Rng calibration_rng(options.seed + 1), holdout_rng(options.seed + 2);
  for (int i = 0; i < options.calibrate; ++i) calibration.push_back((**space).Sample(calibration_rng));
  for (int i = 0; i < options.holdout; ++i) holdout.push_back((**space).Sample(holdout_rng));
  all = calibration;
  all.insert(all.end(), holdout.begin(), holdout.end());
  log << absl::StrFormat(
      "profiling the blocks of %s on %s, with %d subnets measured end to end (%d thread(s), %d runs after %d "
      "warm-up)\n",
      (*space)->name(), kernels::DescribeMachine().cpu_model, all.size(), options.threads, options.runs,
      options.warmup);
  std::vector<kernels::TimingStats> stats;
  absl::StatusOr<supernet::LatencyLut> lut = supernet::ProfileBlocks(*net, po, all, &stats);
  if (!lut.ok()) return lut.status();
  auto model = search::LutLatencyModel::Create(**space, *lut, options.out);
  if (!model.ok()) return model.status();
  std::vector<double> calibration_ms, holdout_ms, holdout_median, holdout_std;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i < calibration.size()) {
      calibration_ms.push_back(kernels::StatisticValue(stats[i], options.statistic));
    } else {
      holdout_ms.push_back(kernels::StatisticValue(stats[i], options.statistic));
      holdout_median.push_back(stats[i].median_ms);
      holdout_std.push_back(stats[i].std_ms);
    }
  }
  if (options.calibrate > 0) {
    if (absl::Status s = (*model)->FitCorrection(calibration, calibration_ms); !s.ok()) return s;
  }
  supernet::LatencyLut result = (*model)->lut();
  if (options.holdout > 0) {
    std::vector<double> sums, predicted;
    nlohmann::json archs = nlohmann::json::array();
    for (size_t i = 0; i < holdout.size(); ++i) {
      sums.push_back((*model)->TableSumMs(holdout[i]));
      predicted.push_back((*model)->PredictMs(holdout[i]));
      archs.push_back({{"arch", (**space).Format(holdout[i])},
                       {"measured_ms", holdout_ms[i]},
                       {"measured_median_ms", holdout_median[i]},
                       {"measured_std_ms", holdout_std[i]},
                       {"table_sum_ms", sums.back()},
                       {"predicted_ms", predicted.back()}});
    }
    result.validation = {{"subnets", holdout.size()},
                         {"statistic", options.statistic},
                         {"runs", options.runs},
                         {"table_sum", MetricsJson(search::ScorePredictions(sums, holdout_ms))},
                         {"predictor", MetricsJson(search::ScorePredictions(predicted, holdout_ms))},
                         {"archs", archs}};
  }
  if (absl::Status s = supernet::SaveLatencyLut(result, options.out); !s.ok()) return s;

  if (options.json) {
    nlohmann::json j = supernet::LatencyLutToJson(result);
    if (j.contains("validation")) j["validation"].erase("archs");
    j.erase("tables");
    j["out"] = options.out;
    out << j.dump(2) << "\n";
    return absl::OkStatus();
  }
  const auto range = (*model)->Range(options.device_name);
  out << absl::StrFormat("wrote %s: %d block entries (batch 1)%s, device '%s', statistic %s\n", options.out,
                         result.tables[0].entries.size(),
                         options.batch_size > 1 ? absl::StrCat(" and batch ", options.batch_size) : "",
                         options.device_name, options.statistic);
  out << absl::StrFormat("  predicted latency over the space: %.3f ms (%s) to %.3f ms\n", range->min_ms,
                         (**space).Format(range->argmin), range->max_ms);
  if (!result.fit.is_null()) {
    const nlohmann::json& fit = result.fit;
    out << absl::StrFormat("  integer kernels (%s): the table is fitted to %d networks' end-to-end times",
                           fit.value("quantized_engine", "?"), fit.value("networks", 0));
    if (fit.contains("in_sample_mape_percent") && fit["in_sample_mape_percent"].contains("1") &&
        fit["in_sample_mape_percent"]["1"].contains(options.statistic)) {
      out << absl::StrFormat(", in-sample MAPE %.2f %%", fit["in_sample_mape_percent"]["1"][options.statistic].get<double>());
    }
    out << "\n";
    if (fit.contains("fixed_part_set_to_0_ms")) {
      out << "  warning: a fitted fixed part came out negative (timing noise larger than it) and was set to 0; "
             "predictions are biased up: profile with more --runs on a quieter machine\n";
    }
  }
  if (result.has_correction) {
    out << absl::StrFormat(
        "  correction fitted on %d measured subnets: cross-validated MAPE %.2f %% (table sum alone %.2f %%)\n",
        result.correction.samples, result.correction.cv_mape, result.correction.cv_mape_sum);
  }
  if (options.holdout > 0) {
    const nlohmann::json& v = result.validation;
    for (const char* which : {"table_sum", "predictor"}) {
      out << absl::StrFormat("  held-out %d subnets, %-9s: MAPE %.2f %%, RMSE %.4f ms, Kendall tau %.3f\n",
                             options.holdout, which, v[which]["mape_percent"].get<double>(),
                             v[which]["rmse_ms"].get<double>(), v[which]["kendall_tau"].get<double>());
    }
  }
  return absl::OkStatus();
}

absl::Status RunLatency(const LatencyCommandOptions& options, std::ostream& out) {
  absl::StatusOr<supernet::LatencyLut> lut = supernet::LoadLatencyLut(options.table);
  if (!lut.ok()) return absl::Status(lut.status().code(), absl::StrCat("--table: ", lut.status().message()));
  const std::string space_path = options.space.empty() ? lut->space_source : options.space;
  auto space = supernet::LoadSearchSpace(space_path);
  if (!space.ok()) {
    return absl::Status(space.status().code(),
                        absl::StrCat(options.space.empty() ? "the table's space (pass --space): " : "--space: ",
                                     space.status().message()));
  }
  auto model = search::LutLatencyModel::Create(**space, *lut, options.table);
  if (!model.ok()) return model.status();
  if (options.random < 0) return absl::InvalidArgumentError("--random: must be >= 0");
  std::vector<supernet::Architecture> archs;
  for (const std::string& text : options.archs) {
    absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(**space, text);
    if (!arch.ok()) return arch.status();
    archs.push_back(*arch);
  }
  Rng rng(options.seed);
  for (int64_t i = 0; i < options.random; ++i) archs.push_back((**space).Sample(rng));
  if (archs.empty()) return absl::InvalidArgumentError("--arch or --random: name at least one architecture");

  supernet::Supernet net;
  if (options.measure) {
    torch::manual_seed(0);
    net = supernet::CreateSupernet(*space, {});
    net->eval();
  }
  // All architectures are measured in one interleaved session (as nas profile does).
  std::vector<kernels::TimingStats> measured;
  if (options.measure) {
    supernet::MeasureOptions mo;
    mo.runs = options.runs;
    mo.warmup = options.warmup;
    mo.threads = lut->threads;
    absl::StatusOr<std::vector<kernels::TimingStats>> t = supernet::MeasureSubnetLatencies(*net, archs, mo);
    if (!t.ok()) return t.status();
    measured = *std::move(t);
  }
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < archs.size(); ++i) {
    const supernet::Architecture& arch = archs[i];
    nlohmann::json row = {{"arch", (**space).Format(arch)},
                          {"device", lut->device},
                          {"predicted_ms", (*model)->PredictMs(arch)},
                          {"table_sum_ms", (*model)->TableSumMs(arch)},
                          {"flops", (**space).Cost(arch).flops}};
    if (options.measure) {
      row["measured_ms"] = kernels::StatisticValue(measured[i], lut->statistic);
      row["measured_median_ms"] = measured[i].median_ms;
      row["measured_std_ms"] = measured[i].std_ms;
    }
    rows.push_back(row);
  }
  if (options.json) {
    out << rows.dump(2) << "\n";
    return absl::OkStatus();
  }
  for (const nlohmann::json& row : rows) {
    out << absl::StrFormat("%s\n  %s: predicted %.3f ms (table sum %.3f ms), %.2f MFLOPs",
                           row["arch"].get<std::string>(), lut->device, row["predicted_ms"].get<double>(),
                           row["table_sum_ms"].get<double>(), row["flops"].get<int64_t>() / 1e6);
    if (row.contains("measured_ms")) {
      out << absl::StrFormat("; measured here %.3f ms (%s; median %.3f, std %.3f, %d runs, %d thread(s))",
                             row["measured_ms"].get<double>(), lut->statistic,
                             row["measured_median_ms"].get<double>(), row["measured_std_ms"].get<double>(),
                             options.runs, lut->threads);
    }
    out << "\n";
  }
  return absl::OkStatus();
}

void AddLatencyCommands(Commands& commands) {
  auto profile = std::make_shared<ProfileCommandOptions>();
  CLI::App* profile_cmd = commands.app().add_subcommand(
      "profile", "Measure a latency lookup table of a search space on this machine: every block's choices "
                 "timed inside real subnets, plus a correction fitted on end-to-end subnet latencies; "
                 "spaces with bit-width genes are timed on their integer kernels and the table is fitted "
                 "to end-to-end times (docs/latency.md)");
  profile_cmd->add_option("--space", profile->space, "Search space YAML file")->required();
  profile_cmd->add_option("--out", profile->out, "Lookup table to write (JSON)")->required();
  profile_cmd->add_flag("--force", profile->force, "Replace an existing --out");
  profile_cmd->add_option("--device-name", profile->device_name, "Device name searches use: latency@NAME")
      ->capture_default_str();
  profile_cmd->add_option("--statistic", profile->statistic,
                          "Statistic of the timed passes latencies are read as: p10, median, min, mean "
                          "(p10 resists interference on shared machines; docs/latency.md)")
      ->capture_default_str();
  profile_cmd->add_option("--batch-size", profile->batch_size, "Also profile this batch size (batch 1 always)");
  profile_cmd->add_option("--warmup", profile->warmup, "Untimed passes per network")->capture_default_str();
  profile_cmd->add_option("--runs", profile->runs,
                          "Timed passes of every network (profiling, calibration and held-out subnets, "
                          "all interleaved)")
      ->capture_default_str();
  profile_cmd->add_option("--rounds", profile->rounds,
                          "Networks each block choice is timed in (bit-width spaces: raised to at least 3 "
                          "networks per table value)")
      ->capture_default_str();
  profile_cmd->add_option("--threads", profile->threads, "Intra-op threads, fixed while measuring")
      ->capture_default_str();
  profile_cmd->add_option("--seed", profile->seed, "Seed for the profiled and measured subnets")
      ->capture_default_str();
  profile_cmd->add_option("--calibrate", profile->calibrate,
                          "Random subnets measured end to end to fit the correction (0: table sum only)")
      ->capture_default_str();
  profile_cmd->add_option("--holdout", profile->holdout,
                          "Further random subnets measured to report MAPE, RMSE and Kendall tau")
      ->capture_default_str();
  profile_cmd->add_flag("--json", profile->json, "Print a JSON summary instead of text");

  auto latency = std::make_shared<LatencyCommandOptions>();
  CLI::App* latency_cmd = commands.app().add_subcommand(
      "latency", "Predicted latency of architectures from a lookup table (nas profile); --measure also times "
                 "them here");
  latency_cmd->add_option("--table", latency->table, "Lookup table written by nas profile")->required();
  latency_cmd->add_option("--space", latency->space, "Search space YAML (default: the one the table records)");
  latency_cmd->add_option("--arch", latency->archs, "Architecture string, or largest / smallest (repeatable)");
  latency_cmd->add_option("--random", latency->random, "Also N uniformly sampled architectures");
  latency_cmd->add_option("--seed", latency->seed, "Seed for --random")->capture_default_str();
  latency_cmd->add_flag("--measure", latency->measure,
                        "Also measure each architecture's extracted subnet end to end (batch 1, the table's threads)");
  latency_cmd->add_option("--runs", latency->runs, "Timed passes for --measure")->capture_default_str();
  latency_cmd->add_flag("--json", latency->json, "Print JSON instead of text");

  commands.On(profile_cmd, [profile] {
    InstallStopSignals();
    profile->should_stop = [] { return StopRequested(); };
    return RunProfile(*profile, std::cout, std::cerr);
  });
  commands.On(latency_cmd, [latency] { return RunLatency(*latency, std::cout); });
}

}  // namespace nas::service
