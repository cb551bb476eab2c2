// The `nas` command-line tool. Parses flags, then calls one command function.
#include <atomic>
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "nas/search_commands.h"
#include "nas/space_commands.h"
#include "nas/train_commands.h"

namespace {

std::atomic<bool> search_stop{false};

void OnSignal(int) {
  nas::service::RequestTrainStop();
  search_stop = true;
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
                         "table:PATH: latency CSV with header arch,DEVICE1,... (milliseconds), for "
                         "latency@DEVICE objectives and constraints");
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
  search_cmd->add_option("--threads", search.threads, "Intra-op threads (default: one per core)");
  search_cmd->add_option("--out", search.out,
                         "Directory for result.json (best, Pareto front, full history) and plot.svg");
  search_cmd->add_flag("--json", search.json, "Print JSON instead of text");

  CLI11_PARSE(app, argc, argv);

  absl::Status status;
  if (describe_cmd->parsed()) status = nas::service::RunSpaceDescribe(describe, std::cout);
  if (cost_cmd->parsed()) status = nas::service::RunSpaceCost(cost, std::cout);
  if (sample_cmd->parsed()) status = nas::service::RunSpaceSample(sample, std::cout);
  if (train_cmd->parsed()) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    status = nas::service::RunTrain(train, std::cout, std::cerr);
  }
  if (eval_cmd->parsed()) status = nas::service::RunEval(eval, std::cout);
  if (search_cmd->parsed()) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    search.should_stop = [] { return search_stop.load(); };
    status = nas::service::RunSearchCommand(search, std::cout, std::cerr);
  }
  if (!status.ok()) {
    std::cerr << "error: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
