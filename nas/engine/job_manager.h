#ifndef NAS_NAS_ENGINE_JOB_MANAGER_H_
#define NAS_NAS_ENGINE_JOB_MANAGER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nas/engine/job_store.h"
#include "proto/nas.pb.h"

namespace nas::engine {

struct JobManagerOptions {
  std::string data_dir;    // jobs.sqlite, evaluations.sqlite and jobs/<id>/ live here.
  std::string config_dir;  // Where training configs named by TrainingSpec.config live.
  int max_running = 1;     // Jobs run at once.
  int max_queued = 16;     // Waiting jobs; past this, submissions are RESOURCE_EXHAUSTED.
  int threads = 0;         // Intra-op threads per job (0: one per core).
  // A job the server stopped unexpectedly while running (killed, out of memory) is
  // restarted at most this many times, then FAILED with the reason.
  int max_crash_restarts = 2;
  // A result (result.json) larger than this is stored in the job record without its
  // history; the full file stays in the job's output directory.
  int64_t max_result_bytes = 1 << 20;
};

// Runs search and training jobs on worker threads with a bounded queue. Every state change
// is written to the job store first, so a restarted manager lists earlier jobs and requeues
// the unfinished ones: a search replays its finished generations from the evaluation
// archive, a training run resumes from its checkpoint. Thread-safe.
class JobManager {
 public:
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(JobManagerOptions options);
  ~JobManager();

  // Queues a job whose spec the caller validated (kind "search" or "training"). With a
  // request id seen before, returns that job instead of creating another.
  absl::StatusOr<v1::Job> Submit(v1::Job job);
  absl::StatusOr<v1::Job> Get(const std::string& id) const;
  absl::StatusOr<std::vector<v1::Job>> List() const;
  // A page of jobs in creation order (see JobStore::ListPage).
  absl::StatusOr<std::vector<v1::Job>> ListPage(int64_t after, int limit, int64_t* last) const {
    return store_->ListPage(after, limit, last);
  }
  // A page of the jobs `keep` accepts (see JobStore::ListMatching).
  absl::StatusOr<std::vector<v1::Job>> ListMatching(int64_t after, int limit,
                                                    const std::function<bool(const v1::Job&)>& keep,
                                                    int64_t* last, bool* more) const {
    return store_->ListMatching(after, limit, keep, last, more);
  }
  // A queued job is cancelled at once; a running one stops after its current training
  // step (with a checkpoint) or search generation.
  absl::StatusOr<v1::Job> Cancel(const std::string& id);
  // Waits until the job's record differs from `last` (or `timeout` passes) and returns it.
  absl::StatusOr<v1::Job> WaitForChange(const std::string& id, const v1::Job& last, absl::Duration timeout);
  // Stops the workers; running jobs checkpoint and stay unfinished, to resume on the next
  // start. Idempotent; also done by the destructor.
  void Shutdown();

  const JobManagerOptions& options() const { return options_; }

 private:
  explicit JobManager(JobManagerOptions options) : options_(std::move(options)) {}
  void Worker();
  // Runs one job to a final state (or leaves it unfinished on shutdown).
  void Execute(v1::Job job);
  absl::Status Update(const v1::Job& job);  // Store, then wake watchers.

  JobManagerOptions options_;
  std::unique_ptr<JobStore> store_;
  mutable std::mutex mu_;
  std::condition_variable queue_cv_, change_cv_;
  std::deque<std::string> queue_;
  // Running jobs: a flag the job polls, and how to stop a training run at once.
  struct Running {
    std::atomic<bool> cancel{false};
    std::function<void()> stop_training;
  };
  std::map<std::string, std::shared_ptr<Running>> running_;
  std::vector<std::thread> workers_;
  bool shutting_down_ = false;
};

bool IsFinal(v1::Job::State state);

// InvalidArgument naming the flag (--max-jobs, --max-queued, --max-crash-restarts) of an
// option out of range; JobManager::Create checks it too.
absl::Status ValidateJobManagerOptions(const JobManagerOptions& options);

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_JOB_MANAGER_H_
