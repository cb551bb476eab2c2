// The `nas` command-line tool. Parses flags, then calls one command function.
#include <atomic>
#include <pthread.h>

#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nas/client_commands.h"
#include "nas/latency_commands.h"
#include "nas/search_commands.h"
#include "nas/service.h"
#include "nas/space_commands.h"
#include "nas/train_commands.h"
#include "supernet/file_util.h"

namespace {

std::atomic<bool> search_stop{false};

void OnSignal(int) {
  nas::service::RequestTrainStop();
  search_stop = true;
}

// `nas serve`: runs until SIGINT/SIGTERM, then shuts down gracefully.
absl::Status RunServe(const nas::service::ServerOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Worker threads inherit the mask.
  auto server = nas::service::NasServer::Start(options);
  if (!server.ok()) return server.status();
  std::cout << "nas server listening on " << options.host << ":" << (*server)->port() << " (data: " << options.data_dir
            << ")" << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "signal " << signal << ": stopping; running jobs checkpoint and resume on the next start\n";
  (*server)->Shutdown();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nas: weight-sharing supernet neural architecture search engine"};
  app.require_subcommand(1);

  CLI::App* space = app.add_subcommand("space", "Inspect search spaces (YAML in configs/)");
  space->require_subcommand(1);

  nas::service::DescribeOptions describe;
  CLI::App* describe_cmd = space->add_subcommand(
      "describe", "Show layers, choices, space size and min/max FLOPs and params");
  describe_cmd->add_option("--config", describe.configs, "Search space YAML file (repeatable)")
      ->required();
  describe_cmd->add_flag("--json", describe.json, "Print JSON instead of text");

  nas::service::CostOptions cost;
  CLI::App* cost_cmd =
      space->add_subcommand("cost", "Show total and per-layer FLOPs and params of an architecture");
  cost_cmd->add_option("--config", cost.config, "Search space YAML file")->required();
  cost_cmd->add_option("--arch", cost.arch, "Architecture string (see docs/search_spaces.md)")
      ->required();
  cost_cmd->add_flag("--json", cost.json, "Print JSON instead of text");

  nas::service::SampleOptions sample;
  CLI::App* sample_cmd =
      space->add_subcommand("sample", "Draw architectures uniformly at random, with their costs");
  sample_cmd->add_option("--config", sample.config, "Search space YAML file")->required();
  sample_cmd->add_option("--n", sample.n, "Number of architectures")->capture_default_str();
  sample_cmd->add_option("--seed", sample.seed, "Random seed")->capture_default_str();
  sample_cmd->add_flag("--json", sample.json, "Print JSON instead of text");

  nas::service::TrainCommandOptions train;
  CLI::App* train_cmd = app.add_subcommand(
      "train", "Train a weight-sharing supernet (Ctrl-C checkpoints and stops; --resume continues)");
  train_cmd->add_option("--config", train.config, "Training config YAML (see configs/train_*.yaml)")
      ->required();
  train_cmd->add_option("--out", train.out,
                        "Output directory for checkpoint, metrics.jsonl, summary.json "
                        "(default: runs/<config name>)");
  train_cmd->add_flag("--resume", train.resume, "Continue from the checkpoint in --out");
  train_cmd->add_option("--threads", train.threads, "Intra-op threads (default: one per core)");
  train_cmd->add_option("--steps", train.steps, "Override the number of training steps");
  train_cmd->add_option("--batch-size", train.batch_size, "Override training.batch_size");
  train_cmd->add_option("--stop-after", train.stop_after,
                        "Checkpoint and stop after this many steps of this run");
  train_cmd->add_flag("--json", train.json, "Print the summary as JSON");
  train_cmd->add_option("--nproc", train.nproc,
                        "Data-parallel training in N local processes (c10d/Gloo); for several machines set "
                        "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead (docs/distributed.md)")
      ->capture_default_str();
  train_cmd->add_option("--micro-batches", train.micro_batches,
                        "Split each process's share of the batch into M accumulated micro-batches")
      ->capture_default_str();
  train_cmd->add_option("--dist-timeout", train.dist_timeout_s,
                        "Seconds a rank waits for the others (rendezvous, each collective) before failing")
      ->capture_default_str();
  train.args.assign(argv, argv + argc);

  nas::service::EvalCommandOptions eval;
  CLI::App* eval_cmd = app.add_subcommand(
      "eval", "Accuracy of architectures with inherited weights after BN recalibration");
  eval_cmd->add_option("--checkpoint", eval.checkpoint, "Supernet checkpoint (.nasckpt)")->required();
  eval_cmd->add_option("--arch", eval.archs,
                       "Architecture string, or 'largest' / 'smallest' (repeatable)");
  eval_cmd->add_option("--random", eval.random, "Also evaluate N uniformly sampled architectures");
  eval_cmd->add_option("--seed", eval.seed, "Seed for --random")->capture_default_str();
  eval_cmd->add_option("--split", eval.split,
                       "val (held out of training; for search), test (report only) or both")
      ->capture_default_str();
  eval_cmd->add_option("--threads", eval.threads, "Intra-op threads (default: one per core)");
  eval_cmd->add_flag("--json", eval.json, "Print JSON instead of text");

  nas::service::ExportCommandOptions export_options;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Write a deployment bundle of one architecture: TorchScript subnet.pt (BN recalibrated), "
                "bn_stats.pt, subnet.json; the export is reloaded, checked against the supernet and scored");
  export_cmd->add_option("--checkpoint", export_options.checkpoint, "Supernet checkpoint (.nasckpt)")->required();
  export_cmd->add_option("--arch", export_options.arch, "Architecture string, or largest / smallest")->required();
  export_cmd->add_option("--out", export_options.out,
                         "Output directory (with --server: a bundle name, written to DATA_DIR/exports/NAME on the "
                         "server; --checkpoint is then a path the server can read)")
      ->required();
  export_cmd->add_option("--batch-size", export_options.batch_size, "Batch size the TorchScript module is traced for")
      ->capture_default_str();
  export_cmd->add_option("--verify-images", export_options.verify_images,
                         "Test images the reloaded export is scored on (0: skip)")
      ->capture_default_str();
  export_cmd->add_option("--threads", export_options.threads, "Intra-op threads (default: one per core)");
  export_cmd->add_flag("--json", export_options.json, "Print subnet.json instead of text");

