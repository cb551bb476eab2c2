#include "nas/engine/search_job.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <streambuf>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "search/algorithms.h"
#include "search/distributed_evaluator.h"
#include "search/latency_predictor.h"
#include "search/predictor.h"
#include "search/supernet_evaluator.h"
#include "search/svg_plot.h"
#include "search/zero_cost_evaluator.h"
#include "supernet/file_util.h"
#include "supernet/nb201_space.h"
#include "supernet/trained_supernet.h"

namespace nas::engine {
namespace {

// Entries of the front a typed result carries at most (result.json has them all).
constexpr int kMaxFrontEntries = 1000;

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
    if (!in) return absl::NotFoundError(absl::StrCat("evaluator: ", path, ": cannot open"));
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
        "evaluator: the NAS-Bench-201 table needs an nb201 space (space: configs/nb201.yaml)");
  }
  absl::StatusOr<supernet::Nb201Table> table = supernet::Nb201Table::Load(*nb201, path);
  if (!table.ok()) return table.status();
  auto evaluator = search::Nb201TableEvaluator::Create(
      std::make_shared<const supernet::Nb201Table>(*std::move(table)), column.empty() ? "cifar10" : column);
  if (!evaluator.ok()) return evaluator.status();
  return std::unique_ptr<search::AccuracyEvaluator>(*std::move(evaluator));
}

v1::Evaluation ToProto(const supernet::SearchSpace& space, const search::Evaluation& e) {
  v1::Evaluation p;
  p.set_arch(space.Format(e.arch));
  p.set_flops(e.cost.flops);
  p.set_params(e.cost.params);
  p.set_bitops(e.cost.bitops);
  p.set_size_bytes(e.cost.size_bytes);
  p.set_generation(e.generation);
  if (!std::isnan(e.accuracy)) {
    p.set_has_accuracy(true);
    p.set_accuracy(e.accuracy);
    p.set_seconds(e.seconds);
    p.set_from_archive(e.from_archive);
    p.set_prescored(e.prescored);
  }
  for (const auto& [device, ms] : e.latency_ms) (*p.mutable_latency_ms())[device] = ms;
  if (!std::isnan(e.rerank_accuracy)) {
    p.set_has_rerank_accuracy(true);
    p.set_rerank_accuracy(e.rerank_accuracy);
  }
  return p;
}

nlohmann::json EvaluationJson(const supernet::SearchSpace& space, const search::Evaluation& e) {
  nlohmann::json j = {{"arch", space.Format(e.arch)},
                      {"flops", e.cost.flops},
                      {"params", e.cost.params},
                      {"bitops", e.cost.bitops},
                      {"size_bytes", e.cost.size_bytes},
                      {"generation", e.generation}};
  if (!std::isnan(e.accuracy)) {
    j["accuracy"] = e.accuracy;
    j["seconds"] = e.seconds;
    j["from_archive"] = e.from_archive;
    if (e.prescored) j["prescored"] = true;
  }
  if (!e.latency_ms.empty()) j["latency_ms"] = e.latency_ms;
  if (!std::isnan(e.rerank_accuracy)) j["rerank_accuracy"] = e.rerank_accuracy;
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

// Prefixes a status message with the spec field it concerns.
absl::Status Field(const absl::Status& s, const char* field) {
  return absl::Status(s.code(), absl::StrCat(field, ": ", s.message()));
}

// The evaluator `spec` names and the space it searches.
struct LoadedEvaluator {
  std::shared_ptr<const supernet::SearchSpace> space;
  std::unique_ptr<search::AccuracyEvaluator> evaluator;  // Null for "cost".
  // The same signal on spec.rerank_images validation images (when spec.rerank_top > 0).
  std::unique_ptr<search::AccuracyEvaluator> rerank;
  std::string evaluator_spec;  // After the default combination was applied.
  std::vector<std::string> untrained_options;  // See search::LoadedEvaluator.
};

// Searches `sub`, a restriction of loaded.space, through loaded's evaluators.
absl::Status Restrict(std::shared_ptr<const supernet::SearchSpace> sub, LoadedEvaluator& loaded) {
  auto inner = search::SubspaceEvaluator::Create(sub, loaded.space, std::move(loaded.evaluator));
  if (!inner.ok()) return inner.status();
  if (loaded.rerank != nullptr) {
    auto rerank = search::SubspaceEvaluator::Create(sub, loaded.space, std::move(loaded.rerank));
    if (!rerank.ok()) return rerank.status();
    loaded.rerank = *std::move(rerank);
  }
  loaded.space = std::move(sub);
  loaded.evaluator = *std::move(inner);
  return absl::OkStatus();
}

}  // namespace

