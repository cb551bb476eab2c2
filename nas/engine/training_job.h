#ifndef NAS_NAS_ENGINE_TRAINING_JOB_H_
#define NAS_NAS_ENGINE_TRAINING_JOB_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nas/engine/progress.h"
#include "proto/nas.pb.h"
#include "supernet/distributed.h"
#include "supernet/train_config.h"

namespace nas::engine {

// A supernet training job: a training config with optional overrides.
struct TrainingJob {
  std::string config_path;  // Training config YAML (unless `config` is set).
  std::optional<supernet::TrainConfig> config;  // An already built config.
  std::string init_from;    // A fresh run starts from this checkpoint's weights.
  std::string teacher_checkpoint;  // The teacher of a distilling config.
  bool validate_each_epoch = false;  // Fine-tuning: validation accuracy per epoch.
  int64_t steps = 0;        // Overrides training.steps when positive.
  int64_t batch_size = 0;   // Overrides training.batch_size when positive.
  std::string out_dir;      // Checkpoint, metrics.jsonl, summary.json.
  bool resume = false;      // Continue from out_dir's checkpoint.
  int64_t stop_after = -1;  // Checkpoint and stop after this many steps of this run.
  int micro_batches = 1;
  supernet::Distributed* distributed = nullptr;  // Not owned; null: one process.
  torch::Device device = torch::kCPU;
  // Called with a function that asks the run to checkpoint and stop (callable from any
  // thread, async-signal-safe) once training starts, and with nullptr when it ends.
  std::function<void(std::function<void()>)> register_stop;
};

// Trains to the end, or until stopped (then resumable). Errors name the job's fields.
absl::StatusOr<v1::TrainingResult> RunTrainingJob(const TrainingJob& job, ProgressSink& progress);

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_TRAINING_JOB_H_
