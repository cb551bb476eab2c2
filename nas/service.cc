#include "nas/service.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nas/request_validation.h"
#include "nas/train_commands.h"
#include "proto/grpc_health.grpc.pb.h"
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

// Error messages travel in response metadata: bounded, so that a message echoing a huge
// field never turns INVALID_ARGUMENT into a transport error.
constexpr size_t kMaxErrorMessageBytes = 1024;

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  std::string message(s.message());
  if (message.size() > kMaxErrorMessageBytes) {
    const size_t more = message.size() - kMaxErrorMessageBytes;
    message = absl::StrCat(message.substr(0, kMaxErrorMessageBytes), "... (", more, " more bytes)");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), message);
}

// OK when no token is configured or the call carries "authorization: Bearer TOKEN".
grpc::Status Authorize(const grpc::ServerContext* context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end() || std::string(it->second.data(), it->second.size()) != "Bearer " + token) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a valid 'authorization: Bearer TOKEN' is required");
  }
  return grpc::Status::OK;
}

// grpc.health.v1.Health for the server ("") and the API: SERVING until shutdown begins,
// then NOT_SERVING; behind the token like every other call.
class HealthService final : public grpc::health::v1::Health::Service {
 public:
  explicit HealthService(std::string token) : token_(std::move(token)) {}
  void SetNotServing() { serving_ = false; }