std::string DefaultCombinationFor(const supernet::SearchSpace& space) {
  const auto* cells = dynamic_cast<const supernet::Nb201Space*>(&space);
  return cells != nullptr && cells->cells_per_stage() == 1 ? kDefaultCellProxyCombination : kDefaultCombination;
}

std::string CombineWithSupernet(const std::string& checkpoint, const std::string& combine) {
  std::vector<std::string> items = absl::StrSplit(combine, '+');
  bool placed = false;
  for (std::string& item : items) {
    const std::string name = item.substr(0, item.find('*'));
    const std::string base = name.substr(0, name.find('@'));  // supernet_loss@2: cells repeated.
    if ((base == "supernet" || base == "supernet_loss") && name.find(':') == std::string::npos) {
      item = absl::StrCat(name, ":", checkpoint, item.substr(name.size()));
      placed = true;
    }
  }
  std::string joined = absl::StrJoin(items, "+");
  return placed ? absl::StrCat("combo:", joined) : absl::StrCat("combo:supernet:", checkpoint, "+", joined);
}

namespace {

// An output stream buffer that hands each complete line to `emit` as it is written, so
// progress written to a std::ostream reaches the sink live, not when the call returns.
class LineForwarder : public std::streambuf {
 public:
  explicit LineForwarder(std::function<void(std::string)> emit) : emit_(std::move(emit)) {}
  // A last line without its newline.
  void Finish() {
    if (!line_.empty()) emit_(std::move(line_));
    line_.clear();
  }

 protected:
  int_type overflow(int_type ch) override {
    if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
    if (traits_type::to_char_type(ch) == '\n') {
      Finish();
    } else {
      line_.push_back(traits_type::to_char_type(ch));
    }
    return ch;
  }

