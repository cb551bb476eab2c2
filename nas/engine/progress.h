#ifndef NAS_NAS_ENGINE_PROGRESS_H_
#define NAS_NAS_ENGINE_PROGRESS_H_

#include <chrono>
#include <ostream>
#include <string>

#include "proto/nas.pb.h"

namespace nas::engine {

// Where a job's progress goes: the CLI draws it (StreamProgress), the server turns it into
// the job record that WatchJob streams. Called on the job's thread; the defaults ignore.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // A status line ("loading supernet ...", "training nb201 on cifar10: ...").
  virtual void Message(const std::string& line) { (void)line; }
  // After each search generation.
  virtual void Search(const v1::SearchProgress& progress) { (void)progress; }
  // After each training step; `log_line` marks the steps metrics.jsonl records.
  virtual void Training(const v1::TrainingProgress& progress, bool log_line) {
    (void)progress;
    (void)log_line;
  }
};

// The text forms of progress events, shared by every sink that prints lines.
std::string FormatDuration(double seconds);  // "3m07s", "1h05m".
// "91.20 % at 12.345 MFLOPs, 0.1234 M params, 3.2 ms on cpu" (what is known of it);
// `primary_metric` (the first objective) is named as unknown when it is a latency the
// evaluation lacks.
std::string DescribeEvaluation(const v1::Evaluation& e, const std::string& primary_metric);

// Lines (each ending in a newline, indented by two spaces) describing a deployment
// bundle's checks, test accuracy per runtime and batch-1 latency.
std::string DescribeBundle(const v1::ExportSubnetResponse& r);
// "generation 3: 40/100 evaluated, best ..."
std::string FormatSearchProgress(const v1::SearchProgress& p);
// "step 40/100  epoch 0.20  loss 2.1234  acc 0.312  530 img/s  ETA 0m12s"
std::string FormatTrainingProgress(const v1::TrainingProgress& p);

// Lines to a stream (stderr of the CLI). On a terminal, training redraws one progress bar
// at most 5 times a second; otherwise it prints the steps metrics.jsonl records.
class StreamProgress : public ProgressSink {
 public:
  StreamProgress(std::ostream& out, bool tty) : out_(out), tty_(tty) {}
  ~StreamProgress() override;
  void Message(const std::string& line) override;
  void Search(const v1::SearchProgress& progress) override;
  void Training(const v1::TrainingProgress& progress, bool log_line) override;

 private:
  void EndBar();
  std::ostream& out_;
  const bool tty_;
  bool bar_open_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_PROGRESS_H_
