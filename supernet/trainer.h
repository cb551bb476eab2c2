#ifndef NAS_SUPERNET_TRAINER_H_
#define NAS_SUPERNET_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "supernet/data_loader.h"
#include "supernet/distributed.h"
#include "supernet/samplers.h"
#include "supernet/self_distillation.h"
#include "supernet/supernet.h"
#include "supernet/train_config.h"

namespace nas::supernet {

// Progress after one training step (primary rank only).
struct TrainProgress {
  int64_t step = 0;  // Steps done.
  int64_t total_steps = 0;
  double epoch = 0;
  double loss_ema = 0;
  double accuracy_ema = 0;       // Training accuracy (fraction).
  double images_per_second = 0;  // Median of the last 50 steps.
  double eta_seconds = 0;
  double learning_rate = 0;
  // With TrainOptions::validate_each_epoch: the trained path's validation accuracy
  // (fraction) on the steps that end an epoch and on the last step; else negative.
  double validation_accuracy = -1;
  bool log_line = false;  // A step that metrics.jsonl records (every training.log_every).
};

// What Run() did; also written as summary.json.
struct TrainSummary {
  int64_t steps = 0;
  int64_t total_steps = 0;
  bool finished = false;
  bool interrupted = false;
  int64_t steps_this_run = 0;
  int64_t resumed_from_step = 0;
  double seconds_this_run = 0;
  double median_images_per_second = 0;
  double end_to_end_images_per_second = 0;
  int threads = 0;
  int64_t batch_size = 0;
  double final_loss_ema = 0;
  double final_accuracy_ema = 0;
  std::string sampler;
  std::string checkpoint;
  int world_size = 0;  // 0: one process.
  int rank = 0;
  nlohmann::json ToJson() const;  // summary.json's fields.
};

struct TrainOptions {
  std::string out_dir;       // Checkpoint, metrics.jsonl and summary.json go here.
  bool resume = false;       // Continue from out_dir/checkpoint.nasckpt.
  // A fresh run starts from this checkpoint's weights (same space; not its optimizer state
  // or step): fine-tuning. Ignored when resuming.
  std::string init_from;
  // The supernet checkpoint a distilling config (TrainConfig::distillation) takes its
  // frozen teacher from.
  std::string teacher_checkpoint;
  int threads = 0;           // Intra-op threads; 0 keeps the calling thread's setting.
  torch::Device device = torch::kCPU;
  // Called after every step on the primary rank (drawing is the caller's business).
  std::function<void(const TrainProgress&)> on_step;
  // Status lines on the primary rank (search-space shrinking).
  std::function<void(const std::string&)> on_message;
  // Stop (checkpointing, as on an interruption) after this many steps of this run;
  // negative: run to the end. For tests and time-boxed runs.
  int64_t stop_after_steps = -1;
  // Data-parallel training (not owned; null: one process). Every rank samples the same
  // path(s) each step, takes its shard of the global batch, and the path's gradients are
  // averaged over ranks; only rank 0 writes checkpoints, metrics and the summary.
  Distributed* distributed = nullptr;
  // Each process's shard of the batch is split into this many micro-batches whose
  // gradients are accumulated (BN statistics per micro-batch, as per rank shard): one
  // process with M micro-batches computes what M processes with one each do.
  int micro_batches = 1;
  // Fine-tuning (the fixed sampler only): after every epoch and at the end, the trained
  // path is scored on the validation split with its own running BN statistics; written to
  // metrics.jsonl ({"step", "epoch", "validation_accuracy"}) and reported in TrainProgress.
  bool validate_each_epoch = false;
};

// Trains a weight-sharing supernet: one (or, for sandwich, several) sampled path(s) per
// step, SGD with momentum, warm-up then cosine/linear decay, label smoothing, optional
// gradient clipping. Parameters of choices not sampled in a step get no update at all:
// their gradients stay undefined, which LibTorch's SGD skips (no momentum drift, no
// weight decay). Not thread-safe, except RequestStop().
class Trainer {
 public:
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(TrainConfig config, TrainOptions options);

  // Trains to the end (or until stopped), checkpointing every `checkpoint_every` steps,
  // when stopped and at the end. Returns the run summary (also in summary.json).
  absl::StatusOr<TrainSummary> Run();
  // Asks Run() to checkpoint and return after the current step. Async-signal-safe.
  void RequestStop() { stop_requested_.store(true); }

  int64_t step() const { return step_; }
  int64_t total_steps() const { return total_steps_; }
  // The step at which TrainConfig::shrink shrinks the space; -1: never.
  int64_t shrink_step() const { return shrink_step_; }
  Supernet supernet() const { return net_; }
  PathSampler& sampler() { return *sampler_; }
  torch::optim::SGD& optimizer() { return *optimizer_; }
  const TrainConfig& config() const { return config_; }
  const DataSplits& data() const { return data_; }
  // Learning rate at `step`.
  double LearningRate(int64_t step) const;
  std::string checkpoint_path() const;

 private:
  Trainer(TrainConfig config, TrainOptions options) : config_(std::move(config)), options_(std::move(options)) {}
  absl::Status Init();
  void MakeOptimizer();
  absl::Status MakeSampler();  // From config_.sampler.
  // TrainConfig::shrink: scores random architectures, drops the worst options (ApplyShrink),
  // writes out_dir/shrink.json and checkpoints.
  absl::Status Shrink();
  // Excludes `dropped` from then on, with a fresh optimizer; `step`: where it happened.
  absl::Status ApplyShrink(const std::vector<std::string>& dropped, int64_t step);
  absl::Status SaveCheckpoint();
  absl::Status LoadCheckpoint();
  absl::Status LoadInitialWeights(const std::string& path);
  absl::Status LoadTeacher(const std::string& path);
  // Loads a checkpoint's weights of this config's space into `net` (`role` prefixes the
  // space-mismatch error, e.g. "the teacher ").
  absl::Status RestoreWeights(const std::string& path, SupernetImpl& net, const std::string& role);
  // Accuracy (fraction) of the fixed path on the validation split, eval-mode BN.
  double ValidationAccuracy();
  struct StepResult {
    double loss = 0;      // Of the first path, averaged over shards.
    double accuracy = 0;  // Likewise.
    bool stop = false;    // Some rank was asked to stop: all stop after this step.
  };
  // One optimisation step on `batch` (the global batch; this process takes its shard).
  absl::Status TrainStep(const Batch& batch, StepResult* result);
  bool primary() const { return options_.distributed == nullptr || options_.distributed->rank() == 0; }

  TrainConfig config_;
  TrainOptions options_;
  DataSplits data_;
  std::unique_ptr<BatchLoader> loader_;
  Supernet net_;
  Supernet teacher_;              // Frozen; set when distilling from a checkpoint.
  std::unique_ptr<EnsembleTargets> ensemble_;  // Set for `distillation: {teacher: ensemble}`.
  Architecture teacher_largest_;  // The teacher's path for `teacher: largest`.
  std::unique_ptr<torch::optim::SGD> optimizer_;
  std::unique_ptr<PathSampler> sampler_;
  std::vector<torch::Tensor> all_parameters_;
  int64_t step_ = 0;
  int64_t total_steps_ = 0;
  // TrainConfig::shrink: the step it happens (or, once shrunk_, happened) at; -1: never.
  int64_t shrink_step_ = -1;
  bool shrunk_ = false;
  std::vector<std::string> shrink_dropped_;
  std::vector<double> images_per_second_;  // One entry per step of this process.
  std::atomic<bool> stop_requested_{false};
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_TRAINER_H_