  grpc::Status Check(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    if (!request->service().empty() && request->service() != v1::NasService::service_full_name()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    }
    response->set_status(serving_ ? grpc::health::v1::HealthCheckResponse::SERVING
                                  : grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    return grpc::Status::OK;
  }

 private:
  const std::string token_;
  std::atomic<bool> serving_{true};
};

// A file's identity for caches: a replaced or rewritten file is a different entry.
std::string FileIdentity(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return path;
  return absl::StrCat(path, "|", st.st_dev, ":", st.st_ino, "|", st.st_size, "|", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

class Service final : public v1::NasService::Service {
 public:
  Service(const ServerOptions& options, JobManager* jobs)
      : options_(options),
        jobs_(jobs),
        validator_(options.data_dir, options.config_dir, options.allowed_dirs, options.limits) {}

  // From now on watch streams send their job once more and end (shutdown).
  void StopWatchers() { stopping_ = true; }

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
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled");
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
    // A client that cancelled or ran out of its deadline gets no bundle written.
    eo.cancelled = [context] { return context->IsCancelled(); };
    const std::string dir = absl::StrCat(options_.data_dir, "/exports/", name);
    absl::StatusOr<nlohmann::json> j;
    {
      std::lock_guard<std::mutex> lock(export_mu_);  // One export at a time: they are heavy.
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled");
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
    if (absl::Status s = validator_.ValidateRequestId(request->request_id()); !s.ok()) return ToGrpc(s);
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
    if (absl::Status s = validator_.ValidateRequestId(request->request_id()); !s.ok()) return ToGrpc(s);
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

  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    constexpr int kDefaultPage = 100, kMaxPage = 1000;
    if (request->page_size() < 0 || request->page_size() > kMaxPage) {
      return Invalid(absl::StrCat("page_size: must be in [0, ", kMaxPage, "] (0: ", kDefaultPage, ")"));
    }
    int64_t after = 0;
    if (!request->page_token().empty() && (!absl::SimpleAtoi(request->page_token(), &after) || after < 0)) {
      return Invalid("page_token: not a token this server gave (use next_page_token)");
    }
    const int size = request->page_size() > 0 ? request->page_size() : kDefaultPage;
    int64_t last = 0;
    // One more than the page, to know whether another page follows.
    auto jobs = jobs_->ListPage(after, size + 1, &last);
    if (!jobs.ok()) return ToGrpc(jobs.status());
    const bool more = static_cast<int>(jobs->size()) > size;
    if (more) {
      jobs->pop_back();
      auto page = jobs_->ListPage(after, size, &last);  // The row number of the page's last job.
      if (!page.ok()) return ToGrpc(page.status());
    }
    for (v1::Job& job : *jobs) {
      job.clear_result_json();  // Listing stays small; GetJob has the result.
      *response->add_jobs() = std::move(job);
    }
    if (more) response->set_next_page_token(std::to_string(last));
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
    // Each stream holds a server thread while it waits: bounded.
    if (++watchers_ > options_.max_watchers) {
      --watchers_;
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          absl::StrCat("too many WatchJob streams open (at most ", options_.max_watchers,
                                       "); poll GetJob or retry later"));
    }
    struct Release {
      std::atomic<int>& n;
      ~Release() { --n; }
    } release{watchers_};
    while (true) {
      v1::JobEvent event;
      *event.mutable_job() = *job;
      if (!writer->Write(event)) return grpc::Status::OK;  // The client went away.
      if (IsFinal(job->state())) return grpc::Status::OK;
      if (stopping_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down; watch again later");
      // Wake at least every 200 ms to notice a cancelled call, a deadline or a shutdown.
      do {
        if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled");
        if (stopping_) {
          auto last = jobs_->Get(request->id());
          if (last.ok()) job = *std::move(last);
          break;
        }
        auto next = jobs_->WaitForChange(request->id(), *job, absl::Milliseconds(200));
        if (!next.ok()) return ToGrpc(next.status());
        if (google::protobuf::util::MessageDifferencer::Equals(*next, *job)) continue;
        job = *std::move(next);
        break;
      } while (true);
    }
  }

 private:
  grpc::Status Authorize(grpc::ServerContext* context) const { return service::Authorize(context, options_.token); }

  // A loaded supernet per checkpoint file identity (path, inode, size, mtime: a replaced
  // checkpoint is loaded again), at most options_.evaluator_cache_entries, least recently
  // used evicted. Callers share ownership, so eviction never frees one in use.
  absl::StatusOr<std::shared_ptr<const search::SupernetEvaluator>> SupernetEvaluatorFor(const std::string& path) {
    const std::string key = FileIdentity(path);
    std::lock_guard<std::mutex> lock(evaluators_mu_);
    for (auto it = evaluators_.begin(); it != evaluators_.end(); ++it) {
      if (it->first == key) {
        evaluators_.splice(evaluators_.begin(), evaluators_, it);  // Most recently used first.
        return evaluators_.front().second;
      }
    }
    auto loaded = search::SupernetEvaluator::Load(path, torch::kCPU, {});
    if (!loaded.ok()) return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", loaded.status().message()));
    // Entries of an older version of the same file go at once.
    evaluators_.remove_if([&](const auto& entry) { return absl::StartsWith(entry.first, path + "|"); });
    evaluators_.emplace_front(key, std::shared_ptr<const search::SupernetEvaluator>(*std::move(loaded)));
    while (static_cast<int>(evaluators_.size()) > std::max(1, options_.evaluator_cache_entries)) evaluators_.pop_back();
    return evaluators_.front().second;
  }

  const ServerOptions options_;
  JobManager* jobs_;
  RequestValidator validator_;
  std::mutex evaluators_mu_, export_mu_;
  std::list<std::pair<std::string, std::shared_ptr<const search::SupernetEvaluator>>> evaluators_;
  std::atomic<int> watchers_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::unique_ptr<NasServer>> NasServer::Start(const ServerOptions& options) {
  // Every check that can fail comes before anything is started, and every failure after
  // that leaves a server whose destructor copes with the parts that are missing.
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
  JobManagerOptions jm;
  jm.data_dir = options.data_dir;
  jm.config_dir = options.config_dir;
  jm.max_running = options.max_running;
  jm.max_queued = options.max_queued;
  jm.threads = options.threads;
  jm.max_crash_restarts = options.max_crash_restarts;
  jm.max_result_bytes = options.max_result_bytes;
  if (absl::Status s = ValidateJobManagerOptions(jm); !s.ok()) return s;
  if (options.max_watchers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--max-watchers: must be at least 1, got ", options.max_watchers));
  }
  if (options.max_result_bytes < 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-result-bytes: must be at least 1024, got ", options.max_result_bytes));
  }
  if (options.limits.max_budget < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--max-budget: must be at least 1, got ", options.limits.max_budget));
  }
  std::error_code ec;
  if (!fs::is_directory(options.config_dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("--config-dir ", options.config_dir, ": not a directory"));
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls) {
    auto cert = ReadFileBytes(options.tls_cert);
    if (!cert.ok()) return absl::InvalidArgumentError(absl::StrCat("--tls-cert: ", cert.status().message()));
    auto key = ReadFileBytes(options.tls_key);
    if (!key.ok()) return absl::InvalidArgumentError(absl::StrCat("--tls-key: ", key.status().message()));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  if (fs::exists(options.data_dir, ec) && !fs::is_directory(options.data_dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("--data-dir ", options.data_dir, ": exists and is not a directory"));
  }
  fs::create_directories(options.data_dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("--data-dir ", options.data_dir, ": ", ec.message()));

  std::unique_ptr<NasServer> server(new NasServer());
  // One server per data directory: two would hand out the same job ids and overwrite
  // each other's records. The lock goes with the process, however it ends.
  const std::string lock_path = options.data_dir + "/server.lock";
  server->lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (server->lock_fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat("--data-dir ", options.data_dir, ": cannot open ", lock_path,
                                                      ": ", std::strerror(errno)));
  }
  if (flock(server->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    const ssize_t n = pread(server->lock_fd_, pid, sizeof(pid) - 1, 0);
    return absl::FailedPreconditionError(absl::StrCat(
        "--data-dir ", options.data_dir, ": another nas serve is using it",
        n > 0 ? absl::StrCat(" (pid ", absl::StripAsciiWhitespace(pid), ")") : std::string()));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(server->lock_fd_, 0) != 0 || pwrite(server->lock_fd_, pid.data(), pid.size(), 0) < 0) {
    // Only informative; the lock itself holds.
  }

  auto jobs = JobManager::Create(jm);
  if (!jobs.ok()) return jobs.status();
  server->jobs_ = *std::move(jobs);
  auto service = std::make_unique<Service>(options, server->jobs_.get());
  Service* raw = service.get();
  server->stop_watchers_ = [raw] { raw->StopWatchers(); };
  server->service_ = std::move(service);

  // Health is served by HealthService (behind the token). Reflection lists the API to
  // tools such as grpcurl; it cannot check a token, so with a token it is not offered
  // (the plugin is process-wide: a process that started a server without a token before
  // keeps offering it).
  grpc::EnableDefaultHealthCheckService(false);
  if (options.token.empty()) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto health = std::make_unique<HealthService>(options.token);
  HealthService* health_raw = health.get();
  server->health_ = std::move(health);
  server->set_not_serving_ = [health_raw] { health_raw->SetNotServing(); };
  grpc::ServerBuilder builder;
  const std::string host = options.host.find(':') != std::string::npos && options.host[0] != '['
                               ? absl::StrCat("[", options.host, "]")
                               : options.host;
  // No SO_REUSEPORT: a second server on a port in use must fail, not share the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(absl::StrCat(host, ":", options.port), credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->health_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("--port: cannot listen on ", host, ":", options.port,
                                               " (in use, or the address is not this machine's)"));
  }
  return server;
}

void NasServer::Shutdown(std::chrono::milliseconds deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  // 1. Health checks answer NOT_SERVING; watch streams send a last event and end.
  // 2. The RPC server stops accepting calls; in-flight ones get `deadline`.
  // 3. Jobs stop at their next step or generation and checkpoint, to resume on the next start.
  if (set_not_serving_) set_not_serving_();
  if (stop_watchers_) stop_watchers_();
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + deadline);
  if (jobs_ != nullptr) jobs_->Shutdown();
  if (lock_fd_ >= 0) {
    close(lock_fd_);  // Releases the flock.
    lock_fd_ = -1;
  }
}

NasServer::~NasServer() { Shutdown(); }

}  // namespace nas::service
