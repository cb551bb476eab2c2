#include "kernels/profiler.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <thread>

namespace nas::kernels {

TimingStats Summarize(std::vector<double> samples_ms) {
  TimingStats s;
  s.count = static_cast<int>(samples_ms.size());
  if (samples_ms.empty()) return s;
  std::sort(samples_ms.begin(), samples_ms.end());
  const size_t n = samples_ms.size();
  s.median_ms = n % 2 == 1 ? samples_ms[n / 2] : 0.5 * (samples_ms[n / 2 - 1] + samples_ms[n / 2]);
  const double pos = 0.1 * static_cast<double>(n - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, n - 1);
  s.p10_ms = samples_ms[lo] + (pos - static_cast<double>(lo)) * (samples_ms[hi] - samples_ms[lo]);
  s.mean_ms = std::accumulate(samples_ms.begin(), samples_ms.end(), 0.0) / n;
  double ss = 0;
  for (double v : samples_ms) ss += (v - s.mean_ms) * (v - s.mean_ms);
  s.std_ms = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  s.min_ms = samples_ms.front();
  s.max_ms = samples_ms.back();
  return s;
}

bool IsLatencyStatistic(const std::string& name) {
  return name == "p10" || name == "median" || name == "min" || name == "mean";
}

double StatisticValue(const TimingStats& stats, const std::string& name) {
  if (name == "median") return stats.median_ms;
  if (name == "min") return stats.min_ms;
  if (name == "mean") return stats.mean_ms;
  return stats.p10_ms;
}

void BlockTimer::Start() {
  intervals_.clear();
  has_open_ = false;
  total_ms_ = 0;
  start_ = last_ = Clock::now();
}

void BlockTimer::Mark(const std::string& block) {
  const Clock::time_point now = Clock::now();
  if (has_open_) {
    intervals_.emplace_back(open_, std::chrono::duration<double, std::milli>(now - last_).count());
  }
  open_ = block;
  has_open_ = true;
  last_ = now;
}

void BlockTimer::Finish() {
  const Clock::time_point now = Clock::now();
  if (has_open_) {
    intervals_.emplace_back(open_, std::chrono::duration<double, std::milli>(now - last_).count());
  }
  has_open_ = false;
  total_ms_ = std::chrono::duration<double, std::milli>(now - start_).count();
}

ScopedThreads::ScopedThreads(int threads) : previous_(torch::get_num_threads()) {
  if (threads > 0) torch::set_num_threads(threads);
}

ScopedThreads::~ScopedThreads() { torch::set_num_threads(previous_); }

MachineInfo DescribeMachine() {
  MachineInfo info;
  info.cpu_model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        info.cpu_model = line.substr(colon + 1);
        info.cpu_model.erase(0, info.cpu_model.find_first_not_of(' '));
      }
      break;
    }
  }
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) info.hostname = host;
  info.library_version = "libtorch " TORCH_VERSION;
  info.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  return info;
}

}  // namespace nas::kernels
