#ifndef NAS_NAS_ENGINE_JOB_THREADS_H_
#define NAS_NAS_ENGINE_JOB_THREADS_H_

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

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_JOB_THREADS_H_