 private:
  std::function<void(std::string)> emit_;
  std::string line_;
};

// `archive` (may be null): where a combination keeps its items' raw scores.
absl::StatusOr<LoadedEvaluator> LoadEvaluator(const v1::SearchSpec& spec, const SearchJobEnv& env,
                                              ProgressSink& progress, search::EvaluationArchive* archive) {
  LoadedEvaluator loaded;
  std::string text = spec.evaluator();
  std::string combine = spec.combine();
  if (absl::StartsWith(text, "supernet:") && combine.empty()) {
    absl::StatusOr<std::shared_ptr<const supernet::SearchSpace>> trained = supernet::ReadCheckpointSpace(text.substr(9));
    if (!trained.ok()) return Field(trained.status(), "evaluator");
    combine = DefaultCombinationFor(**trained);
  }
  if (absl::StartsWith(text, "supernet:") && combine != "none") {
    text = CombineWithSupernet(text.substr(9), combine);
    progress.Message(absl::StrCat("evaluator: ", text, " (combine none: the inherited accuracy alone)"));
  }
  loaded.evaluator_spec = text;
  const bool rerank = spec.rerank_top() > 0;
  if (absl::StartsWith(text, "supernet:")) {
    search::SupernetEvaluator::Options eo;
    if (spec.has_calibration_batches()) eo.calibration_batches = spec.calibration_batches();
    if (spec.has_eval_images()) eo.max_images = spec.eval_images();
    progress.Message(absl::StrCat("loading supernet ", text.substr(9), " and its data..."));
    auto supernet = search::SupernetEvaluator::Load(text.substr(9), env.device, eo);
    if (!supernet.ok()) return Field(supernet.status(), "evaluator");
    loaded.space = (*supernet)->trained().config.space;
    loaded.untrained_options = (*supernet)->trained().config.sampler.exclude;
    if (rerank) loaded.rerank = (*supernet)->WithImages(spec.rerank_images());
    loaded.evaluator = *std::move(supernet);
  } else if (search::IsModelEvaluatorSpec(text)) {
    search::ModelEvaluatorOptions mo;
    if (spec.has_calibration_batches()) mo.calibration_batches = spec.calibration_batches();
    if (spec.has_eval_images()) mo.eval_images = spec.eval_images();
    if (rerank) mo.rerank_images = spec.rerank_images();
    mo.zero_cost.batch_size = spec.zc_batch() > 0 ? spec.zc_batch() : 64;
    mo.zero_cost.seed = spec.zc_seed();
    mo.zero_cost.repeats = spec.zc_repeats() > 0 ? spec.zc_repeats() : 1;
    mo.reference_seed = spec.zc_seed();
    mo.archive = archive;
    mo.should_stop = env.should_stop;  // Scoring the reference sample can take minutes.
    LineForwarder lines([&progress](std::string line) { progress.Message(std::move(line)); });
    std::ostream log(&lines);
    auto model = search::LoadModelEvaluator(text, "evaluator", env.device, mo, log);
    lines.Finish();
    if (!model.ok()) return model.status();
    loaded.space = model->space;
    loaded.untrained_options = model->untrained_options;
    loaded.evaluator = std::move(model->evaluator);
    loaded.rerank = std::move(model->rerank);
  } else {
    if (spec.space().empty()) {
      return absl::InvalidArgumentError("space: required unless the evaluator is supernet:, zc: or combo:");
    }
    auto space = supernet::LoadSearchSpace(spec.space());
    if (!space.ok()) return Field(space.status(), "space");
    loaded.space = *space;
    if (absl::StartsWith(text, "table:")) {
      auto table = LoadTableEvaluator(*loaded.space, text.substr(6));
      if (!table.ok()) return table.status();
      loaded.evaluator = *std::move(table);
    } else if (text != "cost") {
      return absl::InvalidArgumentError(absl::StrCat(
          "evaluator: '", text,
          "' is not one of table:PATH[:COLUMN], supernet:CHECKPOINT, zc:PROXY:CONFIG, combo:ITEMS, cost"));
    }
    if (rerank) {
      return absl::InvalidArgumentError(absl::StrCat("rerank_top: the ", text.substr(0, text.find(':')),
                                                     " evaluator has nothing to evaluate on more images; "
                                                     "re-ranking needs a supernet: or combo: evaluator"));
    }
  }
  // An evaluator that brings its own space: the spec's space, when given, must be it.
  if (loaded.evaluator != nullptr && !spec.space().empty() && !absl::StartsWith(text, "table:")) {
    auto given = supernet::LoadSearchSpace(spec.space());
    if (!given.ok()) return Field(given.status(), "space");
    auto same_genes = [](const supernet::SearchSpace& a, const supernet::SearchSpace& b) {
      if (a.genes().size() != b.genes().size()) return false;
      for (size_t g = 0; g < a.genes().size(); ++g) {
        if (a.genes()[g].name != b.genes()[g].name || a.genes()[g].options != b.genes()[g].options) return false;
      }
      return true;
    };
    if ((*given)->name() != loaded.space->name() || !same_genes(**given, *loaded.space)) {
      // A restriction of the evaluator's space (a subset of its options) is searched
      // through it.
      const std::string full_name = loaded.space->name();
      if (absl::Status s = Restrict(*given, loaded); !s.ok()) {
        const bool checkpoint = absl::StartsWith(spec.evaluator(), "supernet:");
        return absl::InvalidArgumentError(absl::StrCat(
            "space: '", (*given)->name(),
            checkpoint ? "' is not a restriction of the space the checkpoint was trained on, '"
                       : "' is not a restriction of the evaluator's space, '",
            full_name, "': ", s.message(), " (leave space empty to use the ",
            checkpoint ? "checkpoint's)" : "evaluator's)"));
      }
      progress.Message(absl::StrCat("searching '", (*given)->name(), "', a restriction of '", full_name,
                                    "', with the evaluator over '", full_name, "'"));
    }
  } else if (loaded.evaluator != nullptr && spec.space().empty() && !loaded.untrained_options.empty()) {
    // The supernet's last phase did not train these options: search the space without them.
    auto trained = supernet::RestrictedSpace::Excluding(loaded.space, loaded.untrained_options, "evaluator");
    if (!trained.ok()) return trained.status();
    progress.Message(absl::StrCat("searching '", loaded.space->name(), "' without ",
                                  absl::StrJoin(loaded.untrained_options, ", "),
                                  ": the supernet did not train them at the end (sampler.exclude or shrinking; give "
                                  "space to search otherwise)"));
    if (absl::Status s = Restrict(*std::move(trained), loaded); !s.ok()) return s;
  }
  return loaded;
}

}  // namespace