  nas::service::ProfileCommandOptions profile;
  CLI::App* profile_cmd = app.add_subcommand(
      "profile", "Measure a latency lookup table of a search space on this machine: every block's choices "
                 "timed inside real subnets, plus a correction fitted on end-to-end subnet latencies "
                 "(docs/latency.md)");
  profile_cmd->add_option("--space", profile.space, "Search space YAML file")->required();
  profile_cmd->add_option("--out", profile.out, "Lookup table to write (JSON)")->required();
  profile_cmd->add_flag("--force", profile.force, "Replace an existing --out");
  profile_cmd->add_option("--device-name", profile.device_name, "Device name searches use: latency@NAME")
      ->capture_default_str();
  profile_cmd->add_option("--statistic", profile.statistic,
                          "Statistic of the timed passes latencies are read as: p10, median, min, mean "
                          "(p10 resists interference on shared machines; docs/latency.md)")
      ->capture_default_str();
  profile_cmd->add_option("--batch-size", profile.batch_size, "Also profile this batch size (batch 1 always)");
  profile_cmd->add_option("--warmup", profile.warmup, "Untimed passes per network")->capture_default_str();
  profile_cmd->add_option("--runs", profile.runs,
                          "Timed passes of every network (profiling, calibration and held-out subnets, "
                          "all interleaved)")
      ->capture_default_str();
  profile_cmd->add_option("--rounds", profile.rounds, "Networks each block choice is timed in")
      ->capture_default_str();
  profile_cmd->add_option("--threads", profile.threads, "Intra-op threads, fixed while measuring")
      ->capture_default_str();
  profile_cmd->add_option("--seed", profile.seed, "Seed for the profiled and measured subnets")
      ->capture_default_str();
  profile_cmd->add_option("--calibrate", profile.calibrate,
                          "Random subnets measured end to end to fit the correction (0: table sum only)")
      ->capture_default_str();
  profile_cmd->add_option("--holdout", profile.holdout,
                          "Further random subnets measured to report MAPE, RMSE and Kendall tau")
      ->capture_default_str();
  profile_cmd->add_flag("--json", profile.json, "Print a JSON summary instead of text");

