#ifndef NAS_NAS_SERVICE_H_
#define NAS_NAS_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "nas/engine/engine.h"
#include "nas/request_validation.h"

namespace nas::service {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 50051;         // 0: pick a free port (see NasServer::port()).
  std::string data_dir = "runs/server";
  std::string config_dir = "configs";  // Search spaces and training configs the server knows.
  // Files named in requests (tables, checkpoints) must lie under the data directory or
  // one of these.
  std::vector<std::string> allowed_dirs;
  std::string token;        // When set, every call needs "authorization: Bearer TOKEN".
  std::string tls_cert, tls_key;  // PEM files; both or neither.
  bool allow_insecure_remote = false;
  int max_running = 1;
  int max_queued = 16;
  int threads = 0;
  RequestLimits limits;              // Per-request limits, checked at submission.
  int max_crash_restarts = 2;        // See engine::JobManagerOptions.
  int64_t max_result_bytes = 1 << 20;
  int max_watchers = 64;             // Concurrent WatchJob streams (each holds a thread).
  int evaluator_cache_entries = 4;   // Supernets kept loaded for Evaluate/Export.
};

// The gRPC server: NasService (a thin adapter over engine::Engine), the standard health
// service and server reflection.
class NasServer {
 public:
  // Validates the options (a non-loopback address needs TLS and a token unless
  // allow_insecure_remote), opens the job store, requeues unfinished jobs and starts
  // listening.
  static absl::StatusOr<std::unique_ptr<NasServer>> Start(const ServerOptions& options);
  ~NasServer();
  int port() const { return port_; }
  // Stops accepting calls (in-flight ones get `deadline`), then stops the jobs, which
  // checkpoint and resume on the next start.
  void Shutdown(std::chrono::milliseconds deadline = std::chrono::milliseconds(5000));
  void Wait() { server_->Wait(); }

 private:
  NasServer() = default;
  std::unique_ptr<grpc::Service> service_, health_;
  std::function<void()> stop_watchers_;  // Watch streams send a final event and end.
  std::function<void()> set_not_serving_;  // Health turns NOT_SERVING.
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int lock_fd_ = -1;  // flock on DATA_DIR/server.lock: one server per data directory.
  bool shut_down_ = false;
};

// True for 127.0.0.0/8, ::1 and localhost.
bool IsLoopback(const std::string& host);

}  // namespace nas::service

#endif  // NAS_NAS_SERVICE_H_
