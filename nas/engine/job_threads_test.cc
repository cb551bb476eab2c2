// RunOnOwnThread: another thread, the job's thread count there, the caller's untouched,
// results and exceptions carried back.
#include "nas/engine/job_threads.h"

#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace nas::engine {
namespace {

TEST(RunOnOwnThreadTest, RunsElsewhereWithItsThreadCountAndCarriesResultsAndErrors) {
  torch::set_num_threads(1);
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id ran_on;
  int threads_inside = 0;
  RunOnOwnThread(2, [&] {
    ran_on = std::this_thread::get_id();
    threads_inside = torch::get_num_threads();
  });
  EXPECT_NE(ran_on, caller);
  EXPECT_EQ(threads_inside, 2);
  EXPECT_EQ(torch::get_num_threads(), 1);  // The caller's setting is its own.
  EXPECT_EQ(RunOnOwnThread<int>(1, [] { return 42; }), 42);
  EXPECT_THROW(RunOnOwnThread(1, [] { throw std::runtime_error("boom"); }), std::runtime_error);
}

}  // namespace
}  // namespace nas::engine
