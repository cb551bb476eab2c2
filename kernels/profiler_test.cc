#include "kernels/profiler.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

namespace nas::kernels {
namespace {

TEST(SummarizeTest, MedianMeanStd) {
  const TimingStats s = Summarize({4, 1, 3, 2});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.median_ms, 2.5);
  EXPECT_DOUBLE_EQ(s.mean_ms, 2.5);
  EXPECT_NEAR(s.std_ms, 1.2909944, 1e-6);
  EXPECT_DOUBLE_EQ(s.min_ms, 1);
  EXPECT_DOUBLE_EQ(s.max_ms, 4);
  EXPECT_DOUBLE_EQ(s.p10_ms, 1.3);  // 1 + 0.3 * (2 - 1).
  EXPECT_DOUBLE_EQ(StatisticValue(s, "p10"), 1.3);
  EXPECT_DOUBLE_EQ(StatisticValue(s, "median"), 2.5);
  EXPECT_DOUBLE_EQ(StatisticValue(s, "min"), 1);
  EXPECT_TRUE(IsLatencyStatistic("median"));
  EXPECT_FALSE(IsLatencyStatistic("p50"));
  EXPECT_DOUBLE_EQ(Summarize({5, 1, 9}).median_ms, 5);
  EXPECT_EQ(Summarize({}).count, 0);
}

TEST(BlockTimerTest, IntervalsCoverThePass) {
  BlockTimer timer;
  timer.Start();
  timer.Mark("a");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  timer.Mark("b");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  timer.Finish();
  ASSERT_EQ(timer.intervals().size(), 2u);
  EXPECT_EQ(timer.intervals()[0].first, "a");
  EXPECT_EQ(timer.intervals()[1].first, "b");
  EXPECT_GE(timer.intervals()[0].second, 19.0);
  EXPECT_GE(timer.intervals()[1].second, 4.0);
  EXPECT_GT(timer.intervals()[0].second, timer.intervals()[1].second);
  EXPECT_GE(timer.total_ms(), timer.intervals()[0].second + timer.intervals()[1].second);
  // A new pass starts empty.
  timer.Start();
  timer.Finish();
  EXPECT_TRUE(timer.intervals().empty());
}

TEST(ScopedThreadsTest, RestoresThreadCount) {
  const int before = torch::get_num_threads();
  {
    ScopedThreads threads(1);
    EXPECT_EQ(torch::get_num_threads(), 1);
  }
  EXPECT_EQ(torch::get_num_threads(), before);
}

TEST(DescribeMachineTest, NamesLibrary) {
  const MachineInfo info = DescribeMachine();
  EXPECT_NE(info.library_version.find("libtorch"), std::string::npos);
  EXPECT_GT(info.hardware_threads, 0);
}

}  // namespace
}  // namespace nas::kernels
