#include "nas/train_commands.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "supernet/trained_supernet.h"
#include "supernet/export.h"
#include "supernet/trainer.h"
#include "supernet/distributed.h"
#include "nas/launcher.h"

namespace nas::service {
namespace {

std::atomic<supernet::Trainer*> g_running_trainer{nullptr};

}  // namespace

absl::StatusOr<supernet::Architecture> ParseArchOrExtreme(const supernet::SearchSpace& space,
                                                         const std::string& text) {
  if (text == "largest") return space.MaxFlops().arch;
  if (text == "smallest") return space.MinFlops().arch;
  absl::StatusOr<supernet::Architecture> arch = space.Parse(text);
  if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat("--arch: ", arch.status().message()));
  return arch;
}

absl::Status RunExport(const ExportCommandOptions& options, std::ostream& out) {
  if (options.out.empty()) return absl::InvalidArgumentError("--out: required");
  torch::set_num_threads(options.threads > 0 ? options.threads
                                            : std::max(1u, std::thread::hardware_concurrency()));
  absl::StatusOr<supernet::TrainedSupernet> trained = supernet::LoadTrainedSupernet(options.checkpoint, torch::kCPU);
  if (!trained.ok()) return trained.status();
  absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(*trained->config.space, options.arch);
  if (!arch.ok()) return arch.status();
  supernet::ExportOptions eo;
  eo.batch_size = options.batch_size;
  eo.verify_images = options.verify_images;
  absl::StatusOr<nlohmann::json> j = supernet::ExportSubnet(*trained, *arch, options.out, eo);
  if (!j.ok()) return j.status();
  if (options.json) {
    out << j->dump(2) << "\n";
  } else {
    out << absl::StrFormat(
        "exported %s of %s to %s (subnet.pt, bn_stats.pt, subnet.json) in %.1f s\n"
        "  %.3f MFLOPs, %.4f M params; reloaded export vs supernet path: max |diff| %.2g; "
        "test accuracy of the export %.2f %% on %d images\n",
        (*j)["arch"].get<std::string>(), (*j)["space"].get<std::string>(), options.out, (*j)["seconds"].get<double>(),
        (*j)["flops"].get<int64_t>() / 1e6, (*j)["params"].get<int64_t>() / 1e6,
        (*j)["check"]["max_abs_diff_vs_supernet_path"].get<double>(), (*j)["test_accuracy"].get<double>(),
        (*j)["test_images"].get<int64_t>());
  }
  return absl::OkStatus();
}

void RequestTrainStop() {
  if (supernet::Trainer* t = g_running_trainer.load()) t->RequestStop();
}

absl::Status RunTrain(const TrainCommandOptions& options, std::ostream& out, std::ostream& log) {
  if (options.config.empty()) return absl::InvalidArgumentError("--config: a training config is required");
  if (options.threads < 0) return absl::InvalidArgumentError("--threads: must be >= 0");
  absl::StatusOr<supernet::TrainConfig> config = supernet::LoadTrainConfig(options.config);
  if (!config.ok()) return config.status();
  if (options.steps > 0) config->training.steps = options.steps;
  if (options.batch_size > 0) config->training.batch_size = options.batch_size;
  if (options.micro_batches < 1) return absl::InvalidArgumentError("--micro-batches: must be >= 1");
  absl::StatusOr<DistributedStart> joined = StartDistributed(options.nproc, options.dist_timeout_s, options.args, log);
  if (!joined.ok()) return joined.status();
  if (joined->launched) return joined->launch_status;  // This process only launched the ranks.
  std::unique_ptr<supernet::Distributed> dist = std::move(joined->dist);
  const bool primary = dist == nullptr || dist->rank() == 0;
  supernet::TrainOptions train;
  train.distributed = dist.get();
  train.micro_batches = options.micro_batches;
  train.out_dir = options.out.empty()
                      ? absl::StrCat("runs/", std::filesystem::path(options.config).stem().string())
                      : options.out;
  train.resume = options.resume;
  train.threads = options.threads;
  train.stop_after_steps = options.stop_after;
  train.log = &log;
  train.tty = isatty(STDERR_FILENO) != 0;
  absl::StatusOr<std::unique_ptr<supernet::Trainer>> trainer =
      supernet::Trainer::Create(*std::move(config), train);
  if (!trainer.ok()) {
    if (dist != nullptr) {
      return absl::Status(trainer.status().code(), absl::StrCat("rank ", dist->rank(), ": ", trainer.status().message()));
    }
    return trainer.status();
  }
  if (primary) log << absl::StrFormat("training %s on %s: %d steps (%s), sampler %s, %d threads%s, output %s\n",
                         (*trainer)->config().space->name(), (*trainer)->config().data.dataset,
                         (*trainer)->total_steps(),
                         (*trainer)->step() > 0 ? absl::StrCat("resuming at step ", (*trainer)->step())
                                                : "from scratch",
                         (*trainer)->sampler().name(), torch::get_num_threads(),
                         dist ? absl::StrCat(" x ", dist->world_size(), " ranks") : "", train.out_dir);
  g_running_trainer.store(trainer->get());
  supernet::Trainer* raw = trainer->get();
  if (options.register_stop) options.register_stop([raw] { raw->RequestStop(); });
  absl::StatusOr<nlohmann::json> summary = (*trainer)->Run();
  if (options.register_stop) options.register_stop(nullptr);
  g_running_trainer.store(nullptr);
  if (!summary.ok()) return summary.status();  // Collective failures name the rank already.
  if (!primary) return absl::OkStatus();
  if (options.json) {
    out << summary->dump(2) << "\n";
  } else {
    out << absl::StrFormat(
        "%s at step %d/%d; median %.0f images/s on %d threads; loss %.4f, train accuracy %.3f\n"
        "checkpoint: %s\n",
        (*summary)["finished"].get<bool>() ? "finished" : "stopped", (*summary)["steps"].get<int64_t>(),
        (*summary)["total_steps"].get<int64_t>(), (*summary)["median_images_per_second"].get<double>(),
        (*summary)["threads"].get<int>(), (*summary)["final_loss_ema"].get<double>(),
        (*summary)["final_accuracy_ema"].get<double>(), (*summary)["checkpoint"].get<std::string>());
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
  torch::set_num_threads(options.threads > 0 ? options.threads
                                            : std::max(1u, std::thread::hardware_concurrency()));
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
