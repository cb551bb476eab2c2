#include "nas/search_commands.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "search/algorithms.h"
#include "search/svg_plot.h"
#include "supernet/file_util.h"
#include "supernet/nb201_space.h"

namespace nas::service {

absl::Status RunSearchCommand(const SearchCommandOptions& options, std::ostream& out,
                              std::ostream& log) {
  absl::StatusOr<std::shared_ptr<const supernet::SearchSpace>> space =
      supernet::LoadSearchSpace(options.space);
  if (!space.ok()) return space.status();
  if (!absl::StartsWith(options.evaluator, "table:")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--evaluator: '", options.evaluator,
        "' is not supported here; use table:PATH[:COLUMN] (supernet and cost evaluators are not "
        "built yet)"));
  }
  std::string path = options.evaluator.substr(6), column;
  if (const size_t colon = path.rfind(':'); colon != std::string::npos) {
    column = path.substr(colon + 1);
    path = path.substr(0, colon);
  }
  // Only the header line decides the format; the loaders read the file once.
  std::string header;
  {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
    std::getline(in, header);
  }
  std::unique_ptr<search::AccuracyEvaluator> evaluator;
  if (absl::StartsWith(header, "CIFAR10TestAccuracy200Epochs")) {
    // NAS-Bench-201's own table.
    const auto* nb201 = dynamic_cast<const supernet::Nb201Space*>(space->get());
    if (nb201 == nullptr) {
      return absl::InvalidArgumentError(
          "--evaluator: the NAS-Bench-201 table needs an nb201 space (--space configs/nb201.yaml)");
    }
    absl::StatusOr<supernet::Nb201Table> table = supernet::Nb201Table::Load(*nb201, path);
    if (!table.ok()) return table.status();
    auto nb201_evaluator = search::Nb201TableEvaluator::Create(
        std::make_shared<const supernet::Nb201Table>(*std::move(table)), column.empty() ? "cifar10" : column);
    if (!nb201_evaluator.ok()) return nb201_evaluator.status();
    evaluator = *std::move(nb201_evaluator);
  } else {
    auto table = search::TableEvaluator::Load(**space, path, column.empty() ? "accuracy" : column);
    if (!table.ok()) return table.status();
    evaluator = *std::move(table);
  }

  search::SearchOptions o;
  o.algorithm = options.algorithm;
  o.budget = options.budget;
  o.seed = options.seed;
  o.population = options.population;
  o.parents = options.parents;
  o.mutation_probability = options.mutation_probability;
  o.predictor = options.predictor;
  for (const std::string& text : options.constraints) {
    absl::StatusOr<search::Constraint> c = search::ParseConstraint(text);
    if (!c.ok()) return c.status();
    o.constraints.push_back(*c);
  }
  o.on_generation = [&](int64_t generation, int64_t evaluated, const search::Evaluation& best) {
    log << absl::StrFormat("generation %d: %d/%d evaluated, best %.2f %% at %.3f MFLOPs\n", generation,
                           evaluated, o.budget, best.accuracy, best.cost.flops / 1e6);
  };
  absl::StatusOr<search::SearchResult> result = search::RunSearch(**space, *evaluator, o);
  if (!result.ok()) return result.status();

  auto to_json = [&](const search::Evaluation& e) {
    return nlohmann::json{{"arch", (*space)->Format(e.arch)}, {"accuracy", e.accuracy},
                          {"flops", e.cost.flops},           {"params", e.cost.params},
                          {"generation", e.generation}};
  };
  nlohmann::json history = nlohmann::json::array();
  for (const search::Evaluation& e : result->history) history.push_back(to_json(e));
  nlohmann::json j = {{"space", (*space)->name()},
                      {"evaluator", evaluator->id()},
                      {"algorithm", o.algorithm},
                      {"budget", o.budget},
                      {"seed", o.seed},
                      {"evaluations", result->history.size()},
                      {"best", to_json(result->best)},
                      {"history", history}};
  nlohmann::json constraints = nlohmann::json::array();
  for (const search::Constraint& c : o.constraints) constraints.push_back(c.ToString());
  j["constraints"] = constraints;
  if (!result->hypervolume.empty()) j["hypervolume_per_generation"] = result->hypervolume;
  nlohmann::json front = nlohmann::json::array();
  for (int i : result->front) front.push_back(to_json(result->history[i]));
  j["pareto_front"] = front;
  if (!options.out.empty()) {
    if (absl::Status s = WriteFileAtomically(options.out + "/result.json", j.dump(2) + "\n"); !s.ok()) return s;
    const std::string title = absl::StrCat(o.algorithm, " on ", (*space)->name(), " (", evaluator->id(), ")");
    if (absl::Status s = WriteFileAtomically(options.out + "/plot.svg", search::PlotSearchSvg(*result, title));
        !s.ok()) {
      return s;
    }
  }
  if (options.json) {
    out << j.dump(2) << "\n";
  } else {
    out << absl::StrFormat("%s search on %s with %s: %d evaluations\nbest: %.2f %% at %.3f MFLOPs, %.4f M params\n  %s\n",
                           o.algorithm, (*space)->name(), evaluator->id(), result->history.size(),
                           result->best.accuracy, result->best.cost.flops / 1e6,
                           result->best.cost.params / 1e6, (*space)->Format(result->best.arch));
  }
  return absl::OkStatus();
}

}  // namespace nas::service
