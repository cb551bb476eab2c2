#include "nas/request_validation.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "search/constraints.h"
#include "search/evaluator_spec.h"
#include "search/metrics.h"

namespace nas::service {
namespace {

namespace fs = std::filesystem;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

}  // namespace

RequestValidator::RequestValidator(std::string data_dir, std::string config_dir,
                                   std::vector<std::string> allowed_dirs, RequestLimits limits)
    : data_dir_(std::move(data_dir)), config_dir_(std::move(config_dir)), limits_(limits) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_dir_, ec)) {
    if (entry.path().extension() != ".yaml") continue;
    auto space = supernet::LoadSearchSpace(entry.path().string());
    if (space.ok()) spaces_.emplace((*space)->name(), Space{*space, entry.path().string()});
  }
  roots_.push_back(fs::weakly_canonical(data_dir_, ec).string());
  for (const std::string& d : allowed_dirs) roots_.push_back(fs::weakly_canonical(d, ec).string());
}

absl::StatusOr<RequestValidator::Space> RequestValidator::FindSpace(const std::string& name,
                                                                    const std::string& field) const {
  if (name.empty()) return Invalid(absl::StrCat(field, ": required"));
  auto it = spaces_.find(name);
  if (it == spaces_.end()) {
    std::string known;
    for (const auto& [n, k] : spaces_) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
    return Invalid(absl::StrCat(field, ": unknown space '", name, "' (known: ", known, ")"));
  }
  return it->second;
}

absl::StatusOr<std::string> RequestValidator::Confine(const std::string& path, const std::string& field) const {
  if (path.empty()) return Invalid(absl::StrCat(field, ": a path is required"));
  if (path.find('\0') != std::string::npos) return Invalid(absl::StrCat(field, ": the path holds a NUL byte"));
  std::error_code ec;
  fs::path p = fs::path(path).is_absolute() ? fs::path(path) : fs::path(data_dir_) / path;
  const std::string resolved = fs::weakly_canonical(p, ec).string();
  bool inside = false;
  for (const std::string& root : roots_) {
    if (resolved == root || absl::StartsWith(resolved, root + "/")) inside = true;
  }
  if (ec || !inside) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": '", path, "' is outside the server's data and allowed directories"));
  }
  if (!fs::is_regular_file(resolved, ec)) return Invalid(absl::StrCat(field, ": '", path, "' does not exist"));
  return resolved;
}

absl::StatusOr<supernet::Architecture> RequestValidator::ParseArchitecture(const v1::Architecture& arch,
                                                                           const std::string& field) const {
  auto space = FindSpace(arch.space(), field + ".space");
  if (!space.ok()) return space.status();
  absl::StatusOr<supernet::Architecture> parsed = space->space->Parse(arch.arch());
  if (!parsed.ok()) return Invalid(absl::StrCat(field, ".arch: ", parsed.status().message()));
  return parsed;
}

absl::Status RequestValidator::CheckFieldSize(const std::string& value, const std::string& field) const {
  if (value.size() <= limits_.max_field_bytes) return absl::OkStatus();
  return Invalid(absl::StrCat(field, ": ", value.size(), " bytes; at most ", limits_.max_field_bytes));
}

