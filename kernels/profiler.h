#ifndef NAS_KERNELS_PROFILER_H_
#define NAS_KERNELS_PROFILER_H_

// The timing harness behind the latency lookup tables: summary statistics of repeated
// runs, a timer that splits one forward pass at block boundaries, a scoped thread count,
// and a description of the machine and library the numbers were measured with.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace nas::kernels {

struct TimingStats {
  double median_ms = 0;
  double p10_ms = 0;  // 10th percentile (linear interpolation between order statistics).
  double mean_ms = 0;
  double std_ms = 0;  // Sample standard deviation (0 for one sample).
  double min_ms = 0;
  double max_ms = 0;
  int count = 0;
};

// Summarizes samples in milliseconds; all zero for no samples.
TimingStats Summarize(std::vector<double> samples_ms);

// The statistic a latency figure is read as: "p10" (default: on a shared or virtual
// machine, interference only ever adds time, and the low percentile is the stable
// estimate of the network's own cost; see docs/latency.md), "median", "min" or "mean".
bool IsLatencyStatistic(const std::string& name);
double StatisticValue(const TimingStats& stats, const std::string& name);

// Splits one pass into consecutive named intervals: Mark(name) closes the open interval
// (if any) and opens `name`; Finish() closes the last. Times come from steady_clock, so
// on an asynchronous device the caller must synchronize before each mark. Not
// thread-safe: one timer per pass.
class BlockTimer {
 public:
  void Start();
  void Mark(const std::string& block);
  void Finish();
  // The closed intervals of the last pass, in order, in milliseconds.
  const std::vector<std::pair<std::string, double>>& intervals() const { return intervals_; }
  // From Start to Finish, in milliseconds.
  double total_ms() const { return total_ms_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::vector<std::pair<std::string, double>> intervals_;
  std::string open_;
  Clock::time_point start_, last_;
  bool has_open_ = false;
  double total_ms_ = 0;
};

// Sets LibTorch's intra-op thread count for the scope and restores it afterwards.
class ScopedThreads {
 public:
  explicit ScopedThreads(int threads);
  ~ScopedThreads();
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int previous_;
};

// What a latency figure was measured on.
struct MachineInfo {
  std::string cpu_model;  // /proc/cpuinfo "model name", or "unknown".
  std::string hostname;
  std::string library_version;  // "libtorch 1.13.0".
  int hardware_threads = 0;
};
MachineInfo DescribeMachine();

// Milliseconds since `start`.
inline double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace nas::kernels

#endif  // NAS_KERNELS_PROFILER_H_
