#include "nas/service.h"

#include <filesystem>
#include <map>
#include <mutex>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/nas.grpc.pb.h"
#include "search/algorithms.h"
#include "search/latency_predictor.h"
#include "search/supernet_evaluator.h"
#include "supernet/export.h"
#include "supernet/file_util.h"

namespace nas::service {
namespace {

namespace fs = std::filesystem;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

class Service final : public v1::NasService::Service {
 public:
  Service(const ServerOptions& options, JobManager* jobs) : options_(options), jobs_(jobs) {
    // The spaces the server knows: every YAML in the config directory that is a space.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(options.config_dir, ec)) {
      if (entry.path().extension() != ".yaml") continue;
      auto space = supernet::LoadSearchSpace(entry.path().string());
      if (space.ok()) spaces_.emplace((*space)->name(), Known{*space, entry.path().string()});
    }
    roots_.push_back(fs::weakly_canonical(options.data_dir, ec).string());
    for (const std::string& d : options.allowed_dirs) roots_.push_back(fs::weakly_canonical(d, ec).string());
  }

  grpc::Status DescribeSpace(grpc::ServerContext* context, const v1::DescribeSpaceRequest* request,
                             v1::SpaceDescription* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    auto space = FindSpace(request->space(), "space");
    if (!space.ok()) return ToGrpc(space.status());
    const supernet::SearchSpace& sp = *space->space;
    response->set_name(sp.name());
    response->set_input_size(sp.input_size());
    response->set_input_channels(sp.input_channels());
    response->set_num_classes(sp.num_classes());
    response->set_log10_size(sp.Log10Size());
    for (const auto& gene : sp.genes()) {
      v1::Gene* g = response->add_genes();
      g->set_name(gene.name);
      for (const std::string& o : gene.options) g->add_options(o);
    }
    response->mutable_min_flops()->set_space(sp.name());
    response->mutable_min_flops()->set_arch(sp.Format(sp.MinFlops().arch));
    response->mutable_max_flops()->set_space(sp.name());
    response->mutable_max_flops()->set_arch(sp.Format(sp.MaxFlops().arch));
    return grpc::Status::OK;
  }

  grpc::Status EvaluateArchitecture(grpc::ServerContext* context, const v1::EvaluateArchitectureRequest* request,
                                    v1::EvaluateArchitectureResponse* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    auto space = FindSpace(request->architecture().space(), "architecture.space");
    if (!space.ok()) return ToGrpc(space.status());
    absl::StatusOr<supernet::Architecture> arch = space->space->Parse(request->architecture().arch());
    if (!arch.ok()) return Invalid(absl::StrCat("architecture.arch: ", arch.status().message()));
    const supernet::CostSummary cost = space->space->Cost(*arch);
    response->mutable_cost()->set_flops(cost.flops);
    response->mutable_cost()->set_params(cost.params);
    const auto& groups = space->space->group_names();
    for (size_t g = 0; g < groups.size(); ++g) {
      const supernet::CostSummary c = space->space->GroupCost(*arch, static_cast<int>(g));
      v1::LayerCost* layer = response->mutable_cost()->add_layers();
      layer->set_name(groups[g]);
      layer->set_flops(c.flops);
      layer->set_params(c.params);
    }
    if (!request->checkpoint().empty()) {
      auto path = Confine(request->checkpoint(), "checkpoint");
      if (!path.ok()) return ToGrpc(path.status());
      auto evaluator = SupernetEvaluatorFor(*path);
      if (!evaluator.ok()) return ToGrpc(evaluator.status());
      if ((*evaluator)->space().name() != space->space->name()) {
        return Invalid(absl::StrCat("checkpoint: trained on space '", (*evaluator)->space().name(), "', not '",
                                    space->space->name(), "'"));
      }
      absl::StatusOr<double> accuracy = (*evaluator)->Accuracy(*arch);
      if (!accuracy.ok()) return ToGrpc(accuracy.status());
      response->set_has_accuracy(true);
      response->set_accuracy(*accuracy);
    }
    return grpc::Status::OK;
  }

