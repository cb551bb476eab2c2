#include "nas/service.h"

#include <filesystem>
#include <map>
#include <mutex>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nas/request_validation.h"
#include "nas/train_commands.h"
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
  Service(const ServerOptions& options, JobManager* jobs)
      : options_(options), jobs_(jobs), validator_(options.data_dir, options.config_dir, options.allowed_dirs) {}

  grpc::Status DescribeSpace(grpc::ServerContext* context, const v1::DescribeSpaceRequest* request,
                             v1::SpaceDescription* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    auto space = validator_.FindSpace(request->space(), "space");
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
    absl::StatusOr<supernet::Architecture> arch = validator_.ParseArchitecture(request->architecture(), "architecture");
    if (!arch.ok()) return ToGrpc(arch.status());
    auto space = validator_.FindSpace(request->architecture().space(), "architecture.space");
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
    if (!request->latency().empty()) {
      auto spec = search::ParseLatencySpec(request->latency(), "latency");
      if (!spec.ok()) return ToGrpc(spec.status());
      auto path = validator_.Confine(spec->second, "latency");
      if (!path.ok()) return ToGrpc(path.status());
      auto model = search::LoadLatencyModel(*space->space, spec->first + ":" + *path, "latency");
      if (!model.ok()) return ToGrpc(model.status());
      for (const std::string& device : (*model)->devices()) {
        absl::StatusOr<double> ms = (*model)->LatencyMs(*arch, device);
        if (ms.ok()) (*response->mutable_latency_ms())[device] = *ms;
      }
    }
    if (!request->checkpoint().empty()) {
      auto path = validator_.Confine(request->checkpoint(), "checkpoint");
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
    auto path = validator_.ValidateExport(*request);
    if (!path.ok()) return ToGrpc(path.status());
    auto evaluator = SupernetEvaluatorFor(*path);
    if (!evaluator.ok()) return ToGrpc(evaluator.status());
    const supernet::SearchSpace& space = (*evaluator)->space();
    if (!request->architecture().space().empty() && request->architecture().space() != space.name()) {
      return Invalid(absl::StrCat("architecture.space: the checkpoint was trained on '", space.name(), "'"));
    }
    absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(space, request->architecture().arch());
    if (!arch.ok()) {
      return Invalid(absl::StrCat("architecture.arch: ", absl::StripPrefix(arch.status().message(), "--arch: ")));
    }
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
    if (absl::Status s = validator_.ValidateSearch(job.mutable_search()); !s.ok()) return ToGrpc(s);
    auto submitted = jobs_->Submit(std::move(job));
    if (!submitted.ok()) return ToGrpc(submitted.status());
    *response = *submitted;
    return grpc::Status::OK;
  }

  grpc::Status StartTraining(grpc::ServerContext* context, const v1::StartTrainingRequest* request,
                             v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    const v1::TrainingSpec& spec = request->spec();
    if (absl::Status s = validator_.ValidateTraining(spec); !s.ok()) return ToGrpc(s);
    auto config = supernet::LoadTrainConfig((fs::path(options_.config_dir) / spec.config()).string());
    if (!config.ok()) return Invalid(absl::StrCat("spec.config: ", config.status().message()));
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
  grpc::Status Authorize(grpc::ServerContext* context) const {
    if (options_.token.empty()) return grpc::Status::OK;
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end() || std::string(it->second.data(), it->second.size()) != "Bearer " + options_.token) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a valid 'authorization: Bearer TOKEN' is required");
    }
    return grpc::Status::OK;
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
  RequestValidator validator_;
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
  // Health: "" (the server) and the API are SERVING until shutdown begins.
  server->server_->GetHealthCheckService()->SetServingStatus(v1::NasService::service_full_name(), true);
  return server;
}

void NasServer::Shutdown(std::chrono::milliseconds deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  server_->GetHealthCheckService()->Shutdown();  // Health checks answer NOT_SERVING from now on.
  jobs_->Shutdown();  // Jobs checkpoint; watchers see the shutdown and return.
  server_->Shutdown(std::chrono::system_clock::now() + deadline);
}

NasServer::~NasServer() { Shutdown(); }

}  // namespace nas::service
