#include "nas/service.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proto/grpc_health.grpc.pb.h"
#include "proto/nas.grpc.pb.h"
#include "supernet/file_util.h"

namespace nas::service {
namespace {

namespace fs = std::filesystem;

// Error messages travel in response metadata: bounded, so that a message echoing a huge
// field never turns INVALID_ARGUMENT into a transport error.
constexpr size_t kMaxErrorMessageBytes = 1024;

// The one place an engine status becomes a gRPC status: codes map one to one (absl's
// are gRPC's), messages are bounded.
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

// Runs a handler body so that no exception crosses into gRPC: an unexpected one is
// INTERNAL (out of memory RESOURCE_EXHAUSTED) with its first line.
grpc::Status Guard(const std::function<absl::Status()>& body) {
  try {
    return ToGrpc(body());
  } catch (const std::bad_alloc&) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory while handling the call");
  } catch (const std::exception& e) {
    const std::string what = e.what();
    return ToGrpc(absl::InternalError(absl::StrCat("unexpected error: ", what.substr(0, what.find('\n')))));
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "unexpected error");
  }
}

// Copies a StatusOr's value into a response.
template <typename T>
absl::Status Into(absl::StatusOr<T> value, T* response) {
  if (!value.ok()) return value.status();
  *response = *std::move(value);
  return absl::OkStatus();
}

// NasService over the engine: authorizes, converts, streams. No job or evaluator logic.
class Service final : public v1::NasService::Service {
 public:
  Service(const ServerOptions& options, engine::Engine* engine) : options_(options), engine_(engine) {}

  // From now on watch streams send their job once more and end (shutdown).
  void StopWatchers() { stopping_ = true; }

  grpc::Status DescribeSpace(grpc::ServerContext* context, const v1::DescribeSpaceRequest* request,
                             v1::SpaceDescription* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->DescribeSpace(*request), response); });
  }

  grpc::Status EvaluateArchitecture(grpc::ServerContext* context, const v1::EvaluateArchitectureRequest* request,
                                    v1::EvaluateArchitectureResponse* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->Evaluate(*request, [context] { return context->IsCancelled(); }), response); });
  }

  grpc::Status ExportSubnet(grpc::ServerContext* context, const v1::ExportSubnetRequest* request,
                            v1::ExportSubnetResponse* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    // A client that cancelled or ran out of its deadline gets no bundle written.
    return Guard([&] { return Into(engine_->Export(*request, [context] { return context->IsCancelled(); }), response); });
  }

  grpc::Status StartSearch(grpc::ServerContext* context, const v1::StartSearchRequest* request,
                           v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->StartSearch(*request), response); });
  }

  grpc::Status StartTraining(grpc::ServerContext* context, const v1::StartTrainingRequest* request,
                             v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->StartTraining(*request), response); });
  }

  grpc::Status StartFineTune(grpc::ServerContext* context, const v1::StartFineTuneRequest* request,
                             v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->StartFineTune(*request), response); });
  }

  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->GetJob(request->id()), response); });
  }

  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->ListJobs(*request), response); });
  }

  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    return Guard([&] { return Into(engine_->CancelJob(request->id()), response); });
  }

  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    if (grpc::Status s = Authorize(context); !s.ok()) return s;
    auto job = engine_->GetJob(request->id());
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
    return Guard([&] { return Watch(context, request->id(), *std::move(job), writer); });
  }

 private:
  grpc::Status Authorize(grpc::ServerContext* context) const { return service::Authorize(context, options_.token); }

  // Sends the job, then every change of it, until it is final, the client goes away or
  // the server shuts down.
  absl::Status Watch(grpc::ServerContext* context, const std::string& id, v1::Job job,
                     grpc::ServerWriter<v1::JobEvent>* writer) {
    while (true) {
      v1::JobEvent event;
      *event.mutable_job() = job;
      if (!writer->Write(event)) return absl::OkStatus();  // The client went away.
      if (engine::IsFinal(job.state())) return absl::OkStatus();
      if (stopping_) return absl::UnavailableError("the server is shutting down; watch again later");
      // Wake at least every 200 ms to notice a cancelled call, a deadline or a shutdown.
      do {
        if (context->IsCancelled()) return absl::CancelledError("the client cancelled");
        if (stopping_) {
          auto last = engine_->GetJob(id);
          if (last.ok()) job = *std::move(last);
          break;
        }
        auto next = engine_->WaitForChange(id, job, absl::Milliseconds(200));
        if (!next.ok()) return next.status();
        if (google::protobuf::util::MessageDifferencer::Equals(*next, job)) continue;
        job = *std::move(next);
        break;
      } while (true);
    }
  }

  const ServerOptions options_;
  engine::Engine* engine_;
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
  engine::EngineOptions eo;
  eo.data_dir = options.data_dir;
  eo.config_dir = options.config_dir;
  eo.allowed_dirs = options.allowed_dirs;
  eo.limits = options.limits;
  eo.max_running = options.max_running;
  eo.max_queued = options.max_queued;
  eo.threads = options.threads;
  eo.max_crash_restarts = options.max_crash_restarts;
  eo.max_result_bytes = options.max_result_bytes;
  eo.evaluator_cache_entries = options.evaluator_cache_entries;
  {
    engine::JobManagerOptions jm;
    jm.max_running = eo.max_running;
    jm.max_queued = eo.max_queued;
    jm.max_crash_restarts = eo.max_crash_restarts;
    if (absl::Status s = engine::ValidateJobManagerOptions(jm); !s.ok()) return s;
  }
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

  auto engine = engine::Engine::Create(std::move(eo));
  if (!engine.ok()) return engine.status();
  server->engine_ = *std::move(engine);
  auto service = std::make_unique<Service>(options, server->engine_.get());
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
  if (engine_ != nullptr) engine_->Shutdown();
  if (lock_fd_ >= 0) {
    close(lock_fd_);  // Releases the flock.
    lock_fd_ = -1;
  }
}

NasServer::~NasServer() { Shutdown(); }

}  // namespace nas::service