  grpc::Status ExportSubnet(grpc::ServerContext* context, const v1::ExportSubnetRequest* request,
                            v1::ExportSubnetResponse* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    const std::string& name = request->name();
    if (name.empty() || name == "." || name == ".." || name.size() > 128 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos) {
      return Invalid("name: a bundle name of letters, digits, '.', '_' and '-' is required");
    }
    if (request->batch_size() < 0 || request->batch_size() > 4096) return Invalid("batch_size: must be in [0, 4096]");
    if (request->checkpoint().empty()) return Invalid("checkpoint: required");
    auto path = Confine(request->checkpoint(), "checkpoint");
    if (!path.ok()) return ToGrpc(path.status());
    auto evaluator = SupernetEvaluatorFor(*path);
    if (!evaluator.ok()) return ToGrpc(evaluator.status());
    const supernet::SearchSpace& space = (*evaluator)->space();
    if (request->architecture().space() != space.name()) {
      return Invalid(absl::StrCat("architecture.space: the checkpoint was trained on '", space.name(), "'"));
    }
    absl::StatusOr<supernet::Architecture> arch = space.Parse(request->architecture().arch());
    if (!arch.ok()) return Invalid(absl::StrCat("architecture.arch: ", arch.status().message()));
    supernet::ExportOptions eo;
    eo.batch_size = request->batch_size() > 0 ? request->batch_size() : 1;
    const std::string dir = absl::StrCat(options_.data_dir, "/exports/", name);
    absl::StatusOr<nlohmann::json> j;
    {
      std::lock_guard<std::mutex> lock(export_mu_);  // One export at a time: they are heavy.
      j = supernet::ExportSubnet((*evaluator)->trained(), *arch, dir, eo);
    }
    if (!j.ok()) return ToGrpc(j.status());
    response->set_output_dir(dir);
    for (const auto& f : (*j)["files"]) response->add_files(f.get<std::string>());
    response->set_max_abs_diff((*j)["check"]["max_abs_diff_vs_supernet_path"].get<double>());
    response->set_test_accuracy((*j)["test_accuracy"].get<double>());
    response->set_flops((*j)["flops"].get<int64_t>());
    response->set_params((*j)["params"].get<int64_t>());
    response->set_metadata_json(j->dump(2));
    return grpc::Status::OK;
  }

  grpc::Status StartSearch(grpc::ServerContext* context, const v1::StartSearchRequest* request,
                           v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    v1::Job job;
    job.set_kind("search");
    job.set_request_id(request->request_id());
    *job.mutable_search() = request->spec();
    if (absl::Status s = ValidateSearch(job.mutable_search()); !s.ok()) return ToGrpc(s);
    auto submitted = jobs_->Submit(std::move(job));
    if (!submitted.ok()) return ToGrpc(submitted.status());
    *response = *submitted;
    return grpc::Status::OK;
  }

