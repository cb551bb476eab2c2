#ifndef NAS_NAS_ENGINE_JOB_THREADS_H_
#define NAS_NAS_ENGINE_JOB_THREADS_H_

#include <functional>
#include <optional>

namespace nas::engine {

// Sets the intra-op threads of the work the calling thread runs (a job's thread) for the
// lifetime of this object, then restores what it found. LibTorch here runs intra-op work on
// OpenMP, whose team size is a per-thread setting: two jobs on two worker threads each get
// their own count. `threads` <= 0: one per core.
class JobThreads {
 public:
  explicit JobThreads(int threads);
  ~JobThreads();
  JobThreads(const JobThreads&) = delete;
  JobThreads& operator=(const JobThreads&) = delete;
  int threads() const { return threads_; }

 private:
  int previous_ = 0;
  int threads_ = 0;
};

// Runs `fn` on a new thread with JobThreads(threads) and waits for it. Every LibTorch-heavy
// piece of work in a long-lived process (a job, an export, a supernet evaluation or load
// in the server) runs this way, so that the OpenMP team it creates ends with it. libgomp
// counts every team thread that still exists, and once there are more than cores, every
// team spins only 100 times (instead of 300,000) before sleeping at each barrier: in
// `nas serve`, whose worker and gRPC threads each kept a team, fine-tuning ran about 1.5x
// slower than `nas finetune` and batch-1 latency was 8x worse (docs/benchmarks.md).
void RunOnOwnThread(int threads, const std::function<void()>& fn);

// RunOnOwnThread for a function with a result.
template <typename T>
T RunOnOwnThread(int threads, const std::function<T()>& fn) {
  std::optional<T> result;
  RunOnOwnThread(threads, [&] { result.emplace(fn()); });
  return *std::move(result);
}

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_JOB_THREADS_H_