  nas::service::LatencyCommandOptions latency;
  CLI::App* latency_cmd = app.add_subcommand(
      "latency", "Predicted latency of architectures from a lookup table (nas profile); --measure also times "
                 "them here");
  latency_cmd->add_option("--table", latency.table, "Lookup table written by nas profile")->required();
  latency_cmd->add_option("--space", latency.space, "Search space YAML (default: the one the table records)");
  latency_cmd->add_option("--arch", latency.archs, "Architecture string, or largest / smallest (repeatable)");
  latency_cmd->add_option("--random", latency.random, "Also N uniformly sampled architectures");
  latency_cmd->add_option("--seed", latency.seed, "Seed for --random")->capture_default_str();
  latency_cmd->add_flag("--measure", latency.measure,
                        "Also measure each architecture's extracted subnet end to end (batch 1, the table's threads)");
  latency_cmd->add_option("--runs", latency.runs, "Timed passes for --measure")->capture_default_str();
  latency_cmd->add_flag("--json", latency.json, "Print JSON instead of text");

  nas::service::SearchCommandOptions search;
  CLI::App* search_cmd = app.add_subcommand(
      "search", "Search a space for the best architectures under constraints; Ctrl-C stops after the "
                "current generation, and rerunning the same command resumes from the evaluation archive");
  search_cmd->add_option("--space", search.space,
                         "Search space YAML file (optional with a supernet evaluator: the checkpoint's)");
  search_cmd->add_option("--evaluator", search.evaluator,
                         "table:PATH[:COLUMN]: NAS-Bench-201's CSV (column cifar10 (default), cifar100 or "
                         "imagenet16) or a table of any space (CSV header arch,METRIC,... or JSON "
                         "{ARCH: {METRIC: value}}; column default accuracy); supernet:CHECKPOINT: inherited "
                         "weights, BN recalibrated, validation accuracy; cost: FLOPs/params/latency only")
      ->required();
  search_cmd->add_option("--algorithm", search.algorithm, "random, evolution (SPOS), aging, nsga2 or predictor")
      ->capture_default_str();
  search_cmd->add_option("--objective", search.objectives,
                         "accuracy (maximized), flops, params, latency@DEVICE (minimized); max:/min: in front "
                         "overrides; repeatable or comma-separated; the first drives single-objective "
                         "algorithms, nsga2 uses two (default: accuracy, then flops)");
  search_cmd->add_option("--constraint", search.constraints,
                         "Bound on a cost, e.g. flops<=100M, params>=0.5M, latency@cpu<=12ms (repeatable)");
  search_cmd->add_option("--latency", search.latency,
                         "table:PATH: latency CSV with header arch,DEVICE1,... (milliseconds); lut:PATH: a "
                         "lookup table from nas profile. For latency@DEVICE objectives and constraints");
  search_cmd->add_option("--budget", search.budget, "Distinct architectures to evaluate")
      ->capture_default_str();
  search_cmd->add_option("--seed", search.seed, "Random seed")->capture_default_str();
  search_cmd->add_option("--population", search.population, "evolution, nsga2: population size")
      ->capture_default_str();
  search_cmd->add_option("--parents", search.parents, "evolution: top-k parents")
      ->capture_default_str();
  search_cmd->add_option("--mutation", search.mutation_probability,
                         "evolution, nsga2: per-gene mutation probability")
      ->capture_default_str();
  search_cmd->add_option("--predictor", search.predictor,
                         "predictor search: mlp_ensemble or ridge")
      ->capture_default_str();
  search_cmd->add_option("--archive", search.archive,
                         "SQLite archive of paid evaluations, reused by repeated or resumed searches; "
                         "'none' disables it (default: ~/.cache/supernet_nas/evaluations.sqlite)");
  search_cmd->add_option("--calibration-batches", search.calibration_batches,
                         "supernet evaluator: BN recalibration batches (default: the checkpoint config's)");
  search_cmd->add_option("--eval-images", search.eval_images,
                         "supernet evaluator: validation images scored per architecture (default: the "
                         "checkpoint config's evaluation.max_images, 0 = all)");
  search_cmd->add_option("--combine", search.combine,
                         "supernet:CHECKPOINT evaluator: label-free signals it is combined with (combo: items "
                         "joined by '+'; the score is then a weighted mean percentile, docs/search.md); 'none': "
                         "the inherited accuracy alone")
      ->capture_default_str();
  search_cmd->add_option("--zc-batch", search.zc_batch,
                         "zc:/combo: evaluators: training images per zero-cost proxy evaluation")
      ->capture_default_str();
  search_cmd->add_option("--zc-seed", search.zc_seed,
                         "zc:/combo: evaluators: seed of the untrained weights, the proxy images and the "
                         "combination's reference sample")
      ->capture_default_str();
  search_cmd->add_option("--zc-repeats", search.zc_repeats,
                         "zc:/combo: evaluators: independent draws of untrained weights and images (seeds "
                         "zc-seed, zc-seed+1, ...) each proxy is averaged over, 1-16")
      ->capture_default_str();
  search_cmd->add_option("--threads", search.threads, "Intra-op threads (default: one per core)");
  search_cmd->add_option("--out", search.out,
                         "Directory for result.json (best, Pareto front, full history) and plot.svg");
  search_cmd->add_flag("--json", search.json, "Print JSON instead of text");
  search_cmd->add_option("--nproc", search.nproc,
                         "Split each generation's evaluations across N local processes (c10d/Gloo); for several "
                         "machines set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead (docs/distributed.md)")
      ->capture_default_str();
  search_cmd->add_option("--dist-timeout", search.dist_timeout_s,
                         "Seconds a rank waits for the others before failing")
      ->capture_default_str();
  search.args.assign(argv, argv + argc);

