#include "nas/search_commands.h"

#include <unistd.h>

#include <iostream>
#include <memory>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nas/client_commands.h"
#include "nas/engine/job_threads.h"
#include "nas/engine/progress.h"
#include "nas/launcher.h"
#include "search/constraints.h"
#include "supernet/search_space.h"

namespace nas::service {

v1::SearchSpec ToSearchSpec(const SearchCommandOptions& o) {
  v1::SearchSpec spec;
  spec.set_space(o.space);
  spec.set_evaluator(o.evaluator);
  spec.set_combine(o.combine);
  spec.set_algorithm(o.algorithm);
  // --objective takes comma-separated lists; the spec one objective per entry.
  for (const std::string& s : o.objectives) {
    for (absl::string_view one : absl::StrSplit(s, ',', absl::SkipWhitespace())) spec.add_objectives(std::string(one));
  }
  for (const std::string& s : o.constraints) spec.add_constraints(s);
  spec.set_budget(o.budget);
  spec.set_seed(o.seed);
  spec.set_population(o.population);
  spec.set_parents(o.parents);
  spec.set_mutation_probability(o.mutation_probability);
  spec.set_predictor(o.predictor);
  spec.set_latency(o.latency);
  if (o.calibration_batches >= 0) spec.set_calibration_batches(o.calibration_batches);
  if (o.eval_images >= 0) spec.set_eval_images(o.eval_images);
  spec.set_zc_batch(o.zc_batch);
  spec.set_zc_seed(o.zc_seed);
  spec.set_zc_repeats(o.zc_repeats);
  for (const std::string& a : o.initial_archs) spec.add_initial_archs(a);
  if (o.rerank_top >= 0) spec.set_rerank_top(o.rerank_top);
  if (o.rerank_images >= 0) spec.set_rerank_images(o.rerank_images);
  if (o.no_reference_start) spec.set_reference_start(false);
  if (o.evaluate_equivalent) spec.set_skip_equivalent(false);
  return spec;
}

absl::Status RunSearchCommand(const SearchCommandOptions& options, std::ostream& out, std::ostream& log) {
  absl::StatusOr<DistributedStart> joined =
      StartDistributed(options.nproc, options.dist_timeout_s, options.args, log);
  if (!joined.ok()) return joined.status();
  if (joined->launched) return joined->launch_status;  // This process only launched the ranks.
  const bool rank0 = joined->dist == nullptr || joined->dist->rank() == 0;
  const engine::JobThreads threads(options.threads);
  engine::StreamProgress progress(log, /*tty=*/false);
  engine::SearchJobEnv env;
  env.archive = options.archive;
  env.out_dir = options.out;
  if (options.json) env.json_out = &out;
  env.should_stop = options.should_stop;
  env.distributed = joined->dist.get();
  absl::StatusOr<v1::SearchResult> result = engine::RunSearchJob(ToSearchSpec(options), env, progress);
  if (!result.ok()) return result.status();
  if (options.json || !rank0) return absl::OkStatus();
  std::string metric = "accuracy";
  if (result->objectives_size() > 0) {
    absl::StatusOr<search::Objective> first = search::ParseObjective(result->objectives(0));
    if (first.ok()) metric = first->metric;
  }
  out << absl::StrFormat(
      "%s search on %s with %s: %d evaluations (%d paid, %d from the archive%s) in %.1f s\nbest: %s\n  %s\n",
      result->algorithm(), result->space(), result->evaluator(), result->evaluations(), result->paid_evaluations(),
      result->archive_hits(),
      result->prescored_evaluations() > 0
          ? absl::StrCat(", ", result->prescored_evaluations(), " free from the reference sample")
          : "",
      result->seconds(), engine::DescribeEvaluation(result->best(), metric),
      result->best().arch());
  if (!options.out.empty()) out << "wrote " << options.out << "/result.json and " << options.out << "/plot.svg\n";
  return absl::OkStatus();
}

namespace {

absl::Status RunRemoteSearch(const ClientOptions& client, const SearchCommandOptions& o, const std::string& request_id,
                             std::ostream& out, std::ostream& log) {
  auto stub = Connect(client);
  if (!stub.ok()) return stub.status();
  v1::StartSearchRequest request;
  request.set_request_id(request_id);
  *request.mutable_spec() = ToSearchSpec(o);
  // A space is named by its name on the server; a local YAML path gives its stem.
  if (!o.space.empty()) {
    auto space = supernet::LoadSearchSpace(o.space);
    request.mutable_spec()->set_space(space.ok() ? (*space)->name() : o.space);
  }
  v1::Job job;
  auto context = Context(client);
  if (absl::Status s = FromGrpc((*stub)->StartSearch(context.get(), request, &job)); !s.ok()) return s;
  log << "submitted " << job.id() << "\n";
  return RunWatchJob(client, job.id(), out, log);
}

}  // namespace

void AddSearchCommand(Commands& commands) {
  auto search = std::make_shared<SearchCommandOptions>();
  CLI::App* search_cmd = commands.app().add_subcommand(
      "search", "Search a space for the best architectures under constraints; Ctrl-C stops after the "
                "current generation, and rerunning the same command resumes from the evaluation archive");
  search_cmd->add_option("--space", search->space,
                         "Search space YAML file (optional with a supernet evaluator: the checkpoint's, less options its "
                         "training excluded or shrinking dropped)");
  search_cmd->add_option("--evaluator", search->evaluator,
                         "table:PATH[:COLUMN]: NAS-Bench-201's CSV (column cifar10 (default), cifar100 or "
                         "imagenet16) or a table of any space (CSV header arch,METRIC,... or JSON "
                         "{ARCH: {METRIC: value}}; column default accuracy); supernet:CHECKPOINT: inherited "
                         "weights, BN recalibrated, validation accuracy (CHECKPOINT may be a few-shot folder of `nas "
                         "fewshot`: each architecture uses its sub-supernet); cost: FLOPs/params/BitOPs/size/latency only")
      ->required();
  search_cmd->add_option("--algorithm", search->algorithm,
                         "random, evolution (SPOS), aging, nsga2 or predictor. Default: predictor when the evaluator "
                         "has scored a reference sample (combo:, and supernet: with its default combination; see "
                         "--no-reference-start), which is then its free training set; evolution otherwise");
  search_cmd->add_option("--objective", search->objectives,
                         "accuracy (maximized), flops, params, bitops, size, latency@DEVICE (minimized); max:/min: in front "
                         "overrides; repeatable or comma-separated; the first drives single-objective "
                         "algorithms, nsga2 uses two (default: accuracy, then flops)");
  search_cmd->add_option("--constraint", search->constraints,
                         "Bound on a cost, e.g. flops<=100M, params>=0.5M, bitops<=20G, size<=400KB (bytes at the "
                         "layers' bit-widths), latency@cpu<=12ms (repeatable)");
  search_cmd->add_option("--latency", search->latency,
                         "table:PATH: latency CSV with header arch,DEVICE1,... (milliseconds); lut:PATH: a "
                         "lookup table from nas profile. For latency@DEVICE objectives and constraints");
  search_cmd->add_option("--budget", search->budget, "Distinct architectures to evaluate")
      ->capture_default_str();
  search_cmd->add_option("--seed", search->seed, "Random seed")->capture_default_str();
  search_cmd->add_option("--population", search->population, "evolution, nsga2: population size")
      ->capture_default_str();
  search_cmd->add_option("--parents", search->parents, "evolution: top-k parents")
      ->capture_default_str();
  search_cmd->add_option("--mutation", search->mutation_probability,
                         "evolution, nsga2: per-gene mutation probability")
      ->capture_default_str();
  search_cmd->add_option("--predictor", search->predictor,
                         "predictor search: mlp_ensemble or ridge")
      ->capture_default_str();
  search_cmd->add_option("--archive", search->archive,
                         "SQLite archive of paid evaluations, reused by repeated or resumed searches; "
                         "'none' disables it (default: ~/.cache/supernet_nas/evaluations.sqlite)");
  search_cmd->add_option("--calibration-batches", search->calibration_batches,
                         "supernet evaluator: BN recalibration batches (default: the checkpoint config's)");
  search_cmd->add_option("--eval-images", search->eval_images,
                         "supernet evaluator: validation images scored per architecture (default: the "
                         "checkpoint config's evaluation.max_images, 0 = all)");
  search_cmd->add_option("--combine", search->combine,
                         "supernet:CHECKPOINT evaluator: label-free signals it is combined with (combo: items "
                         "joined by '+'; a bare 'supernet' or 'supernet_loss' item, or 'supernet@K' / 'supernet_loss@K' (cells "
                         "repeated to K per stage), takes the checkpoint, else the "
                         "inherited accuracy is added; the score is then a weighted mean percentile, "
                         "docs/search.md); 'none': the inherited accuracy alone. Default: " +
                             std::string(kDefaultCombination) +
                             ", and for a cell-based supernet trained with one cell per stage " +
                             kDefaultCellProxyCombination);
  search_cmd->add_option("--zc-batch", search->zc_batch,
                         "zc:/combo: evaluators: training images per zero-cost proxy evaluation")
      ->capture_default_str();
  search_cmd->add_option("--zc-seed", search->zc_seed,
                         "zc:/combo: evaluators: seed of the untrained weights, the proxy images and the "
                         "combination's reference sample")
      ->capture_default_str();
  search_cmd->add_option("--zc-repeats", search->zc_repeats,
                         "zc:/combo: evaluators: independent draws of untrained weights and images (seeds "
                         "zc-seed, zc-seed+1, ...) each proxy is averaged over, 1-16")
      ->capture_default_str();
  search_cmd->add_option("--initial-arch", search->initial_archs,
                         "An architecture string evaluated first, in the first generation (e.g. a known network "
                         "to improve on; it must meet the constraints and counts towards the budget; repeatable)");
  search_cmd->add_option("--rerank-top", search->rerank_top,
                         "supernet:/combo: evaluators: after the search, evaluate the K best again on "
                         "--rerank-images validation images and return the best by that second evaluation "
                         "(against picks whose small-sample estimate was lucky); 0: off. Default: 5 (on 2000 "
                         "images) for supernet: evaluators when neither --rerank-top nor --rerank-images is given, "
                         "else 0")
      ->check(CLI::Range(0, 1000));
  search_cmd->add_option("--rerank-images", search->rerank_images,
                         "Validation images per re-ranking evaluation (0: the whole validation split; default 0, "
                         "or 2000 with the supernet: default above)")
      ->check(CLI::NonNegativeNumber);
  search_cmd->add_flag("--no-reference-start", search->no_reference_start,
                       "combo: evaluators (and supernet: with its default combination): do not start from the "
                       "reference sample's feasible architectures (by default they join the first generation "
                       "free, outside the budget, since the combination has already scored them)");
  search_cmd->add_flag("--evaluate-equivalent", search->evaluate_equivalent,
                       "Also evaluate architectures whose networks compute the same function as one already "
                       "evaluated (by default they count as one: NB201 cells that differ only on edges no path to "
                       "the output uses are evaluated once)");
  search_cmd->add_option("--threads", search->threads, "Intra-op threads (default: one per core)");
  search_cmd->add_option("--out", search->out,
                         "Directory for result.json (best, Pareto front, full history) and plot.svg");
  search_cmd->add_flag("--json", search->json, "Print JSON instead of text");
  search_cmd->add_option("--nproc", search->nproc,
                         "Split each generation's evaluations across N local processes (c10d/Gloo); for several "
                         "machines set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead (docs/distributed.md)")
      ->capture_default_str();
  search_cmd->add_option("--dist-timeout", search->dist_timeout_s,
                         "Seconds a rank waits for the others before failing")
      ->capture_default_str();
  search->args = commands.argv();

  auto client = std::make_shared<ClientOptions>();
  auto request_id = std::make_shared<std::string>();
  AddClientFlags(search_cmd, client.get(), false);
  search_cmd->add_option("--request-id", *request_id, "With --server: makes a retried submission idempotent");
  commands.On(search_cmd, [search, client, request_id] {
    if (!client->server.empty()) return RunRemoteSearch(*client, *search, *request_id, std::cout, std::cerr);
    InstallStopSignals();
    search->should_stop = [] { return StopRequested(); };
    return RunSearchCommand(*search, std::cout, std::cerr);
  });
}

}  // namespace nas::service