absl::StatusOr<v1::SearchResult> RunSearchJob(const v1::SearchSpec& given, const SearchJobEnv& env,
                                              ProgressSink& progress) {
  v1::SearchSpec spec = given;
  if (!spec.has_rerank_top() && !spec.has_rerank_images() && absl::StartsWith(spec.evaluator(), "supernet:")) {
    spec.set_rerank_top(kDefaultSupernetRerankTop);
    spec.set_rerank_images(kDefaultSupernetRerankImages);
  }
  supernet::Distributed* dist = env.distributed;
  // Only rank 0 reports and writes files; every rank runs the same search.
  const bool rank0 = dist == nullptr || dist->rank() == 0;
  ProgressSink silent;
  ProgressSink& sink = rank0 ? progress : silent;
  // Evaluations (and a combination's item scores) are kept in the archive; not for a
  // cost-only search.
  // Opened before the request is fully validated, so an archive this call creates is
  // removed again if the request fails before the search starts (bad input changes nothing).
  struct RemoveIfRejected {
    std::string path;
    bool keep = true;
    ~RemoveIfRejected() {
      if (keep) return;
      std::error_code ec;
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
    }
  } created_archive;
  std::unique_ptr<search::EvaluationArchive> archive;  // Closed before created_archive acts.
  if (spec.evaluator() != "cost" && env.archive != "none") {
    const std::string path = env.archive.empty() ? DefaultCacheDir() + "/evaluations.sqlite" : env.archive;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      created_archive.path = path;
      created_archive.keep = false;
    }
    auto opened = search::EvaluationArchive::Open(path);
    if (opened.ok()) {
      archive = *std::move(opened);
    } else if (!env.archive.empty()) {
      return Field(opened.status(), "archive");
    } else {
      sink.Message(absl::StrCat("warning: running without an evaluation archive: ", opened.status().message()));
    }
  }
  // Ranks other than 0 do not write the archive.
  absl::StatusOr<LoadedEvaluator> loaded =
      LoadEvaluator(spec, env, sink, dist == nullptr || dist->rank() == 0 ? archive.get() : nullptr);
  if (!loaded.ok()) return loaded.status();
  const supernet::SearchSpace& space = *loaded->space;
  search::AccuracyEvaluator* evaluator = loaded->evaluator.get();

  std::unique_ptr<search::LatencyModel> latency;
  if (!spec.latency().empty()) {
    auto model = search::LoadLatencyModel(space, spec.latency(), "latency");
    if (!model.ok()) return model.status();
    latency = *std::move(model);
  }
  const search::MetricModel metrics(space, latency.get());
  std::unique_ptr<search::AccuracyEvaluator> distributed_evaluator;
  if (dist != nullptr && evaluator != nullptr) {
    distributed_evaluator = std::make_unique<search::DistributedEvaluator>(evaluator, dist);
  }
  search::AccuracyEvaluator* used_evaluator = distributed_evaluator ? distributed_evaluator.get() : evaluator;
  std::unique_ptr<search::AccuracyEvaluator> distributed_rerank;
  if (dist != nullptr && loaded->rerank != nullptr) {
    distributed_rerank = std::make_unique<search::DistributedEvaluator>(loaded->rerank.get(), dist);
  }

  search::SearchOptions o;
  if (used_evaluator != nullptr && (!spec.has_reference_start() || spec.reference_start())) {
    o.prescored = used_evaluator->Prescored();
  }
  o.skip_equivalent = !spec.has_skip_equivalent() || spec.skip_equivalent();
  // Default: the predictor when the reference start gives it a free training set.
  o.algorithm = spec.algorithm().empty() ? (o.prescored.empty() ? "evolution" : "predictor") : spec.algorithm();
  if (spec.budget() > 0) o.budget = spec.budget();
  o.seed = spec.seed();
  if (spec.population() > 0) o.population = spec.population();
  if (spec.parents() > 0) o.parents = spec.parents();
  if (spec.mutation_probability() > 0) o.mutation_probability = spec.mutation_probability();
  if (!spec.predictor().empty()) o.predictor = spec.predictor();
  o.make_surrogate = search::TorchSurrogates();
  o.should_stop = env.should_stop;
  if (dist != nullptr) {
    // Ranks agree on stopping after each generation (a stop on any rank stops all).
    o.should_stop = [&env, dist] {
      std::vector<double> flag = {env.should_stop && env.should_stop() ? 1.0 : 0.0};
      if (!dist->AverageValues(&flag).ok()) return true;
      return flag[0] > 0;
    };
    o.archive_writes = dist->rank() == 0;
  }
  if (!spec.objectives().empty()) o.objectives.clear();
  for (const std::string& list : spec.objectives()) {
    for (absl::string_view text : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      absl::StatusOr<search::Objective> objective = search::ParseObjective(std::string(text));
      if (!objective.ok()) return objective.status();
      o.objectives.push_back(*objective);
    }
  }
  for (const std::string& text : spec.constraints()) {
    absl::StatusOr<search::Constraint> c = search::ParseConstraint(text);
    if (!c.ok()) return c.status();
    o.constraints.push_back(*c);
  }
  for (int i = 0; i < spec.initial_archs_size(); ++i) {
    absl::StatusOr<supernet::Architecture> a = space.Parse(spec.initial_archs(i));
    if (!a.ok()) return Field(a.status(), absl::StrCat("initial_archs[", i, "]").c_str());
    o.initial_archs.push_back(*std::move(a));
  }
  o.rerank_top = spec.rerank_top();
  o.rerank_evaluator = distributed_rerank ? distributed_rerank.get() : loaded->rerank.get();
  if (absl::Status s = search::ValidateSearch(metrics, used_evaluator, o); !s.ok()) return s;
  created_archive.keep = true;
  o.archive = archive.get();  // Null for a cost-only search.
  const std::string metric = o.objectives.empty() ? "accuracy" : o.objectives.front().metric;
  o.on_generation = [&](const search::GenerationProgress& g) {
    v1::SearchProgress p;
    p.set_generation(g.generation);
    p.set_evaluated(g.evaluated);
    p.set_prescored(g.prescored);
    p.set_budget(o.budget);
    p.set_paid(g.paid);
    *p.mutable_best() = ToProto(space, *g.best);
    p.set_has_hypervolume(g.has_hypervolume);
    p.set_hypervolume(g.hypervolume);
    p.set_metric(metric);
    sink.Search(p);
  };
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<search::SearchResult> result = search::RunSearch(metrics, used_evaluator, o);
  if (!result.ok()) return result.status();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const std::string evaluator_id = evaluator ? evaluator->id() : "cost";
  v1::SearchResult typed;
  typed.set_space(space.name());
  typed.set_evaluator(evaluator_id);
  typed.set_algorithm(o.algorithm);
  for (const search::Objective& objective : o.objectives) typed.add_objectives(objective.ToString());
  for (const search::Constraint& c : o.constraints) typed.add_constraints(c.ToString());
  typed.set_budget(o.budget);
  typed.set_seed(o.seed);
  typed.set_evaluations(static_cast<int64_t>(result->history.size()));
  typed.set_paid_evaluations(result->paid);
  typed.set_archive_hits(result->archive_hits);
  typed.set_prescored_evaluations(result->prescored);
  typed.set_finished(!result->stopped);
  typed.set_seconds(seconds);
  *typed.mutable_best() = ToProto(space, result->best);
  typed.add_pareto_front_objectives(result->y_objective.ToString());
  typed.add_pareto_front_objectives(result->x_objective.ToString());
  for (size_t i = 0; i < result->front.size(); ++i) {
    if (static_cast<int>(i) >= kMaxFrontEntries) {
      typed.set_pareto_front_omitted(static_cast<int64_t>(result->front.size() - i));
      break;
    }
    *typed.add_pareto_front() = ToProto(space, result->history[result->front[i]]);
  }
  for (double hv : result->hypervolume) typed.add_hypervolume_per_generation(hv);
  if (latency) typed.set_latency_model(latency->id());
  if (o.rerank_top > 0) {
    typed.set_rerank_top(o.rerank_top);
    typed.set_rerank_evaluator(loaded->rerank->id());
  }
  if (archive) typed.set_archive(archive->path());
  if (dist != nullptr) typed.set_world_size(dist->world_size());

  // result.json: the same summary with every front entry, and the whole history.
  nlohmann::json objectives = std::vector<std::string>(typed.objectives().begin(), typed.objectives().end());
  nlohmann::json constraints = std::vector<std::string>(typed.constraints().begin(), typed.constraints().end());
  nlohmann::json front = nlohmann::json::array();
  for (int i : result->front) front.push_back(EvaluationJson(space, result->history[i]));
  nlohmann::json j = {{"space", space.name()},
                      {"evaluator", evaluator_id},
                      {"algorithm", o.algorithm},
                      {"objectives", objectives},
                      {"constraints", constraints},
                      {"budget", o.budget},
                      {"seed", o.seed},
                      {"evaluations", result->history.size()},
                      {"paid_evaluations", result->paid},
                      {"archive_hits", result->archive_hits},
                      {"prescored_evaluations", result->prescored},
                      {"finished", !result->stopped},
                      {"seconds", seconds},
                      {"best", EvaluationJson(space, result->best)},
                      {"pareto_front_objectives", {result->y_objective.ToString(), result->x_objective.ToString()}},
                      {"pareto_front", front}};
  if (latency) j["latency_model"] = latency->id();
  if (o.rerank_top > 0) {
    j["rerank_top"] = o.rerank_top;
    j["rerank_evaluator"] = loaded->rerank->id();
  }
  if (archive) j["archive"] = archive->path();
  if (!result->hypervolume.empty()) j["hypervolume_per_generation"] = result->hypervolume;
  if (dist != nullptr) j["world_size"] = dist->world_size();
  const auto write_result = [&](std::ostream& stream) { WriteResultJson(stream, j, space, result->history); };
  if (!env.out_dir.empty() && rank0) {
    typed.set_result_file(env.out_dir + "/result.json");
    typed.set_plot_file(env.out_dir + "/plot.svg");
    if (absl::Status s = WriteFileAtomically(typed.result_file(), write_result); !s.ok()) return s;
    const std::string title = absl::StrCat(o.algorithm, " on ", space.name(), " (", evaluator_id, ")");
    if (absl::Status s = WriteFileAtomically(typed.plot_file(), search::PlotSearchSvg(*result, title)); !s.ok()) {
      return s;
    }
  }
  if (result->stopped) {
    sink.Message(absl::StrFormat(
        "stopped after %d evaluations; rerun the same search to resume%s", result->history.size(),
        archive ? absl::StrCat(" (evaluations are kept in ", archive->path(), ")") : ""));
  }
  if (env.json_out != nullptr && rank0) write_result(*env.json_out);
  return typed;
}

}  // namespace nas::engine