  grpc::Status StartTraining(grpc::ServerContext* context, const v1::StartTrainingRequest* request,
                             v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    const v1::TrainingSpec& spec = request->spec();
    if (spec.config().empty()) return Invalid("spec.config: required (a training config in the server's config directory)");
    if (absl::StrContains(spec.config(), "/") || absl::StrContains(spec.config(), "..") ||
        !fs::is_regular_file(fs::path(options_.config_dir) / spec.config())) {
      return Invalid(absl::StrCat("spec.config: '", spec.config(), "' is not a file name in the server's config directory"));
    }
    auto config = supernet::LoadTrainConfig((fs::path(options_.config_dir) / spec.config()).string());
    if (!config.ok()) return Invalid(absl::StrCat("spec.config: ", config.status().message()));
    if (spec.steps() < 0 || spec.steps() > 100'000'000) return Invalid("spec.steps: must be in [0, 100000000]");
    if (spec.batch_size() < 0 || spec.batch_size() > 65536) return Invalid("spec.batch_size: must be in [0, 65536]");
    v1::Job job;
    job.set_kind("training");
    job.set_request_id(request->request_id());
    *job.mutable_training() = spec;
    auto submitted = jobs_->Submit(std::move(job));
    if (!submitted.ok()) return ToGrpc(submitted.status());
    *response = *submitted;
    return grpc::Status::OK;
  }

  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    if (request->id().empty()) return Invalid("id: required");
    auto job = jobs_->Get(request->id());
    if (!job.ok()) return ToGrpc(job.status());
    *response = *job;
    return grpc::Status::OK;
  }

  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest*,
                        v1::ListJobsResponse* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    auto jobs = jobs_->List();
    if (!jobs.ok()) return ToGrpc(jobs.status());
    for (v1::Job& job : *jobs) {
      job.clear_result_json();  // Listing stays small; GetJob has the result.
      *response->add_jobs() = std::move(job);
    }
    return grpc::Status::OK;
  }

  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    if (request->id().empty()) return Invalid("id: required");
    auto job = jobs_->Cancel(request->id());
    if (!job.ok()) return ToGrpc(job.status());
    *response = *job;
    return grpc::Status::OK;
  }

  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    if (request->id().empty()) return Invalid("id: required");
    auto job = jobs_->Get(request->id());
    if (!job.ok()) return ToGrpc(job.status());
    while (true) {
      v1::JobEvent event;
      *event.mutable_job() = *job;
      if (!writer->Write(event)) return grpc::Status::OK;  // The client went away.
      if (IsFinal(job->state())) return grpc::Status::OK;
      // Wake at least every 200 ms to notice a cancelled call or a deadline.
      do {
        if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled");
        auto next = jobs_->WaitForChange(request->id(), *job, absl::Milliseconds(200));
        if (!next.ok()) return ToGrpc(next.status());
        if (google::protobuf::util::MessageDifferencer::Equals(*next, *job)) continue;
        job = *std::move(next);
        break;
      } while (true);
    }
  }

 private:
  struct Known {
    std::shared_ptr<const supernet::SearchSpace> space;
    std::string path;
  };

  grpc::Status Authorize(grpc::ServerContext* context) const {
    if (options_.token.empty()) return grpc::Status::OK;
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end() || std::string(it->second.data(), it->second.size()) != "Bearer " + options_.token) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a valid 'authorization: Bearer TOKEN' is required");
    }
    return grpc::Status::OK;
  }

  absl::StatusOr<Known> FindSpace(const std::string& name, const std::string& field) const {
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
    auto it = spaces_.find(name);
    if (it == spaces_.end()) {
      std::string known;
      for (const auto& [n, k] : spaces_) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
      return absl::InvalidArgumentError(absl::StrCat(field, ": unknown space '", name, "' (known: ", known, ")"));
    }
    return it->second;
  }

  // `path` (relative to the data directory, or absolute) if it lies under an allowed
  // directory and exists; never a way out of them.
  absl::StatusOr<std::string> Confine(const std::string& path, const std::string& field) const {
    std::error_code ec;
    fs::path p = fs::path(path).is_absolute() ? fs::path(path) : fs::path(options_.data_dir) / path;
    const std::string resolved = fs::weakly_canonical(p, ec).string();
    bool inside = false;
    for (const std::string& root : roots_) {
      if (resolved == root || absl::StartsWith(resolved, root + "/")) inside = true;
    }
    if (ec || !inside) {
      return absl::PermissionDeniedError(
          absl::StrCat(field, ": '", path, "' is outside the server's data and allowed directories"));
    }
    if (!fs::is_regular_file(resolved)) return absl::InvalidArgumentError(absl::StrCat(field, ": '", path, "' does not exist"));
    return resolved;
  }

  absl::Status ValidateSearch(v1::SearchSpec* spec) const {
    const std::string& e = spec->evaluator();
    if (e.empty()) return absl::InvalidArgumentError("spec.evaluator: required (table:PATH[:COLUMN], supernet:CHECKPOINT or cost)");
    if (absl::StartsWith(e, "supernet:")) {
      auto path = Confine(e.substr(9), "spec.evaluator");
      if (!path.ok()) return path.status();
      spec->set_evaluator("supernet:" + *path);
    } else if (absl::StartsWith(e, "table:")) {
      std::string path = e.substr(6), column;
      if (!fs::exists(fs::path(options_.data_dir) / path) && !fs::exists(path)) {
        if (const size_t colon = path.rfind(':'); colon != std::string::npos) {
          column = path.substr(colon);
          path = path.substr(0, colon);
        }
      }
      auto confined = Confine(path, "spec.evaluator");
      if (!confined.ok()) return confined.status();
      spec->set_evaluator("table:" + *confined + column);
    } else if (e != "cost") {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.evaluator: '", e, "' is not one of table:PATH[:COLUMN], supernet:CHECKPOINT, cost"));
    }
    if (!spec->space().empty()) {
      auto space = FindSpace(spec->space(), "spec.space");
      if (!space.ok()) return space.status();
      spec->set_space(space->path);
    } else if (!absl::StartsWith(e, "supernet:")) {
      return absl::InvalidArgumentError("spec.space: required unless the evaluator is supernet:CHECKPOINT");
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
      return absl::InvalidArgumentError(absl::StrCat("spec.budget: ", spec->budget(), " is out of range [1, 1000000] (0: default 100)"));
    }
    if (spec->population() < 0 || spec->population() == 1 || spec->population() > 100000) {
      return absl::InvalidArgumentError("spec.population: must be 0 (default) or in [2, 100000]");
    }
    if (spec->parents() < 0 || spec->parents() > 100000) return absl::InvalidArgumentError("spec.parents: must be in [0, 100000]");
    if (!(spec->mutation_probability() >= 0 && spec->mutation_probability() <= 1)) {
      return absl::InvalidArgumentError("spec.mutation_probability: must be in [0, 1]");
    }
    if (!spec->predictor().empty()) {
      if (absl::Status s = search::CheckPredictorName(spec->predictor(), "spec.predictor"); !s.ok()) return s;
    }
    for (const std::string& c : spec->constraints()) {
      if (auto parsed = search::ParseConstraint(c); !parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("spec.constraints: ", parsed.status().message()));
      }
    }
    for (const std::string& o : spec->objectives()) {
      if (auto parsed = search::ParseObjective(o); !parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("spec.objectives: ", parsed.status().message()));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<const search::SupernetEvaluator*> SupernetEvaluatorFor(const std::string& path) {
    std::lock_guard<std::mutex> lock(evaluators_mu_);
    auto it = evaluators_.find(path);
    if (it != evaluators_.end()) return it->second.get();
    auto loaded = search::SupernetEvaluator::Load(path, torch::kCPU, {});
    if (!loaded.ok()) return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", loaded.status().message()));
    return (evaluators_[path] = *std::move(loaded)).get();
  }

  const ServerOptions options_;
  JobManager* jobs_;
  std::map<std::string, Known> spaces_;
  std::vector<std::string> roots_;
  std::mutex evaluators_mu_, export_mu_;
  std::map<std::string, std::unique_ptr<search::SupernetEvaluator>> evaluators_;
};

}  // namespace

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::unique_ptr<NasServer>> NasServer::Start(const ServerOptions& options) {
  const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (tls && (options.tls_cert.empty() || options.tls_key.empty())) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!IsLoopback(options.host) && !(tls && !options.token.empty()) && !options.allow_insecure_remote) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--host ", options.host, ": binding a non-loopback address needs --tls-cert/--tls-key and --token "
        "(or --allow-insecure-remote)"));
  }
  if (options.port < 0 || options.port > 65535) return absl::InvalidArgumentError("--port: must be in [0, 65535]");
  std::unique_ptr<NasServer> server(new NasServer());
  JobManagerOptions jm;
  jm.data_dir = options.data_dir;
  jm.config_dir = options.config_dir;
  jm.max_running = options.max_running;
  jm.max_queued = options.max_queued;
  jm.threads = options.threads;
  auto jobs = JobManager::Create(jm);
  if (!jobs.ok()) return jobs.status();
  server->jobs_ = *std::move(jobs);
  server->service_ = std::make_unique<Service>(options, server->jobs_.get());

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls) {
    auto cert = ReadFileBytes(options.tls_cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadFileBytes(options.tls_key);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string host = options.host.find(':') != std::string::npos && options.host[0] != '['
                               ? absl::StrCat("[", options.host, "]")
                               : options.host;
  builder.AddListeningPort(absl::StrCat(host, ":", options.port), credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->jobs_->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", options.port));
  }
  return server;
}

void NasServer::Shutdown(std::chrono::milliseconds deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  jobs_->Shutdown();  // Jobs checkpoint; watchers see the shutdown and return.
  server_->Shutdown(std::chrono::system_clock::now() + deadline);
}

NasServer::~NasServer() { Shutdown(); }

}  // namespace nas::service
