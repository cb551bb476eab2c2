#include "nas/engine/progress.h"

#include <sstream>

#include <gtest/gtest.h>

namespace nas::engine {
namespace {

v1::SearchProgress Generation(int64_t generation, int64_t evaluated) {
  v1::SearchProgress p;
  p.set_generation(generation);
  p.set_evaluated(evaluated);
  p.set_budget(30);
  p.set_metric("accuracy");
  p.mutable_best()->set_has_accuracy(true);
  p.mutable_best()->set_accuracy(93.5);
  p.mutable_best()->set_flops(12'345'000);
  p.mutable_best()->set_params(1'234'500);
  return p;
}

TEST(ProgressTest, SearchLinesSayWhatIsKnownOfTheBest) {
  EXPECT_EQ(FormatSearchProgress(Generation(2, 20)),
            "generation 2: 20/30 evaluated, best 93.50 % at 12.345 MFLOPs, 1.2345 M params");
  v1::SearchProgress with_free = Generation(0, 10);
  with_free.set_prescored(64);
  EXPECT_EQ(FormatSearchProgress(with_free),
            "generation 0: 10/30 evaluated (and 64 free from the reference sample), best 93.50 % at 12.345 MFLOPs, "
            "1.2345 M params");
  v1::Evaluation cost_only;
  cost_only.set_flops(2'000'000);
  cost_only.set_params(100'000);
  EXPECT_EQ(DescribeEvaluation(cost_only, "latency@cpu"), "2.000 MFLOPs, 0.1000 M params, latency@cpu unknown");
  (*cost_only.mutable_latency_ms())["gpu"] = 1.5;
  (*cost_only.mutable_latency_ms())["cpu"] = 12.25;
  // Devices in name order whatever the map's order.
  EXPECT_EQ(DescribeEvaluation(cost_only, "latency@cpu"),
            "2.000 MFLOPs, 0.1000 M params, 12.25 ms on cpu, 1.5 ms on gpu");
}

TEST(ProgressTest, TrainingPrintsLoggedStepsOrRedrawsOneBar) {
  v1::TrainingProgress p;
  p.set_step(5);
  p.set_total_steps(10);
  p.set_epoch(0.5);
  p.set_loss(1.25);
  p.set_accuracy(0.5);
  p.set_images_per_second(321);
  p.set_eta_seconds(3725);
  EXPECT_EQ(FormatTrainingProgress(p), "step 5/10  epoch 0.50  loss 1.2500  acc 0.500  321 img/s  ETA 1h02m");

  std::ostringstream lines;
  {
    StreamProgress sink(lines, /*tty=*/false);
    sink.Training(p, /*log_line=*/false);  // Not a logged step: nothing.
    sink.Training(p, /*log_line=*/true);
    sink.Message("done");
  }
  EXPECT_EQ(lines.str(), FormatTrainingProgress(p) + "\ndone\n");

  std::ostringstream bar;
  {
    StreamProgress sink(bar, /*tty=*/true);
    sink.Training(p, false);
    sink.Training(p, false);  // Within 0.2 s of the last draw: skipped.
    p.set_step(10);
    sink.Training(p, false);  // The last step is always drawn.
  }
  const std::string text = bar.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 2) << text;
  EXPECT_NE(text.find("[############............] step 5/10"), std::string::npos) << text;
  EXPECT_NE(text.find("[########################] step 10/10"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');  // The bar is closed.
}

}  // namespace
}  // namespace nas::engine
