#include "nas/engine/job_threads.h"

#include <algorithm>
#include <exception>
#include <thread>

#include <torch/torch.h>

namespace nas::engine {

JobThreads::JobThreads(int threads) : previous_(torch::get_num_threads()) {
  threads_ = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads_);
}

JobThreads::~JobThreads() {
  if (previous_ > 0) torch::set_num_threads(previous_);
}

void RunOnOwnThread(int threads, const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      const JobThreads scope(threads);
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace nas::engine
