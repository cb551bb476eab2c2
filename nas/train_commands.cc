#include "nas/train_commands.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "nas/engine/export_job.h"
#include "nas/engine/job_threads.h"
#include "nas/engine/progress.h"
#include "nas/engine/training_job.h"
#include "nas/launcher.h"
#include "supernet/evaluator.h"
#include "supernet/file_util.h"
#include "supernet/trained_supernet.h"

namespace nas::service {
namespace {

// The running training's stop function, for the signal handler (RequestTrainStop).
std::atomic<std::function<void()>*> g_stop_training{nullptr};

}  // namespace

absl::StatusOr<supernet::Architecture> ParseArchOrExtreme(const supernet::SearchSpace& space,
                                                         const std::string& text) {
  return engine::ParseArchOrExtreme(space, text, "--arch");
}

absl::Status RunExport(const ExportCommandOptions& options, std::ostream& out) {
  if (options.out.empty()) return absl::InvalidArgumentError("--out: required");
  const engine::JobThreads threads(options.threads);
  absl::StatusOr<supernet::TrainedSupernet> trained = supernet::LoadTrainedSupernet(options.checkpoint, torch::kCPU);
  if (!trained.ok()) return trained.status();
  absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(*trained->config.space, options.arch);
  if (!arch.ok()) return arch.status();
  supernet::ExportOptions eo;
  eo.batch_size = options.batch_size;
  eo.verify_images = options.verify_images;
  absl::StatusOr<v1::ExportSubnetResponse> r = engine::RunExportJob(*trained, *arch, options.out, eo);
  if (!r.ok()) return r.status();
  if (options.json) {
    out << r->metadata_json() << "\n";
  } else {
    out << absl::StrFormat(
        "exported %s of %s to %s (subnet.pt, bn_stats.pt, subnet.json) in %.1f s\n"
        "  %.3f MFLOPs, %.4f M params; reloaded export vs supernet path: max |diff| %.2g; "
        "test accuracy of the export %.2f %% on %d images\n",
        r->arch(), r->space(), options.out, r->seconds(), r->flops() / 1e6, r->params() / 1e6, r->max_abs_diff(),
        r->test_accuracy(), r->test_images());
  }
  return absl::OkStatus();
}

void RequestTrainStop() {
  if (std::function<void()>* stop = g_stop_training.load()) (*stop)();
}

absl::Status RunTrain(const TrainCommandOptions& options, std::ostream& out, std::ostream& log) {
  if (options.config.empty()) return absl::InvalidArgumentError("--config: a training config is required");
  if (options.threads < 0) return absl::InvalidArgumentError("--threads: must be >= 0");
  absl::StatusOr<DistributedStart> joined = StartDistributed(options.nproc, options.dist_timeout_s, options.args, log);
  if (!joined.ok()) return joined.status();
  if (joined->launched) return joined->launch_status;  // This process only launched the ranks.
  const bool primary = joined->dist == nullptr || joined->dist->rank() == 0;
  const engine::JobThreads threads(options.threads);
  engine::TrainingJob job;
  job.config_path = options.config;
  job.steps = options.steps;
  job.batch_size = options.batch_size;
  job.out_dir = options.out.empty() ? absl::StrCat("runs/", std::filesystem::path(options.config).stem().string())
                                    : options.out;
  job.resume = options.resume;
  job.stop_after = options.stop_after;
  job.micro_batches = options.micro_batches;
  job.distributed = joined->dist.get();
  // The signal handler asks the run to stop through this (set while training runs).
  std::function<void()> stop;
  job.register_stop = [&](std::function<void()> f) {
    if (f) {
      stop = std::move(f);
      g_stop_training.store(&stop);
    } else {
      g_stop_training.store(nullptr);
    }
  };
  absl::StatusOr<v1::TrainingResult> result;
  {
    engine::StreamProgress progress(log, isatty(STDERR_FILENO) != 0);
    result = engine::RunTrainingJob(job, progress);
  }
  if (!result.ok()) {
    // Flag names for what the user typed.
    if (absl::StartsWith(result.status().message(), "micro_batches:")) {
      return absl::InvalidArgumentError(absl::StrCat("--micro-batches", result.status().message().substr(13)));
    }
    return result.status();
  }
  if (!primary) return absl::OkStatus();
  if (options.json) {
    absl::StatusOr<std::string> summary = ReadFileBytes(job.out_dir + "/summary.json");
    if (!summary.ok()) return summary.status();
    out << *summary;
  } else {
    out << absl::StrFormat(
        "%s at step %d/%d; median %.0f images/s on %d threads; loss %.4f, train accuracy %.3f\n"
        "checkpoint: %s\n",
        result->finished() ? "finished" : "stopped", result->steps(), result->total_steps(),
        result->median_images_per_second(), result->threads(), result->final_loss_ema(),
        result->final_accuracy_ema(), result->checkpoint());
  }
  return absl::OkStatus();
}

absl::Status RunEval(const EvalCommandOptions& options, std::ostream& out) {
  if (options.checkpoint.empty()) return absl::InvalidArgumentError("--checkpoint: required");
  if (options.split != "val" && options.split != "test" && options.split != "both") {
    return absl::InvalidArgumentError(
        absl::StrCat("--split: '", options.split, "' is not one of val, test, both"));
  }
  if (options.archs.empty() && options.random <= 0) {
    return absl::InvalidArgumentError("give --arch (an architecture, largest or smallest) or --random N");
  }
  const engine::JobThreads threads(options.threads);
  absl::StatusOr<supernet::TrainedSupernet> trained =
      supernet::LoadTrainedSupernet(options.checkpoint, torch::kCPU);
  if (!trained.ok()) return trained.status();
  const supernet::SearchSpace& space = *trained->config.space;
  std::vector<std::pair<std::string, supernet::Architecture>> archs;
  for (const std::string& text : options.archs) {
    absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(space, text);
    if (!arch.ok()) return arch.status();
    archs.emplace_back(text == "largest" || text == "smallest" ? text : "given", *arch);
  }
  Rng rng(options.seed);
  for (int64_t i = 0; i < options.random; ++i) archs.emplace_back("random", space.Sample(rng));

  std::unique_ptr<supernet::Evaluator> val, test;
  if (options.split != "test") val = supernet::MakeEvaluator(*trained, supernet::EvalSplit::kValidation, torch::kCPU);
  if (options.split != "val") test = supernet::MakeEvaluator(*trained, supernet::EvalSplit::kTest, torch::kCPU);
  nlohmann::json results = nlohmann::json::array();
  if (!options.json) {
    out << absl::StrFormat("checkpoint %s (step %d/%d), space %s\n", options.checkpoint,
                           trained->step, trained->total_steps, space.name());
    out << absl::StrFormat("%-8s %10s %10s %9s %9s  %s\n", "kind", "MFLOPs", "M params",
                           val ? "val acc" : "", test ? "test acc" : "", "arch");
  }
  for (const auto& [kind, arch] : archs) {
    const supernet::CostSummary cost = space.Cost(arch);
    nlohmann::json r = {{"kind", kind}, {"arch", space.Format(arch)}, {"flops", cost.flops}, {"params", cost.params}};
    double val_acc = -1, test_acc = -1;
    if (val) {
      absl::StatusOr<supernet::EvalResult> e = val->Evaluate(arch);
      if (!e.ok()) return e.status();
      r["val_accuracy"] = e->accuracy;
      r["val_loss"] = e->loss;
      val_acc = e->accuracy;
    }
    if (test) {
      absl::StatusOr<supernet::EvalResult> e = test->Evaluate(arch);
      if (!e.ok()) return e.status();
      r["test_accuracy"] = e->accuracy;
      r["test_loss"] = e->loss;
      test_acc = e->accuracy;
    }
    results.push_back(r);
    if (!options.json) {
      out << absl::StrFormat("%-8s %10.3f %10.4f %9s %9s  %s\n", kind, cost.flops / 1e6,
                             cost.params / 1e6,
                             val_acc >= 0 ? absl::StrFormat("%.4f", val_acc) : "",
                             test_acc >= 0 ? absl::StrFormat("%.4f", test_acc) : "",
                             space.Format(arch));
      out.flush();
    }
  }
  if (options.json) out << results.dump(2) << "\n";
  return absl::OkStatus();
}

}  // namespace nas::service
