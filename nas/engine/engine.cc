#include "nas/engine/engine.h"

#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nas/engine/export_job.h"
#include "nas/engine/job_threads.h"
#include "search/latency_predictor.h"
#include "supernet/file_util.h"
#include "supernet/train_config.h"

namespace nas::engine {
namespace {

namespace fs = std::filesystem;

absl::Status Cancelled() { return absl::CancelledError("the client cancelled"); }

// A file's identity for caches: a replaced or rewritten file is a different entry.
std::string FileIdentity(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return path;
  return absl::StrCat(path, "|", st.st_dev, ":", st.st_ino, "|", st.st_size, "|", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

}  // namespace

Engine::Engine(EngineOptions options)
    : options_(std::move(options)),
      validator_(options_.data_dir, options_.config_dir, options_.allowed_dirs, options_.limits) {}

Engine::~Engine() {
  if (jobs_ != nullptr) jobs_->Shutdown();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineOptions options) {
  JobManagerOptions jm;
  jm.data_dir = options.data_dir;
  jm.config_dir = options.config_dir;
  jm.max_running = options.max_running;
  jm.max_queued = options.max_queued;
  jm.threads = options.threads;
  jm.max_crash_restarts = options.max_crash_restarts;
  jm.max_result_bytes = options.max_result_bytes;
  std::unique_ptr<Engine> engine(new Engine(std::move(options)));
  auto jobs = JobManager::Create(jm);
  if (!jobs.ok()) return jobs.status();
  engine->jobs_ = *std::move(jobs);
  return engine;
}

absl::StatusOr<v1::SpaceDescription> Engine::DescribeSpace(const v1::DescribeSpaceRequest& request) const {
  auto space = validator_.FindSpace(request.space(), "space");
  if (!space.ok()) return space.status();
  const supernet::SearchSpace& sp = *space->space;
  v1::SpaceDescription d;
  d.set_name(sp.name());
  d.set_input_size(sp.input_size());
  d.set_input_channels(sp.input_channels());
  d.set_num_classes(sp.num_classes());
  d.set_log10_size(sp.Log10Size());
  for (const auto& gene : sp.genes()) {
    v1::Gene* g = d.add_genes();
    g->set_name(gene.name);
    for (const std::string& o : gene.options) g->add_options(o);
  }
  d.mutable_min_flops()->set_space(sp.name());
  d.mutable_min_flops()->set_arch(sp.Format(sp.MinFlops().arch));
  d.mutable_max_flops()->set_space(sp.name());
  d.mutable_max_flops()->set_arch(sp.Format(sp.MaxFlops().arch));
  return d;
}

absl::StatusOr<v1::EvaluateArchitectureResponse> Engine::Evaluate(const v1::EvaluateArchitectureRequest& request,
                                                                  const std::function<bool()>& cancelled) {
  absl::StatusOr<supernet::Architecture> arch = validator_.ParseArchitecture(request.architecture(), "architecture");
  if (!arch.ok()) return arch.status();
  auto space = validator_.FindSpace(request.architecture().space(), "architecture.space");
  if (!space.ok()) return space.status();
  v1::EvaluateArchitectureResponse response;
  const supernet::CostSummary cost = space->space->Cost(*arch);
  response.mutable_cost()->set_flops(cost.flops);
  response.mutable_cost()->set_params(cost.params);
  response.mutable_cost()->set_bitops(cost.bitops);
  response.mutable_cost()->set_size_bytes(cost.size_bytes);
  const auto& groups = space->space->group_names();
  for (size_t g = 0; g < groups.size(); ++g) {
    const supernet::CostSummary c = space->space->GroupCost(*arch, static_cast<int>(g));
    v1::LayerCost* layer = response.mutable_cost()->add_layers();
    layer->set_name(groups[g]);
    layer->set_flops(c.flops);
    layer->set_params(c.params);
    layer->set_bitops(c.bitops);
    layer->set_size_bytes(c.size_bytes);
  }
  if (!request.latency().empty()) {
    auto spec = search::ParseLatencySpec(request.latency(), "latency");
    if (!spec.ok()) return spec.status();
    auto path = validator_.Confine(spec->second, "latency");
    if (!path.ok()) return path.status();
    auto model = search::LoadLatencyModel(*space->space, spec->first + ":" + *path, "latency");
    if (!model.ok()) return model.status();
    for (const std::string& device : (*model)->devices()) {
      absl::StatusOr<double> ms = (*model)->LatencyMs(*arch, device);
      if (ms.ok()) (*response.mutable_latency_ms())[device] = *ms;
    }
  }
  if (!request.checkpoint().empty()) {
    auto path = validator_.Confine(request.checkpoint(), "checkpoint");
    if (!path.ok()) return path.status();
    auto evaluator = SupernetFor(*path);
    if (!evaluator.ok()) return evaluator.status();
    if ((*evaluator)->space().name() != space->space->name()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint: trained on space '", (*evaluator)->space().name(),
                                                     "', not '", space->space->name(), "'"));
    }
    if (cancelled && cancelled()) return Cancelled();
    const absl::StatusOr<double> accuracy = RunOnOwnThread<absl::StatusOr<double>>(
        options_.threads, [&] { return (*evaluator)->Accuracy(*arch); });
    if (!accuracy.ok()) return accuracy.status();
    response.set_has_accuracy(true);
    response.set_accuracy(*accuracy);
  }
  return response;
}

absl::StatusOr<v1::ExportSubnetResponse> Engine::Export(const v1::ExportSubnetRequest& request,
                                                        const std::function<bool()>& cancelled) {
  auto path = validator_.ValidateExport(request);
  if (!path.ok()) return path.status();
  auto evaluator = SupernetFor(*path);
  if (!evaluator.ok()) return evaluator.status();
  const supernet::SearchSpace& space = (*evaluator)->space();
  if (!request.architecture().space().empty() && request.architecture().space() != space.name()) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.space: the checkpoint was trained on '", space.name(), "'"));
  }
  absl::StatusOr<supernet::Architecture> arch =
      ParseArchOrExtreme(space, request.architecture().arch(), "architecture.arch");
  if (!arch.ok()) return arch.status();
  supernet::ExportOptions eo;
  if (request.batch_size() > 0) eo.batch_size = request.batch_size();
  eo.force = request.force();
  eo.onnx = !request.skip_onnx();
  eo.int8 = request.int8();
  eo.qengine = request.quantized_engine();
  eo.cancelled = cancelled;
  const std::string dir = absl::StrCat(options_.data_dir, "/exports/", request.name());
  std::lock_guard<std::mutex> lock(export_mu_);  // One export at a time: they are heavy.
  if (cancelled && cancelled()) return Cancelled();
  return RunOnOwnThread<absl::StatusOr<v1::ExportSubnetResponse>>(
      options_.threads, [&] { return RunExportJob((*evaluator)->TrainedFor(*arch), *arch, dir, eo); });
}