  // Client side: with --server, these subcommands talk to a running `nas serve`.
  nas::service::ClientOptions client;
  std::string request_id;
  auto add_client_flags = [&](CLI::App* cmd, bool required) {
    CLI::Option* o = cmd->add_option("--server", client.server, "host:port of a `nas serve` server");
    if (required) o->required();
    cmd->add_option("--token", client.token, "Bearer token the server requires (or $NAS_TOKEN)")->envname("NAS_TOKEN");
    cmd->add_option("--tls-ca", client.tls_ca, "PEM CA certificate of a TLS server");
  };
  add_client_flags(search_cmd, false);
  search_cmd->add_option("--request-id", request_id, "With --server: makes a retried submission idempotent");
  add_client_flags(train_cmd, false);
  train_cmd->add_option("--request-id", request_id, "With --server: makes a retried submission idempotent");
  add_client_flags(export_cmd, false);

  CLI::App* jobs_cmd = app.add_subcommand("jobs", "List a server's jobs");
  add_client_flags(jobs_cmd, true);
  bool jobs_json = false;
  jobs_cmd->add_flag("--json", jobs_json, "Print JSON instead of text");
  std::string job_id;
  CLI::App* watch_cmd = app.add_subcommand("watch", "Follow a server job's progress until it ends");
  watch_cmd->add_option("job", job_id, "Job id")->required();
  add_client_flags(watch_cmd, true);
  CLI::App* cancel_cmd = app.add_subcommand("cancel", "Cancel a server job (running jobs stop after the current step or generation)");
  cancel_cmd->add_option("job", job_id, "Job id")->required();
  add_client_flags(cancel_cmd, true);

