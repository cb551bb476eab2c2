#include "nas/train_commands.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nas/client_commands.h"
#include "nas/engine/export_job.h"
#include "nas/engine/fewshot_job.h"
#include "nas/engine/finetune_job.h"
#include "nas/engine/job_threads.h"
#include "nas/engine/progress.h"
#include "nas/engine/training_job.h"
#include "nas/launcher.h"
#include "supernet/evaluator.h"
#include "supernet/few_shot.h"
#include "supernet/file_util.h"
#include "supernet/trained_supernet.h"

namespace nas::service {

absl::StatusOr<supernet::Architecture> ParseArchOrExtreme(const supernet::SearchSpace& space,
                                                         const std::string& text) {
  return engine::ParseArchOrExtreme(space, text, "--arch");
}

namespace {

// A job's error with the field it names ("checkpoint: ...") as the flag the user typed
// ("--checkpoint: ..."); each entry is FIELD or FIELD:FLAG (without the dashes).
absl::Status WithFlagNames(const absl::Status& status, const std::vector<std::string>& fields) {
  const std::string message(status.message());
  for (const std::string& entry : fields) {
    const std::vector<std::string> parts = absl::StrSplit(entry, ':');
    const std::string field = parts[0] + ": ";
    if (absl::StartsWith(message, field)) {
      return absl::Status(status.code(), absl::StrCat("--", parts.back(), ": ", message.substr(field.size())));
    }
  }
  return status;
}

// The text summary of an export, local or remote.
void PrintExport(const v1::ExportSubnetResponse& r, const std::string& where, std::ostream& out) {
  out << absl::StrFormat("exported %s of %s to %s (%s)%s\n  %.3f MFLOPs, %.4f M params\n", r.arch(), r.space(),
                         r.output_dir(), absl::StrJoin(r.files(), ", "), where, r.flops() / 1e6, r.params() / 1e6)
      << engine::DescribeBundle(r);
}

}  // namespace

absl::Status RunExport(const ExportCommandOptions& options, std::ostream& out) {
  if (options.out.empty()) return absl::InvalidArgumentError("--out: required");
  if (options.format != "all" && options.format != "torchscript") {
    return absl::InvalidArgumentError(absl::StrCat("--format: must be all or torchscript, got '", options.format, "'"));
  }
  const engine::JobThreads threads(options.threads);
  // A few-shot supernet: the sub-supernet the architecture inherits from.
  absl::StatusOr<std::string> checkpoint = engine::CheckpointFor(options.checkpoint, options.arch, "--arch");
  if (!checkpoint.ok()) return checkpoint.status();
  absl::StatusOr<supernet::TrainedSupernet> trained = supernet::LoadTrainedSupernet(*checkpoint, torch::kCPU);
  if (!trained.ok()) return trained.status();
  absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(*trained->config.space, options.arch);
  if (!arch.ok()) return arch.status();
  supernet::ExportOptions eo;
  eo.batch_size = options.batch_size;
  eo.verify_images = options.verify_images;
  eo.force = options.force;
  eo.onnx = options.format == "all";
  eo.int8 = options.int8;
  eo.qengine = options.qengine;
  absl::StatusOr<v1::ExportSubnetResponse> r = engine::RunExportJob(*trained, *arch, options.out, eo);
  if (!r.ok()) return r.status();
  if (options.json) {
    out << r->metadata_json() << "\n";
  } else {
    PrintExport(*r, absl::StrCat(" in ", absl::StrFormat("%.1f s", r->seconds())), out);
  }
  return absl::OkStatus();
}

absl::Status RunTrain(const TrainCommandOptions& options, std::ostream& out, std::ostream& log) {
  if (options.config.empty()) return absl::InvalidArgumentError("--config: a training config is required");
  if (options.threads < 0) return absl::InvalidArgumentError("--threads: must be >= 0");
  if (options.micro_batches < 1) return absl::InvalidArgumentError("--micro-batches: must be >= 1");
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
  job.init_from = options.init_from;
  job.stop_after = options.stop_after;
  job.micro_batches = options.micro_batches;
  job.distributed = joined->dist.get();
  // The signal handler asks the run to stop through this (set while training runs).
  std::function<void()> stop;
  job.register_stop = [&](std::function<void()> f) {
    if (f) {
      stop = std::move(f);
      SetTrainingStop(&stop);
    } else {
      SetTrainingStop(nullptr);
    }
  };
  absl::StatusOr<v1::TrainingResult> result;
  {
    engine::StreamProgress progress(log, isatty(STDERR_FILENO) != 0);
    result = engine::RunTrainingJob(job, progress);
  }
  if (!result.ok()) return result.status();
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

absl::Status RunFineTune(const FineTuneCommandOptions& options, std::ostream& out, std::ostream& log) {
  if (options.out.empty()) return absl::InvalidArgumentError("--out: required");
  if (options.threads < 0) return absl::InvalidArgumentError("--threads: must be >= 0");
  const engine::JobThreads threads(options.threads);
  engine::FineTuneJob job;
  job.checkpoint = options.checkpoint;
  job.arch = options.arch;
  job.config_path = options.config;
  job.from_scratch = options.from_scratch;
  job.steps = options.steps;
  job.out_dir = options.out;
  job.resume = options.resume;
  job.stop_after = options.stop_after;
  job.verify_images = options.verify_images;
  std::function<void()> stop;
  job.register_stop = [&](std::function<void()> f) {
    stop = std::move(f);
    SetTrainingStop(stop ? &stop : nullptr);
  };
  absl::StatusOr<v1::FineTuneResult> result;
  {
    engine::StreamProgress progress(log, isatty(STDERR_FILENO) != 0);
    result = engine::RunFineTuneJob(job, progress);
  }
  SetTrainingStop(nullptr);
  if (!result.ok()) return WithFlagNames(result.status(), {"checkpoint", "arch", "config"});
  if (options.json) {
    std::string text;
    google::protobuf::util::JsonPrintOptions print;
    print.add_whitespace = true;
    print.preserve_proto_field_names = true;
    print.always_print_primitive_fields = true;
    if (!google::protobuf::util::MessageToJsonString(*result, &text, print).ok()) {
      return absl::InternalError("cannot print the result as JSON");
    }
    out << text;
    return absl::OkStatus();
  }
  const v1::TrainingResult& t = result->training();
  if (!t.finished()) {
    out << absl::StrFormat("stopped at step %d/%d; rerun with --resume to continue\ncheckpoint: %s\n", t.steps(),
                           t.total_steps(), t.checkpoint());
    return absl::OkStatus();
  }
  const v1::ExportSubnetResponse& b = result->bundle();
  out << absl::StrFormat("fine-tuned %s of %s for %d steps: test accuracy %.2f %% on %d images%s\n", result->arch(),
                         result->space(), t.steps(), b.test_accuracy(), b.test_images(),
                         result->has_inherited_test_accuracy()
                             ? absl::StrFormat(" (inherited weights: %.2f %%)", result->inherited_test_accuracy())
                             : std::string(" (from scratch)"));
  out << absl::StrFormat("  %.3f MFLOPs, %.4f M params; bundle %s (%s)\n", b.flops() / 1e6, b.params() / 1e6,
                         b.output_dir(), absl::StrJoin(b.files(), ", "));
  out << engine::DescribeBundle(b);
  return absl::OkStatus();
}

absl::Status RunFewShot(const FewShotCommandOptions& options, std::ostream& out, std::ostream& log) {
  if (options.threads < 0) return absl::InvalidArgumentError("--threads: must be >= 0");
  const engine::JobThreads threads(options.threads);
  engine::FewShotJob job;
  job.checkpoint = options.checkpoint;
  job.gene = options.gene;
  job.steps = options.steps;
  job.lr = options.lr;
  job.out_dir = options.out;
  job.stop_after = options.stop_after;
  std::function<void()> stop;
  job.register_stop = [&](std::function<void()> f) {
    stop = std::move(f);
    SetTrainingStop(stop ? &stop : nullptr);
  };
  absl::StatusOr<engine::FewShotResult> result;
  {
    engine::StreamProgress progress(log, isatty(STDERR_FILENO) != 0);
    result = engine::RunFewShotJob(job, progress);
  }
  SetTrainingStop(nullptr);
  if (!result.ok()) return WithFlagNames(result.status(), {"checkpoint", "gene", "steps", "out_dir:out"});
  if (!result->finished) {
    out << "stopped; rerun the same command to continue\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat("few-shot supernet: %s\n", result->manifest);
  out << "use it wherever a supernet checkpoint goes (--evaluator supernet:" << options.out
      << ", nas export/finetune --checkpoint " << options.out << ")\n";
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
  // The checkpoint, or for a few-shot supernet each sub-supernet an architecture routes to
  // (loaded when first needed, all sharing the first one's data).
  const bool few_shot = supernet::IsFewShotPath(options.checkpoint);
  std::string first = options.checkpoint;
  if (few_shot) {
    absl::StatusOr<supernet::FewShotManifest> manifest = supernet::ReadFewShotManifest(options.checkpoint);
    if (!manifest.ok()) return manifest.status();
    first = manifest->children.front().checkpoint;
  }
  struct Loaded {
    supernet::TrainedSupernet trained;
    std::unique_ptr<supernet::Evaluator> val, test;
  };
  std::map<std::string, std::unique_ptr<Loaded>> loaded;
  auto load = [&](const std::string& path) -> absl::StatusOr<Loaded*> {
    std::unique_ptr<Loaded>& slot = loaded[path];
    if (slot != nullptr) return slot.get();
    const supernet::DataSplits* data = loaded.size() > 1 ? &loaded.at(first)->trained.data : nullptr;
    absl::StatusOr<supernet::TrainedSupernet> trained = supernet::LoadTrainedSupernet(path, torch::kCPU, data);
    if (!trained.ok()) {
      loaded.erase(path);
      return trained.status();
    }
    slot = std::make_unique<Loaded>();
    slot->trained = *std::move(trained);
    if (options.split != "test") {
      slot->val = supernet::MakeEvaluator(slot->trained, supernet::EvalSplit::kValidation, torch::kCPU);
    }
    if (options.split != "val") {
      slot->test = supernet::MakeEvaluator(slot->trained, supernet::EvalSplit::kTest, torch::kCPU);
    }
    return slot.get();
  };
  absl::StatusOr<Loaded*> base = load(first);
  if (!base.ok()) return base.status();
  const supernet::TrainedSupernet* trained = &(*base)->trained;
  const supernet::SearchSpace& space = *trained->config.space;
  std::vector<std::pair<std::string, supernet::Architecture>> archs;
  for (const std::string& text : options.archs) {
    absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(space, text);
    if (!arch.ok()) return arch.status();
    archs.emplace_back(text == "largest" || text == "smallest" ? text : "given", *arch);
  }
  Rng rng(options.seed);
  for (int64_t i = 0; i < options.random; ++i) archs.emplace_back("random", space.Sample(rng));

  const bool val = options.split != "test", test = options.split != "val";
  nlohmann::json results = nlohmann::json::array();
  if (!options.json) {
    out << absl::StrFormat("checkpoint %s (step %d/%d), space %s\n", options.checkpoint,
                           trained->step, trained->total_steps, space.name());
    out << absl::StrFormat("%-8s %10s %10s %9s %9s  %s\n", "kind", "MFLOPs", "M params",
                           val ? "val acc" : "", test ? "test acc" : "", "arch");
  }
  for (const auto& [kind, arch] : archs) {
    absl::StatusOr<Loaded*> part = base;
    if (few_shot) {
      absl::StatusOr<std::string> path = engine::CheckpointFor(options.checkpoint, space.Format(arch), "--arch");
      if (!path.ok()) return path.status();
      part = load(*path);
      if (!part.ok()) return part.status();
    }
    const supernet::CostSummary cost = space.Cost(arch);
    nlohmann::json r = {{"kind", kind}, {"arch", space.Format(arch)}, {"flops", cost.flops}, {"params", cost.params}};
    double val_acc = -1, test_acc = -1;
    if (val) {
      absl::StatusOr<supernet::EvalResult> e = (*part)->val->Evaluate(arch);
      if (!e.ok()) return e.status();
      r["val_accuracy"] = e->accuracy;
      r["val_loss"] = e->loss;
      val_acc = e->accuracy;
    }
    if (test) {
      absl::StatusOr<supernet::EvalResult> e = (*part)->test->Evaluate(arch);
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

namespace {

absl::Status RunRemoteExport(const ClientOptions& client, const ExportCommandOptions& o, std::ostream& out) {
  auto stub = Connect(client);
  if (!stub.ok()) return stub.status();
  v1::ExportSubnetRequest request;
  request.set_name(o.out);
  request.set_checkpoint(o.checkpoint);
  request.mutable_architecture()->set_arch(o.arch);
  request.set_batch_size(o.batch_size);
  request.set_force(o.force);
  request.set_skip_onnx(o.format == "torchscript");
  request.set_int8(o.int8);
  request.set_quantized_engine(o.qengine);
  v1::ExportSubnetResponse response;
  auto context = Context(client);
  absl::Status s = FromGrpc((*stub)->ExportSubnet(context.get(), request, &response));
  if (!s.ok()) {
    if (absl::StartsWith(s.message(), "name:")) {
      return absl::Status(s.code(), absl::StrCat("--out (with --server, a bundle name on the server)",
                                                 s.message().substr(4)));
    }
    return s;
  }
  if (o.json) {
    out << response.metadata_json() << "\n";
    return absl::OkStatus();
  }
  PrintExport(response, absl::StrCat(" on ", client.server), out);
  return absl::OkStatus();
}

absl::Status RunRemoteTrain(const ClientOptions& client, const TrainCommandOptions& o, const std::string& request_id,
                            std::ostream& out, std::ostream& log) {
  auto stub = Connect(client);
  if (!stub.ok()) return stub.status();
  v1::StartTrainingRequest request;
  request.set_request_id(request_id);
  request.mutable_spec()->set_config(std::filesystem::path(o.config).filename().string());
  request.mutable_spec()->set_steps(o.steps);
  request.mutable_spec()->set_batch_size(o.batch_size);
  v1::Job job;
  auto context = Context(client);
  if (absl::Status s = FromGrpc((*stub)->StartTraining(context.get(), request, &job)); !s.ok()) return s;
  log << "submitted " << job.id() << "\n";
  return RunWatchJob(client, job.id(), out, log);
}

// `nas finetune --server`: the server fine-tunes (paths as the server sees them; --config a
// file name in its config directory) into its job directory; the bundle is in bundle/.
absl::Status RunRemoteFineTune(const ClientOptions& client, const FineTuneCommandOptions& o,
                               const std::string& request_id, std::ostream& out, std::ostream& log) {
  auto stub = Connect(client);
  if (!stub.ok()) return stub.status();
  v1::StartFineTuneRequest request;
  request.set_request_id(request_id);
  v1::FineTuneSpec* spec = request.mutable_spec();
  spec->set_checkpoint(o.checkpoint);
  spec->set_arch(o.arch);
  if (!o.config.empty()) spec->set_config(std::filesystem::path(o.config).filename().string());
  spec->set_steps(o.steps);
  spec->set_from_scratch(o.from_scratch);
  spec->set_verify_images(o.verify_images);
  v1::Job job;
  auto context = Context(client);
  if (absl::Status s = FromGrpc((*stub)->StartFineTune(context.get(), request, &job)); !s.ok()) return s;
  log << "submitted " << job.id() << "\n";
  return RunWatchJob(client, job.id(), out, log);
}

}  // namespace

void AddTrainCommands(Commands& commands) {
  auto train = std::make_shared<TrainCommandOptions>();
  CLI::App* train_cmd = commands.app().add_subcommand(
      "train", "Train a weight-sharing supernet (Ctrl-C checkpoints and stops; --resume continues)");
  train_cmd->add_option("--config", train->config, "Training config YAML (see configs/train_*.yaml)")
      ->required();
  train_cmd->add_option("--out", train->out,
                        "Output directory for checkpoint, metrics.jsonl, summary.json "
                        "(default: runs/<config name>)");
  train_cmd->add_flag("--resume", train->resume, "Continue from the checkpoint in --out");
  train_cmd->add_option("--init-from", train->init_from,
                        "Start a fresh run from the weights of this checkpoint (same search space; e.g. to go on "
                        "training a supernet on a shrunk space, sampler.exclude); the optimizer starts anew");
  train_cmd->add_option("--threads", train->threads, "Intra-op threads (default: one per core)");
  train_cmd->add_option("--steps", train->steps, "Override the number of training steps");
  train_cmd->add_option("--batch-size", train->batch_size, "Override training.batch_size");
  train_cmd->add_option("--stop-after", train->stop_after,
                        "Checkpoint and stop after this many steps of this run");
  train_cmd->add_flag("--json", train->json, "Print the summary as JSON");
  train_cmd->add_option("--nproc", train->nproc,
                        "Data-parallel training in N local processes (c10d/Gloo); for several machines set "
                        "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead (docs/distributed.md)")
      ->capture_default_str();
  train_cmd->add_option("--micro-batches", train->micro_batches,
                        "Split each process's share of the batch into M accumulated micro-batches")
      ->capture_default_str();
  train_cmd->add_option("--dist-timeout", train->dist_timeout_s,
                        "Seconds a rank waits for the others (rendezvous, each collective) before failing")
      ->capture_default_str();
  train->args = commands.argv();

  auto eval = std::make_shared<EvalCommandOptions>();
  CLI::App* eval_cmd = commands.app().add_subcommand(
      "eval", "Accuracy of architectures with inherited weights after BN recalibration");
  eval_cmd->add_option("--checkpoint", eval->checkpoint, "Supernet checkpoint (.nasckpt) or few-shot folder")->required();
  eval_cmd->add_option("--arch", eval->archs,
                       "Architecture string, or 'largest' / 'smallest' (repeatable)");
  eval_cmd->add_option("--random", eval->random, "Also evaluate N uniformly sampled architectures");
  eval_cmd->add_option("--seed", eval->seed, "Seed for --random")->capture_default_str();
  eval_cmd->add_option("--split", eval->split,
                       "val (held out of training; for search), test (report only) or both")
      ->capture_default_str();
  eval_cmd->add_option("--threads", eval->threads, "Intra-op threads (default: one per core)");
  eval_cmd->add_flag("--json", eval->json, "Print JSON instead of text");

  auto export_options = std::make_shared<ExportCommandOptions>();
  CLI::App* export_cmd = commands.app().add_subcommand(
      "export", "Write a deployment bundle of one architecture: subnet.pt (TorchScript) and subnet.onnx (ONNX "
                "opset 10), both for any batch size, BN recalibrated and folded into the convolutions; "
                "bn_stats.pt; subnet.json. The bundle is reloaded, checked against the supernet path, at batch "
                "1/7/64 and in OpenCV DNN (ONNX), scored on test images and timed at batch 1. Architectures below 32 "
                "bits (or --int8) are exported with integer kernels and checked against the fake-quantized path");
  export_cmd->add_option("--checkpoint", export_options->checkpoint,
                         "Supernet checkpoint (.nasckpt) or few-shot folder (nas fewshot)")->required();
  export_cmd->add_option("--arch", export_options->arch, "Architecture string, or largest / smallest")->required();
  export_cmd->add_option("--out", export_options->out,
                         "Output directory (with --server: a bundle name, written to DATA_DIR/exports/NAME on the "
                         "server; --checkpoint is then a path the server can read)")
      ->required();
  export_cmd->add_option("--format", export_options->format, "all (TorchScript and ONNX) or torchscript")
      ->capture_default_str();
  export_cmd->add_flag("--force", export_options->force, "Replace a bundle already at --out");
  export_cmd->add_option("--batch-size", export_options->batch_size,
                         "Batch size of the checks and test scoring (the bundle runs at any batch size)")
      ->capture_default_str();
  export_cmd->add_option("--verify-images", export_options->verify_images,
                         "Test images the reloaded export is scored on (0: skip)")
      ->capture_default_str();
  export_cmd->add_option("--threads", export_options->threads, "Intra-op threads (default: one per core)");
  export_cmd->add_flag("--json", export_options->json, "Print subnet.json instead of text");
  export_cmd->add_flag("--int8", export_options->int8,
                       "Post-training quantization: every searched layer runs int8 (weights per channel, inputs "
                       "on ranges calibrated on training images). Architectures with bit-width genes below 32 are "
                       "exported quantized without it. A quantized bundle has no subnet.onnx");
  export_cmd->add_option("--qengine", export_options->qengine,
                         "Quantized engine of a quantized export: onednn or qnnpack (default: the fastest this "
                         "LibTorch has)");

  auto client = std::make_shared<ClientOptions>();
  auto request_id = std::make_shared<std::string>();
  AddClientFlags(train_cmd, client.get(), false);
  train_cmd->add_option("--request-id", *request_id, "With --server: makes a retried submission idempotent");
  AddClientFlags(export_cmd, client.get(), false);
  commands.On(train_cmd, [train, client, request_id, train_cmd] {
    if (client->server.empty()) {
      InstallStopSignals();
      return RunTrain(*train, std::cout, std::cerr);
    }
    // The server chooses the job's directory and resumes its own jobs.
    if (train_cmd->count("--out") > 0 || train->resume) {
      return absl::InvalidArgumentError(
          "--out and --resume: not used with --server (the server keeps each job in its data directory and "
          "resumes unfinished jobs itself; see `nas jobs`)");
    }
    if (!train->init_from.empty()) {
      return absl::InvalidArgumentError("--init-from: not used with --server (a local checkpoint of this machine)");
    }
    return RunRemoteTrain(*client, *train, *request_id, std::cout, std::cerr);
  });
  commands.On(eval_cmd, [eval] { return RunEval(*eval, std::cout); });

  auto finetune = std::make_shared<FineTuneCommandOptions>();
  CLI::App* finetune_cmd = commands.app().add_subcommand(
      "finetune", "Train the stand-alone subnet of one architecture, initialised from the supernet's weights, then "
                  "write its deployment bundle (OUT/bundle) and score it on the test set; Ctrl-C checkpoints and "
                  "stops, --resume continues");
  finetune_cmd->add_option("--checkpoint", finetune->checkpoint,
                           "Trained supernet checkpoint (.nasckpt) or few-shot folder (nas fewshot)")->required();
  finetune_cmd->add_option("--arch", finetune->arch, "Architecture string, or largest / smallest")->required();
  finetune_cmd->add_option("--config", finetune->config,
                           "Fine-tuning YAML: training, optimizer, schedule (and data/evaluation keys) replacing the "
                           "supernet's (configs/finetune_*.yaml; default: the supernet's own)");
  finetune_cmd->add_option("--out", finetune->out,
                           "Output directory: checkpoint.nasckpt, metrics.jsonl, summary.json, bundle/ (required "
                           "unless --server: the server uses its job directory)");
  finetune_cmd->add_flag("--from-scratch", finetune->from_scratch,
                         "Start from freshly initialised weights instead of the supernet's");
  finetune_cmd->add_flag("--resume", finetune->resume, "Continue from the checkpoint in --out");
  finetune_cmd->add_option("--steps", finetune->steps, "Override the number of training steps");
  finetune_cmd->add_option("--stop-after", finetune->stop_after,
                           "Checkpoint and stop after this many steps of this run");
  finetune_cmd->add_option("--verify-images", finetune->verify_images,
                           "Test images the bundle is scored on (0: all)")
      ->capture_default_str();
  finetune_cmd->add_option("--threads", finetune->threads, "Intra-op threads (default: one per core)");
  finetune_cmd->add_flag("--json", finetune->json, "Print the result as JSON");
  AddClientFlags(finetune_cmd, client.get(), false);
  finetune_cmd->add_option("--request-id", *request_id, "With --server: makes a retried submission idempotent");
  commands.On(finetune_cmd, [finetune, client, request_id] {
    if (!client->server.empty()) {
      if (!finetune->out.empty() || finetune->resume) {
        return absl::InvalidArgumentError(
            "--out and --resume: not used with --server (the server keeps each job in its data directory and "
            "resumes unfinished jobs itself)");
      }
      return RunRemoteFineTune(*client, *finetune, *request_id, std::cout, std::cerr);
    }
    InstallStopSignals();
    return RunFineTune(*finetune, std::cout, std::cerr);
  });
  auto fewshot = std::make_shared<FewShotCommandOptions>();
  CLI::App* fewshot_cmd = commands.app().add_subcommand(
      "fewshot",
      "Split a trained supernet into a few-shot supernet (Few-shot NAS): one sub-supernet per option of one gene, "
      "each starting from the supernet's weights and trained on the paths with that option. The output folder "
      "then stands in for a checkpoint in search (--evaluator supernet:OUT), export and fine-tuning, each "
      "architecture using its own sub-supernet. Ctrl-C checkpoints and stops; rerunning continues");
  fewshot_cmd->add_option("--checkpoint", fewshot->checkpoint, "Trained supernet checkpoint (.nasckpt)")->required();
  fewshot_cmd->add_option("--out", fewshot->out, "Output folder (fewshot.json, option_<k>/ per sub-supernet)")
      ->required();
  fewshot_cmd->add_option("--steps", fewshot->steps, "Training steps of each sub-supernet")->required();
  fewshot_cmd->add_option("--gene", fewshot->gene, "Index of the gene to split on (`nas space` lists the genes)")
      ->capture_default_str();
  fewshot_cmd->add_option("--lr", fewshot->lr,
                          "Initial learning rate of the sub-supernets, cosine to the config's min_lr, no warm-up "
                          "(default: the supernet config's)");
  fewshot_cmd->add_option("--stop-after", fewshot->stop_after, "Checkpoint and stop after this many steps in all");
  fewshot_cmd->add_option("--threads", fewshot->threads, "Intra-op threads (default: one per core)");
  commands.On(fewshot_cmd, [fewshot] {
    InstallStopSignals();
    return RunFewShot(*fewshot, std::cout, std::cerr);
  });
  commands.On(export_cmd, [export_options, client] {
    if (!client->server.empty()) return RunRemoteExport(*client, *export_options, std::cout);
    return RunExport(*export_options, std::cout);
  });
}

}  // namespace nas::service