absl::Status RequestValidator::ValidateRequestId(const std::string& request_id) const {
  if (request_id.size() > limits_.max_request_id_bytes) {
    return Invalid(absl::StrCat("request_id: ", request_id.size(), " bytes; at most ", limits_.max_request_id_bytes));
  }
  for (const char c : request_id) {
    if (c < 0x20 || c == 0x7f) return Invalid("request_id: control characters are not allowed");
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateSearch(v1::SearchSpec* spec) const {
  // Sizes first, so that no error below echoes a huge value.
  for (const auto& [value, field] : std::vector<std::pair<const std::string*, const char*>>{
           {&spec->space(), "spec.space"},
           {&spec->evaluator(), "spec.evaluator"},
           {&spec->algorithm(), "spec.algorithm"},
           {&spec->predictor(), "spec.predictor"},
           {&spec->latency(), "spec.latency"},
           {&spec->combine(), "spec.combine"}}) {
    if (absl::Status s = CheckFieldSize(*value, field); !s.ok()) return s;
  }
  if (spec->constraints_size() > limits_.max_constraints) {
    return absl::ResourceExhaustedError(absl::StrCat("spec.constraints: ", spec->constraints_size(),
                                                     " entries; at most ", limits_.max_constraints));
  }
  if (spec->objectives_size() > limits_.max_objectives) {
    return Invalid(absl::StrCat("spec.objectives: ", spec->objectives_size(), " entries; at most ",
                                limits_.max_objectives));
  }
  for (const std::string& c : spec->constraints()) {
    if (absl::Status s = CheckFieldSize(c, "spec.constraints"); !s.ok()) return s;
  }
  for (const std::string& o : spec->objectives()) {
    if (absl::Status s = CheckFieldSize(o, "spec.objectives"); !s.ok()) return s;
  }
  if (spec->budget() > limits_.max_budget) {
    return absl::ResourceExhaustedError(absl::StrCat("spec.budget: ", spec->budget(),
                                                     " is more than this server allows (at most ",
                                                     limits_.max_budget, ", --max-budget)"));
  }
  if (spec->zc_repeats() < 0 || spec->zc_repeats() > search::kMaxZeroCostRepeats) {
    return Invalid(absl::StrCat("spec.zc_repeats: must be in [0, ", search::kMaxZeroCostRepeats, "], got ",
                                spec->zc_repeats()));
  }
  if (spec->zc_batch() < 0 || spec->zc_batch() > limits_.max_batch_size) {
    return Invalid(absl::StrCat("spec.zc_batch: must be in [0, ", limits_.max_batch_size, "], got ", spec->zc_batch()));
  }
  if (spec->has_calibration_batches() && (spec->calibration_batches() < 0 || spec->calibration_batches() > 10000)) {
    return Invalid(absl::StrCat("spec.calibration_batches: must be in [0, 10000], got ", spec->calibration_batches()));
  }
  if (spec->initial_archs_size() > limits_.max_initial_archs) {
    return absl::ResourceExhaustedError(absl::StrCat("spec.initial_archs: ", spec->initial_archs_size(),
                                                     " entries; at most ", limits_.max_initial_archs));
  }
  for (const std::string& a : spec->initial_archs()) {
    if (absl::Status s = CheckFieldSize(a, "spec.initial_archs"); !s.ok()) return s;
  }
  if (spec->rerank_top() < 0 || spec->rerank_top() > 1000) {
    return Invalid(absl::StrCat("spec.rerank_top: must be in [0, 1000], got ", spec->rerank_top()));
  }
  if (spec->rerank_images() < 0) {
    return Invalid(absl::StrCat("spec.rerank_images: must be at least 0, got ", spec->rerank_images()));
  }
  if (spec->has_eval_images() && spec->eval_images() < 0) {
    return Invalid(absl::StrCat("spec.eval_images: must be at least 0, got ", spec->eval_images()));
  }
  const std::string& e = spec->evaluator();
  if (e.empty()) {
    return Invalid("spec.evaluator: required (table:PATH[:COLUMN], supernet:CHECKPOINT, zc:PROXY:CONFIG, combo:ITEMS or cost)");
  }
  if (absl::StartsWith(e, "supernet:")) {
    auto path = Confine(e.substr(9), "spec.evaluator");
    if (!path.ok()) return path.status();
    spec->set_evaluator("supernet:" + *path);
  } else if (absl::StartsWith(e, "table:")) {
    std::string path = e.substr(6), column;
    std::error_code ec;
    if (!fs::exists(fs::path(data_dir_) / path, ec) && !fs::exists(path, ec)) {
      if (const size_t colon = path.rfind(':'); colon != std::string::npos) {
        column = path.substr(colon);
        path = path.substr(0, colon);
      }
    }
    auto confined = Confine(path, "spec.evaluator");
    if (!confined.ok()) return confined.status();
    spec->set_evaluator("table:" + *confined + column);
  } else if (search::IsModelEvaluatorSpec(e)) {
    // zc:/combo: specs: every checkpoint and config path confined like the others.
    absl::StatusOr<search::EvaluatorSpec> parsed = search::ParseEvaluatorSpec(e, "spec.evaluator");
    if (!parsed.ok()) return Invalid(std::string(parsed.status().message()));
    for (search::EvaluatorItem& item : parsed->items) {
      if (item.path.empty()) continue;
      auto confined = Confine(item.path, "spec.evaluator");
      if (!confined.ok()) return confined.status();
      item.path = *confined;
    }
    spec->set_evaluator(parsed->Format());
  } else if (e != "cost") {
    return Invalid(absl::StrCat("spec.evaluator: '", e,
                                "' is not one of table:PATH[:COLUMN], supernet:CHECKPOINT, zc:PROXY:CONFIG, "
                                "combo:ITEMS, cost"));
  }
  if (!spec->combine().empty() && spec->combine() != "none") {
    // Items without paths only (proxies read the checkpoint's config).
    absl::StatusOr<search::EvaluatorSpec> parsed =
        search::ParseEvaluatorSpec("combo:supernet:x+" + spec->combine(), "spec.combine");
    if (!parsed.ok()) return Invalid(std::string(parsed.status().message()));
    for (const search::EvaluatorItem& item : parsed->items) {
      if (item.kind != search::EvaluatorItem::Kind::kSupernet && !item.path.empty()) {
        return Invalid("spec.combine: items take no paths (proxies use the checkpoint's config)");
      }
      if (item.kind == search::EvaluatorItem::Kind::kSupernet && item.path != "x") {
        return Invalid("spec.combine: the supernet comes from spec.evaluator, not from here");
      }
    }
  }
  std::shared_ptr<const supernet::SearchSpace> known_space;
  if (!spec->space().empty()) {
    auto space = FindSpace(spec->space(), "spec.space");
    if (!space.ok()) return space.status();
    known_space = space->space;
    spec->set_space(space->path);
  } else if (!absl::StartsWith(e, "supernet:") && !search::IsModelEvaluatorSpec(e)) {
    return Invalid("spec.space: required unless the evaluator is supernet:, zc: or combo:");
  }
  if (!spec->latency().empty()) {
    auto parsed = search::ParseLatencySpec(spec->latency(), "spec.latency");
    if (!parsed.ok()) return parsed.status();
    auto path = Confine(parsed->second, "spec.latency");
    if (!path.ok()) return path.status();
    spec->set_latency(parsed->first + ":" + *path);
  }
  if (!spec->algorithm().empty()) {  // Empty: the default.
    if (absl::Status s = search::CheckAlgorithmName(spec->algorithm(), "spec.algorithm"); !s.ok()) return s;
  }
  if (spec->budget() < 0 || spec->budget() > 1'000'000) {
    return Invalid(absl::StrCat("spec.budget: ", spec->budget(), " is out of range [1, 1000000] (0: default 100)"));
  }
  if (spec->population() < 0 || spec->population() == 1 || spec->population() > 100000) {
    return Invalid("spec.population: must be 0 (default) or in [2, 100000]");
  }
  if (spec->parents() < 0 || spec->parents() > 100000) return Invalid("spec.parents: must be in [0, 100000]");
  if (!(spec->mutation_probability() >= 0 && spec->mutation_probability() <= 1)) {
    return Invalid("spec.mutation_probability: must be in [0, 1]");
  }
  if (!spec->predictor().empty()) {
    if (absl::Status s = search::CheckPredictorName(spec->predictor(), "spec.predictor"); !s.ok()) return s;
  }
  for (const std::string& c : spec->constraints()) {
    if (auto parsed = search::ParseConstraint(c); !parsed.ok()) {
      return Invalid(absl::StrCat("spec.constraints: ", parsed.status().message()));
    }
  }
  std::vector<search::Objective> objectives;
  for (const std::string& o : spec->objectives()) {
    auto parsed = search::ParseObjective(o);
    if (!parsed.ok()) return Invalid(absl::StrCat("spec.objectives: ", parsed.status().message()));
    objectives.push_back(*parsed);
  }
  // What can be known now about a search that could never run.
  if (e == "cost") {
    if (objectives.empty()) {
      return Invalid("spec.objectives: the cost evaluator has no accuracy; name an objective (flops, params, "
                     "bitops, size or latency@DEVICE, with max:/min:)");
    }
    for (const search::Objective& o : objectives) {
      if (o.metric == "accuracy") {
        return Invalid("spec.objectives: 'accuracy' needs an accuracy evaluator (table:, supernet:, zc: or combo:), "
                       "not cost");
      }
    }
  }
  std::vector<search::Constraint> constraints;
  for (const std::string& c : spec->constraints()) constraints.push_back(*search::ParseConstraint(c));
  for (const search::Constraint& c : constraints) {
    if (absl::StartsWith(c.metric, "latency@") && spec->latency().empty()) {
      return Invalid(absl::StrCat("spec.constraints: ", c.ToString(), " needs a latency model (spec.latency)"));
    }
  }
  for (const search::Objective& o : objectives) {
    if (absl::StartsWith(o.metric, "latency@") && spec->latency().empty()) {
      return Invalid(absl::StrCat("spec.objectives: ", o.ToString(), " needs a latency model (spec.latency)"));
    }
  }
  if (known_space != nullptr) {
    std::vector<search::Constraint> cost_constraints;
    for (const search::Constraint& c : search::MergeConstraints(constraints)) {
      if (search::AnalyticMetric(c.metric).has_value()) cost_constraints.push_back(c);
    }
    if (absl::Status s = search::CheckReachable(search::MetricModel(*known_space), cost_constraints); !s.ok()) {
      return Invalid(absl::StrCat("spec.constraints: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateTraining(const v1::TrainingSpec& spec) const {
  if (spec.config().empty()) return Invalid("spec.config: required (a training config in the server's config directory)");
  if (absl::Status s = CheckFieldSize(spec.config(), "spec.config"); !s.ok()) return s;
  std::error_code ec;
  if (absl::StrContains(spec.config(), "/") || absl::StrContains(spec.config(), "..") ||
      spec.config().find('\0') != std::string::npos ||
      !fs::is_regular_file(fs::path(config_dir_) / spec.config(), ec)) {
    return Invalid(absl::StrCat("spec.config: '", spec.config(), "' is not a file name in the server's config directory"));
  }
  if (spec.steps() < 0 || spec.steps() > 100'000'000) return Invalid("spec.steps: must be in [0, 100000000]");
  if (spec.batch_size() < 0 || spec.batch_size() > limits_.max_batch_size) {
    return Invalid(absl::StrCat("spec.batch_size: must be in [0, ", limits_.max_batch_size, "] (0: the config's)"));
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateFineTune(v1::FineTuneSpec* spec) const {
  if (spec->checkpoint().empty()) return Invalid("spec.checkpoint: required (a trained supernet)");
  if (absl::Status s = CheckFieldSize(spec->checkpoint(), "spec.checkpoint"); !s.ok()) return s;
  if (absl::Status s = CheckFieldSize(spec->arch(), "spec.arch"); !s.ok()) return s;
  if (spec->arch().empty()) return Invalid("spec.arch: required (an architecture string, largest or smallest)");
  if (!spec->config().empty()) {
    if (absl::Status s = CheckFieldSize(spec->config(), "spec.config"); !s.ok()) return s;
    std::error_code ec;
    if (absl::StrContains(spec->config(), "/") || absl::StrContains(spec->config(), "..") ||
        spec->config().find('\0') != std::string::npos ||
        !fs::is_regular_file(fs::path(config_dir_) / spec->config(), ec)) {
      return Invalid(
          absl::StrCat("spec.config: '", spec->config(), "' is not a file name in the server's config directory"));
    }
  }
  if (spec->steps() < 0 || spec->steps() > 100'000'000) return Invalid("spec.steps: must be in [0, 100000000]");
  if (spec->verify_images() < 0) return Invalid("spec.verify_images: must be at least 0 (0: all)");
  absl::StatusOr<std::string> path = Confine(spec->checkpoint(), "spec.checkpoint");
  if (!path.ok()) return path.status();
  spec->set_checkpoint(*path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequestValidator::ValidateExport(const v1::ExportSubnetRequest& request) const {
  const std::string& name = request.name();
  if (absl::Status s = CheckFieldSize(request.checkpoint(), "checkpoint"); !s.ok()) return s;
  if (name.empty() || name == "." || name == ".." || name.size() > 128 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos) {
    return Invalid("name: a bundle name of letters, digits, '.', '_' and '-' is required");
  }
  if (request.batch_size() < 0 || request.batch_size() > 4096) return Invalid("batch_size: must be in [0, 4096]");
  if (request.checkpoint().empty()) return Invalid("checkpoint: required");
  return Confine(request.checkpoint(), "checkpoint");
}

}  // namespace nas::service
