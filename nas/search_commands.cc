#include "nas/search_commands.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "search/algorithms.h"
#include "search/distributed_evaluator.h"
#include "search/latency_predictor.h"
#include "nas/launcher.h"
#include "supernet/distributed.h"
#include "search/supernet_evaluator.h"
#include "search/zero_cost_evaluator.h"
#include "search/svg_plot.h"
#include "supernet/file_util.h"
#include "supernet/nb201_space.h"

namespace nas::service {
namespace {

// A table evaluator for `spec` = PATH[:COLUMN]: NAS-Bench-201's own CSV (recognized by
// its header) or a general per-architecture table.
absl::StatusOr<std::unique_ptr<search::AccuracyEvaluator>> LoadTableEvaluator(
    const supernet::SearchSpace& space, std::string path) {
  std::string column;
  if (const size_t colon = path.rfind(':'); colon != std::string::npos) {
    column = path.substr(colon + 1);
    path = path.substr(0, colon);
  }
  // Only the header line decides the format; the loaders read the file once.
  std::string header;
  {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("--evaluator: ", path, ": cannot open"));
    std::getline(in, header);
  }
  if (!absl::StartsWith(header, "CIFAR10TestAccuracy200Epochs")) {
    auto table = search::TableEvaluator::Load(space, path, column.empty() ? "accuracy" : column);
    if (!table.ok()) return table.status();
    return std::unique_ptr<search::AccuracyEvaluator>(*std::move(table));
  }
  const auto* nb201 = dynamic_cast<const supernet::Nb201Space*>(&space);
  if (nb201 == nullptr) {
    return absl::InvalidArgumentError(
        "--evaluator: the NAS-Bench-201 table needs an nb201 space (--space configs/nb201.yaml)");
  }
  absl::StatusOr<supernet::Nb201Table> table = supernet::Nb201Table::Load(*nb201, path);
  if (!table.ok()) return table.status();
  auto evaluator = search::Nb201TableEvaluator::Create(
      std::make_shared<const supernet::Nb201Table>(*std::move(table)), column.empty() ? "cifar10" : column);
  if (!evaluator.ok()) return evaluator.status();
  return std::unique_ptr<search::AccuracyEvaluator>(*std::move(evaluator));
}

nlohmann::json EvaluationJson(const supernet::SearchSpace& space, const search::Evaluation& e) {
  nlohmann::json j = {{"arch", space.Format(e.arch)},
                      {"flops", e.cost.flops},
                      {"params", e.cost.params},
                      {"generation", e.generation}};
  if (!std::isnan(e.accuracy)) {
    j["accuracy"] = e.accuracy;
    j["seconds"] = e.seconds;
    j["from_archive"] = e.from_archive;
  }
  if (!e.latency_ms.empty()) j["latency_ms"] = e.latency_ms;
  return j;
}

// Writes result.json's text: `summary` with a "history" array appended, one evaluation
// at a time, so that a long search never holds its whole history as JSON (a tree of about
// 1 KB, or text of about 300 bytes, per evaluation); the text is nlohmann's dump(2) of
// the merged object except that "history" comes last.
void WriteResultJson(std::ostream& out, const nlohmann::json& summary, const supernet::SearchSpace& space,
                     const std::vector<search::Evaluation>& history) {
  std::string head = summary.dump(2);
  head.resize(head.rfind('}'));  // Reopen the object.
  while (!head.empty() && (head.back() == '\n' || head.back() == ' ')) head.pop_back();
  out << head << ",\n  \"history\": [";
  for (size_t i = 0; i < history.size(); ++i) {
    out << (i == 0 ? "\n    " : ",\n    ");
    const std::string entry = EvaluationJson(space, history[i]).dump(2);
    size_t start = 0;
    for (size_t nl; (nl = entry.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.write(entry.data() + start, static_cast<std::streamsize>(nl + 1 - start));
      out << "    ";
    }
    out.write(entry.data() + start, static_cast<std::streamsize>(entry.size() - start));
  }
  out << (history.empty() ? "]\n}\n" : "\n  ]\n}\n");
}

std::string Describe(const search::Evaluation& e, const search::Objective& primary) {
  std::string s = absl::StrFormat("%.3f MFLOPs, %.4f M params", e.cost.flops / 1e6, e.cost.params / 1e6);
  if (!std::isnan(e.accuracy)) s = absl::StrFormat("%.2f %% at %s", e.accuracy, s);
  for (const auto& [device, ms] : e.latency_ms) absl::StrAppendFormat(&s, ", %.4g ms on %s", ms, device);
  if (primary.metric != "accuracy" && primary.metric != "flops" && primary.metric != "params" &&
      e.latency_ms.empty()) {
    absl::StrAppend(&s, ", ", primary.metric, " unknown");
  }
  return s;
}

}  // namespace

absl::Status RunSearchCommand(const SearchCommandOptions& options, std::ostream& real_out,
                              std::ostream& real_log) {
  absl::StatusOr<DistributedStart> joined =
      StartDistributed(options.nproc, options.dist_timeout_s, options.args, real_log);
  if (!joined.ok()) return joined.status();
  if (joined->launched) return joined->launch_status;  // This process only launched the ranks.
  std::unique_ptr<supernet::Distributed> dist = std::move(joined->dist);
  // Only rank 0 prints and writes files; every rank runs the same search.
  const bool rank0 = dist == nullptr || dist->rank() == 0;
  std::ostream null_stream(nullptr);
  std::ostream& out = rank0 ? real_out : null_stream;
  std::ostream& log = rank0 ? real_log : null_stream;
  torch::set_num_threads(options.threads > 0 ? options.threads
                                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  // The evaluator; a supernet checkpoint brings its own space.
  std::shared_ptr<const supernet::SearchSpace> space;
  std::unique_ptr<search::AccuracyEvaluator> evaluator;
  std::string spec = options.evaluator;
  if (absl::StartsWith(spec, "supernet:") && !options.combine.empty() && options.combine != "none") {
    spec = absl::StrCat("combo:", spec, "+", options.combine);
    log << "evaluator: " << spec << " (--combine none: the inherited accuracy alone)\n";
  }
  if (absl::StartsWith(spec, "supernet:")) {
    search::SupernetEvaluator::Options eo;
    eo.calibration_batches = options.calibration_batches;
    eo.max_images = options.eval_images;
    log << "loading supernet " << spec.substr(9) << " and its data...\n";
    auto supernet = search::SupernetEvaluator::Load(spec.substr(9), torch::kCPU, eo);
    if (!supernet.ok()) return absl::Status(supernet.status().code(), absl::StrCat("--evaluator: ", supernet.status().message()));
    space = (*supernet)->trained().config.space;
    evaluator = *std::move(supernet);
  } else if (search::IsModelEvaluatorSpec(spec)) {
    search::ModelEvaluatorOptions mo;
    mo.calibration_batches = options.calibration_batches;
    mo.eval_images = options.eval_images;
    mo.zero_cost.batch_size = options.zc_batch;
    mo.zero_cost.seed = options.zc_seed;
    mo.zero_cost.repeats = options.zc_repeats;
    mo.reference_seed = options.zc_seed;
    auto loaded = search::LoadModelEvaluator(spec, "--evaluator", torch::kCPU, mo, log);
    if (!loaded.ok()) return loaded.status();
    space = loaded->space;
    evaluator = std::move(loaded->evaluator);
  } else {
    if (options.space.empty()) {
      return absl::InvalidArgumentError("--space: required unless --evaluator is supernet:, zc: or combo:");
    }
    auto loaded = supernet::LoadSearchSpace(options.space);
    if (!loaded.ok()) return loaded.status();
    space = *loaded;
    if (absl::StartsWith(spec, "table:")) {
      auto table = LoadTableEvaluator(*space, spec.substr(6));
      if (!table.ok()) return table.status();
      evaluator = *std::move(table);
    } else if (spec != "cost") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--evaluator: '", spec, "' is not one of table:PATH[:COLUMN], supernet:CHECKPOINT, zc:PROXY:CONFIG, combo:ITEMS, cost"));
    }
  }

  // An evaluator that brings its own space: --space, when given, must name the same one.
  if (evaluator != nullptr && !options.space.empty() && !absl::StartsWith(spec, "table:")) {
    auto given = supernet::LoadSearchSpace(options.space);
    if (!given.ok()) return given.status();
    if ((*given)->name() != space->name()) {
      const bool checkpoint = absl::StartsWith(options.evaluator, "supernet:");
      return absl::InvalidArgumentError(absl::StrCat(
          "--space: '", (*given)->name(), checkpoint ? "' but the checkpoint was trained on '" : "' but the evaluator is over '",
          space->name(), "' (omit --space to use the ", checkpoint ? "checkpoint's)" : "evaluator's)"));
    }
  }
  std::unique_ptr<search::LatencyModel> latency;
  if (!options.latency.empty()) {
    auto model = search::LoadLatencyModel(*space, options.latency, "--latency");
    if (!model.ok()) return model.status();
    latency = *std::move(model);
  }
  const search::MetricModel metrics(*space, latency.get());
  std::unique_ptr<search::AccuracyEvaluator> distributed_evaluator;
  if (dist != nullptr && evaluator != nullptr) {
    distributed_evaluator = std::make_unique<search::DistributedEvaluator>(evaluator.get(), dist.get());
  }
  search::AccuracyEvaluator* used_evaluator = distributed_evaluator ? distributed_evaluator.get() : evaluator.get();

  search::SearchOptions o;
  o.algorithm = options.algorithm;
  o.budget = options.budget;
  o.seed = options.seed;
  o.population = options.population;
  o.parents = options.parents;
  o.mutation_probability = options.mutation_probability;
  o.predictor = options.predictor;
  o.should_stop = options.should_stop;
  if (dist != nullptr) {
    // Ranks agree on stopping after each generation (a stop on any rank stops all).
    o.should_stop = [&options, &dist] {
      std::vector<double> flag = {options.should_stop && options.should_stop() ? 1.0 : 0.0};
      if (!dist->AverageValues(&flag).ok()) return true;
      return flag[0] > 0;
    };
    o.archive_writes = dist->rank() == 0;
  }
  if (!options.objectives.empty()) o.objectives.clear();
  for (const std::string& list : options.objectives) {
    for (absl::string_view text : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      absl::StatusOr<search::Objective> objective = search::ParseObjective(std::string(text));
      if (!objective.ok()) return objective.status();
      o.objectives.push_back(*objective);
    }
  }
  for (const std::string& text : options.constraints) {
    absl::StatusOr<search::Constraint> c = search::ParseConstraint(text);
    if (!c.ok()) return c.status();
    o.constraints.push_back(*c);
  }
  if (absl::Status s = search::ValidateSearch(metrics, used_evaluator, o); !s.ok()) return s;
  std::unique_ptr<search::EvaluationArchive> archive;
  if (evaluator != nullptr && options.archive != "none") {
    const std::string path = options.archive.empty() ? DefaultCacheDir() + "/evaluations.sqlite" : options.archive;
    auto opened = search::EvaluationArchive::Open(path);
    if (opened.ok()) {
      archive = *std::move(opened);
      o.archive = archive.get();
    } else if (!options.archive.empty()) {
      return absl::Status(opened.status().code(), absl::StrCat("--archive: ", opened.status().message()));
    } else {
      log << "warning: running without an evaluation archive: " << opened.status().message() << "\n";
    }
  }
  const search::Objective primary = o.objectives.empty() ? search::Objective{} : o.objectives.front();
  o.on_generation = [&](int64_t generation, int64_t evaluated, const search::Evaluation& best) {
    log << absl::StrFormat("generation %d: %d/%d evaluated, best %s\n", generation, evaluated, o.budget,
                           Describe(best, primary));
    log.flush();
  };
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<search::SearchResult> result = search::RunSearch(metrics, used_evaluator, o);
  if (!result.ok()) return result.status();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json objectives = nlohmann::json::array(), constraints = nlohmann::json::array(),
                 front = nlohmann::json::array();
  for (const search::Objective& objective : o.objectives) objectives.push_back(objective.ToString());
  for (const search::Constraint& c : o.constraints) constraints.push_back(c.ToString());
  for (int i : result->front) front.push_back(EvaluationJson(*space, result->history[i]));
  nlohmann::json j = {{"space", space->name()},
                      {"evaluator", evaluator ? evaluator->id() : "cost"},
                      {"algorithm", o.algorithm},
                      {"objectives", objectives},
                      {"constraints", constraints},
                      {"budget", o.budget},
                      {"seed", o.seed},
                      {"evaluations", result->history.size()},
                      {"paid_evaluations", result->paid},
                      {"archive_hits", result->archive_hits},
                      {"finished", !result->stopped},
                      {"seconds", seconds},
                      {"best", EvaluationJson(*space, result->best)},
                      {"pareto_front_objectives", {result->y_objective.ToString(), result->x_objective.ToString()}},
                      {"pareto_front", front}};
  if (latency) j["latency_model"] = latency->id();
  if (archive) j["archive"] = archive->path();
  if (!result->hypervolume.empty()) j["hypervolume_per_generation"] = result->hypervolume;
  if (dist != nullptr) j["world_size"] = dist->world_size();
  const auto write_result = [&](std::ostream& stream) { WriteResultJson(stream, j, *space, result->history); };
  if (!options.out.empty() && rank0) {
    if (absl::Status s = WriteFileAtomically(options.out + "/result.json", write_result); !s.ok()) return s;
    const std::string title = absl::StrCat(o.algorithm, " on ", space->name(), " (",
                                           evaluator ? evaluator->id() : "cost", ")");
    if (absl::Status s = WriteFileAtomically(options.out + "/plot.svg", search::PlotSearchSvg(*result, title));
        !s.ok()) {
      return s;
    }
  }
  if (result->stopped) {
    log << absl::StrFormat("stopped after %d evaluations; rerun the same command to resume%s\n",
                           result->history.size(),
                           archive ? absl::StrCat(" (evaluations are kept in ", archive->path(), ")") : "");
  }
  if (options.json) {
    write_result(out);
  } else {
    out << absl::StrFormat("%s search on %s with %s: %d evaluations (%d paid, %d from the archive) in %.1f s\n"
                           "best: %s\n  %s\n",
                           o.algorithm, space->name(), evaluator ? evaluator->id() : "cost", result->history.size(),
                           result->paid, result->archive_hits, seconds, Describe(result->best, primary),
                           space->Format(result->best.arch));
    if (!options.out.empty()) out << "wrote " << options.out << "/result.json and " << options.out << "/plot.svg\n";
  }
  return absl::OkStatus();
}

}  // namespace nas::service
