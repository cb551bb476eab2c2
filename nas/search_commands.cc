#include "nas/search_commands.h"

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nas/engine/job_threads.h"
#include "nas/engine/progress.h"
#include "nas/launcher.h"
#include "search/constraints.h"

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
      "%s search on %s with %s: %d evaluations (%d paid, %d from the archive) in %.1f s\nbest: %s\n  %s\n",
      result->algorithm(), result->space(), result->evaluator(), result->evaluations(), result->paid_evaluations(),
      result->archive_hits(), result->seconds(), engine::DescribeEvaluation(result->best(), metric),
      result->best().arch());
  if (!options.out.empty()) out << "wrote " << options.out << "/result.json and " << options.out << "/plot.svg\n";
  return absl::OkStatus();
}

}  // namespace nas::service