absl::StatusOr<v1::Job> Engine::StartSearch(const v1::StartSearchRequest& request) {
  if (absl::Status s = validator_.ValidateRequestId(request.request_id()); !s.ok()) return s;
  v1::Job job;
  job.set_kind("search");
  job.set_request_id(request.request_id());
  *job.mutable_search() = request.spec();
  if (absl::Status s = validator_.ValidateSearch(job.mutable_search()); !s.ok()) return s;
  return jobs_->Submit(std::move(job));
}

absl::StatusOr<v1::Job> Engine::StartTraining(const v1::StartTrainingRequest& request) {
  const v1::TrainingSpec& spec = request.spec();
  if (absl::Status s = validator_.ValidateRequestId(request.request_id()); !s.ok()) return s;
  if (absl::Status s = validator_.ValidateTraining(spec); !s.ok()) return s;
  auto config = supernet::LoadTrainConfig((fs::path(options_.config_dir) / spec.config()).string());
  if (!config.ok()) return absl::InvalidArgumentError(absl::StrCat("spec.config: ", config.status().message()));
  v1::Job job;
  job.set_kind("training");
  job.set_request_id(request.request_id());
  *job.mutable_training() = spec;
  return jobs_->Submit(std::move(job));
}

absl::StatusOr<v1::Job> Engine::StartFineTune(const v1::StartFineTuneRequest& request) {
  if (absl::Status s = validator_.ValidateRequestId(request.request_id()); !s.ok()) return s;
  v1::Job job;
  job.set_kind("finetune");
  job.set_request_id(request.request_id());
  *job.mutable_finetune() = request.spec();
  if (absl::Status s = validator_.ValidateFineTune(job.mutable_finetune()); !s.ok()) return s;
  // The architecture must be one of the checkpoint's space: checked now, not when it runs.
  auto supernet = SupernetFor(job.finetune().checkpoint());
  if (!supernet.ok()) {
    return absl::Status(supernet.status().code(), absl::StrCat("spec.", supernet.status().message()));
  }
  if (absl::StatusOr<supernet::Architecture> arch =
          ParseArchOrExtreme((*supernet)->space(), job.finetune().arch(), "spec.arch");
      !arch.ok()) {
    return arch.status();
  }
  if (!job.finetune().config().empty()) {
    const std::string path = (fs::path(options_.config_dir) / job.finetune().config()).string();
    absl::StatusOr<std::string> text = ReadFileBytes(path);
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("spec.config: ", text.status().message()));
    const supernet::TrainConfig& base = (*supernet)->trained().config;
    absl::StatusOr<supernet::TrainConfig> config = supernet::MakeFineTuneConfig(
        base.yaml, base.source, base.space_yaml, *text, job.finetune().config(),
        (*supernet)->space().Format((*supernet)->space().MaxFlops().arch));
    if (!config.ok()) return absl::InvalidArgumentError(absl::StrCat("spec.config: ", config.status().message()));
  }
  return jobs_->Submit(std::move(job));
}