  nas::service::ServerOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve", "Run the gRPC server (NasService, health, reflection); SIGTERM/Ctrl-C stops it gracefully, "
               "checkpointing running jobs, which resume on the next start");
  serve_cmd->add_option("--host", serve.host, "Address to bind (non-loopback needs --tls-* and --token)")
      ->capture_default_str();
  serve_cmd->add_option("--port", serve.port, "Port (0: pick a free one and print it)")->capture_default_str();
  serve_cmd->add_option("--data-dir", serve.data_dir, "Jobs, their outputs, the job store and the evaluation archive")
      ->capture_default_str();
  serve_cmd->add_option("--config-dir", serve.config_dir, "Search spaces and training configs the server knows")
      ->capture_default_str();
  serve_cmd->add_option("--allow-dir", serve.allowed_dirs,
                        "Further directory whose files (tables, checkpoints) requests may name (repeatable)");
  serve_cmd->add_option("--token", serve.token, "Require 'authorization: Bearer TOKEN' (or $NAS_TOKEN)")
      ->envname("NAS_TOKEN");
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate chain for TLS");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key for TLS");
  serve_cmd->add_flag("--allow-insecure-remote", serve.allow_insecure_remote,
                      "Allow a non-loopback address without TLS and a token (not recommended)");
  serve_cmd->add_option("--max-jobs", serve.max_running, "Jobs run at once")->capture_default_str();
  serve_cmd->add_option("--max-queued", serve.max_queued, "Jobs waiting; beyond this RESOURCE_EXHAUSTED")
      ->capture_default_str();
  serve_cmd->add_option("--threads", serve.threads, "Intra-op threads per job (default: one per core)");
  std::string token_file;
  serve_cmd->add_option("--token-file", token_file,
                        "File whose first line is the token (keeps it out of the process list)");
  serve_cmd->add_option("--max-budget", serve.limits.max_budget,
                        "Largest search budget a request may ask for (larger: RESOURCE_EXHAUSTED)")
      ->capture_default_str();
  serve_cmd->add_option("--max-constraints", serve.limits.max_constraints, "Most constraints per search request")
      ->capture_default_str();
  serve_cmd->add_option("--max-batch-size", serve.limits.max_batch_size, "Largest training batch size a request may set")
      ->capture_default_str();
  serve_cmd->add_option("--max-watchers", serve.max_watchers, "Concurrent WatchJob streams (each holds a thread)")
      ->capture_default_str();
  serve_cmd->add_option("--max-result-bytes", serve.max_result_bytes,
                        "Results larger than this are stored in the job without their history (the full "
                        "result.json stays in the job's directory)")
      ->capture_default_str();
  serve_cmd->add_option("--max-crash-restarts", serve.max_crash_restarts,
                        "Times a job that was running when the server died is restarted before it is FAILED")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  absl::Status status;
  if (describe_cmd->parsed()) status = nas::service::RunSpaceDescribe(describe, std::cout);
  if (cost_cmd->parsed()) status = nas::service::RunSpaceCost(cost, std::cout);
  if (sample_cmd->parsed()) status = nas::service::RunSpaceSample(sample, std::cout);
  if (train_cmd->parsed() && !client.server.empty()) {
    // The server chooses the job's directory and resumes its own jobs.
    if (train_cmd->count("--out") > 0 || train.resume) {
      status = absl::InvalidArgumentError(
          "--out and --resume: not used with --server (the server keeps each job in its data directory and "
          "resumes unfinished jobs itself; see `nas jobs`)");
    } else {
      status = nas::service::RunRemoteTrain(client, train, request_id, std::cout, std::cerr);
    }
  } else if (train_cmd->parsed()) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    status = nas::service::RunTrain(train, std::cout, std::cerr);
  }
  if (eval_cmd->parsed()) status = nas::service::RunEval(eval, std::cout);
  if (search_cmd->parsed() && !client.server.empty()) {
    status = nas::service::RunRemoteSearch(client, search, request_id, std::cout, std::cerr);
  } else if (search_cmd->parsed()) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    search.should_stop = [] { return search_stop.load(); };
    status = nas::service::RunSearchCommand(search, std::cout, std::cerr);
  }
  if (profile_cmd->parsed()) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    profile.should_stop = [] { return search_stop.load(); };
    status = nas::service::RunProfile(profile, std::cout, std::cerr);
  }
  if (latency_cmd->parsed()) status = nas::service::RunLatency(latency, std::cout);
  if (export_cmd->parsed() && !client.server.empty()) {
    status = nas::service::RunRemoteExport(client, export_options, std::cout);
  } else if (export_cmd->parsed()) {
    status = nas::service::RunExport(export_options, std::cout);
  }
  if (jobs_cmd->parsed()) status = nas::service::RunListJobs(client, jobs_json, std::cout);
  if (watch_cmd->parsed()) status = nas::service::RunWatchJob(client, job_id, std::cout, std::cerr);
  if (cancel_cmd->parsed()) status = nas::service::RunCancelJob(client, job_id, std::cout);
  if (serve_cmd->parsed() && !token_file.empty()) {
    if (!serve.token.empty()) {
      status = absl::InvalidArgumentError("--token and --token-file: give one");
    } else if (absl::StatusOr<std::string> text = nas::ReadFileBytes(token_file); !text.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat("--token-file: ", text.status().message()));
    } else {
      serve.token = std::string(absl::StripAsciiWhitespace(text->substr(0, text->find('\n'))));
      if (serve.token.empty()) status = absl::InvalidArgumentError("--token-file " + token_file + ": empty");
    }
  }
  if (serve_cmd->parsed() && status.ok()) status = RunServe(serve);
  if (!status.ok()) {
    std::cerr << "error: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
