#ifndef NAS_NAS_ENGINE_ENGINE_H_
#define NAS_NAS_ENGINE_ENGINE_H_

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nas/engine/job_manager.h"
#include "nas/request_validation.h"
#include "proto/nas.pb.h"
#include "search/supernet_evaluator.h"

namespace nas::engine {

struct EngineOptions {
  std::string data_dir;    // jobs.sqlite, evaluations.sqlite, jobs/<id>/, exports/<name>/.
  std::string config_dir;  // Search spaces and training configs requests may name.
  // Files named in requests (tables, checkpoints) must lie under the data directory or
  // one of these.
  std::vector<std::string> allowed_dirs;
  service::RequestLimits limits;
  int max_running = 1;
  int max_queued = 16;
  int threads = 0;  // Intra-op threads per job and per evaluation (0: one per core).
  int max_crash_restarts = 2;
  int64_t max_result_bytes = 1 << 20;
  int evaluator_cache_entries = 4;  // Supernets kept loaded for Evaluate/Export.
};

// The engine behind every front end: validates requests (errors name request fields),
// owns the jobs (queue, store, workers), the loaded supernets and the locks. The gRPC
// service is a thin adapter over it; the CLI runs the same typed jobs (search_job.h,
// training_job.h, export_job.h) in its own process. Thread-safe.
class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineOptions options);
  ~Engine();

  absl::StatusOr<v1::SpaceDescription> DescribeSpace(const v1::DescribeSpaceRequest& request) const;
  // `cancelled` is polled before the heavy parts; true abandons the call (CANCELLED).
  absl::StatusOr<v1::EvaluateArchitectureResponse> Evaluate(const v1::EvaluateArchitectureRequest& request,
                                                            const std::function<bool()>& cancelled);
  // Writes the bundle into <data dir>/exports/<name>; one export at a time. A call
  // cancelled before the bundle is in place writes nothing.
  absl::StatusOr<v1::ExportSubnetResponse> Export(const v1::ExportSubnetRequest& request,
                                                  const std::function<bool()>& cancelled);

  absl::StatusOr<v1::Job> StartSearch(const v1::StartSearchRequest& request);
  absl::StatusOr<v1::Job> StartTraining(const v1::StartTrainingRequest& request);
  absl::StatusOr<v1::Job> StartFineTune(const v1::StartFineTuneRequest& request);
  absl::StatusOr<v1::Job> GetJob(const std::string& id) const;
  // A page of jobs (results left out: GetJob has them), optionally of one state or kind.
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) const;
  absl::StatusOr<v1::Job> CancelJob(const std::string& id);
  // Waits until the job's record differs from `last` (or `timeout` passes).
  absl::StatusOr<v1::Job> WaitForChange(const std::string& id, const v1::Job& last, absl::Duration timeout) {
    return jobs_->WaitForChange(id, last, timeout);
  }
  // Running jobs checkpoint and stay unfinished, to resume on the next start. Idempotent.
  void Shutdown() { jobs_->Shutdown(); }

  const EngineOptions& options() const { return options_; }

 private:
  explicit Engine(EngineOptions options);
  // A loaded supernet per checkpoint file identity (path, inode, size, mtime: a replaced
  // checkpoint is loaded again), at most options_.evaluator_cache_entries, least recently
  // used evicted. Callers share ownership, so eviction never frees one in use.
  absl::StatusOr<std::shared_ptr<const search::SupernetEvaluator>> SupernetFor(const std::string& path);

  const EngineOptions options_;
  const service::RequestValidator validator_;
  std::unique_ptr<JobManager> jobs_;
  std::mutex evaluators_mu_, export_mu_;
  std::list<std::pair<std::string, std::shared_ptr<const search::SupernetEvaluator>>> evaluators_;
};

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_ENGINE_H_