absl::StatusOr<v1::Job> Engine::GetJob(const std::string& id) const {
  if (id.empty()) return absl::InvalidArgumentError("id: required");
  return jobs_->Get(id);
}

absl::StatusOr<v1::Job> Engine::CancelJob(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("id: required");
  return jobs_->Cancel(id);
}

absl::StatusOr<v1::ListJobsResponse> Engine::ListJobs(const v1::ListJobsRequest& request) const {
  constexpr int kDefaultPage = 100, kMaxPage = 1000;
  if (request.page_size() < 0 || request.page_size() > kMaxPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be in [0, ", kMaxPage, "] (0: ", kDefaultPage, ")"));
  }
  int64_t after = 0;
  if (!request.page_token().empty() && (!absl::SimpleAtoi(request.page_token(), &after) || after < 0)) {
    return absl::InvalidArgumentError("page_token: not a token this server gave (use next_page_token)");
  }
  if (!v1::Job::State_IsValid(request.state())) {
    return absl::InvalidArgumentError(absl::StrCat("state: ", request.state(), " is not a job state"));
  }
  if (!request.kind().empty() && request.kind() != "search" && request.kind() != "training" &&
      request.kind() != "finetune") {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: '", request.kind().substr(0, 64), "' is not one of search, training, finetune"));
  }
  std::function<bool(const v1::Job&)> keep;
  if (request.state() != v1::Job::STATE_UNSPECIFIED || !request.kind().empty()) {
    keep = [&request](const v1::Job& job) {
      return (request.state() == v1::Job::STATE_UNSPECIFIED || job.state() == request.state()) &&
             (request.kind().empty() || job.kind() == request.kind());
    };
  }
  const int size = request.page_size() > 0 ? request.page_size() : kDefaultPage;
  int64_t last = 0;
  bool more = false;
  auto jobs = jobs_->ListMatching(after, size, keep, &last, &more);
  if (!jobs.ok()) return jobs.status();
  v1::ListJobsResponse response;
  for (v1::Job& job : *jobs) {
    // Listing stays small; GetJob has the results.
    job.clear_result_json();
    job.clear_search_result();
    job.clear_training_result();
    job.clear_finetune_result();
    *response.add_jobs() = std::move(job);
  }
  if (more) response.set_next_page_token(std::to_string(last));
  return response;
}

absl::StatusOr<std::shared_ptr<const search::SupernetEvaluator>> Engine::SupernetFor(const std::string& path) {
  const std::string key = FileIdentity(path);
  std::lock_guard<std::mutex> lock(evaluators_mu_);
  for (auto it = evaluators_.begin(); it != evaluators_.end(); ++it) {
    if (it->first == key) {
      evaluators_.splice(evaluators_.begin(), evaluators_, it);  // Most recently used first.
      return evaluators_.front().second;
    }
  }
  auto loaded = RunOnOwnThread<absl::StatusOr<std::unique_ptr<search::SupernetEvaluator>>>(
      options_.threads, [&] { return search::SupernetEvaluator::Load(path, torch::kCPU, {}); });
  if (!loaded.ok()) return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", loaded.status().message()));
  // Entries of an older version of the same file go at once.
  evaluators_.remove_if([&](const auto& entry) { return absl::StartsWith(entry.first, path + "|"); });
  evaluators_.emplace_front(key, std::shared_ptr<const search::SupernetEvaluator>(*std::move(loaded)));
  while (static_cast<int>(evaluators_.size()) > std::max(1, options_.evaluator_cache_entries)) evaluators_.pop_back();
  return evaluators_.front().second;
}

}  // namespace nas::engine
