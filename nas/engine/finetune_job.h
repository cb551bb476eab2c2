#ifndef NAS_NAS_ENGINE_FINETUNE_JOB_H_
#define NAS_NAS_ENGINE_FINETUNE_JOB_H_

#include <cstdint>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nas/engine/progress.h"
#include "proto/nas.pb.h"

namespace nas::engine {

// Fine-tuning one architecture of a trained supernet: its stand-alone subnet is trained
// (the supernet's fixed path: the weights of other paths get no gradient), initialised
// from the supernet's weights unless from_scratch, with the supernet's data and the
// training, optimizer and schedule sections of `config_path`; then its deployment bundle
// is written to out_dir/bundle and scored on the test set.
struct FineTuneJob {
  std::string checkpoint;   // The trained supernet.
  std::string arch;         // Architecture string, or "largest" / "smallest".
  std::string config_path;  // Fine-tuning YAML (configs/finetune_*.yaml); "": the supernet's own sections.
  bool from_scratch = false;
  int64_t steps = 0;        // Overrides training.steps when positive.
  std::string out_dir;      // checkpoint.nasckpt, metrics.jsonl, summary.json, bundle/.
  bool resume = false;
  int64_t stop_after = -1;  // Checkpoint and stop after this many steps of this run (no bundle).
  int64_t verify_images = 0;  // Test images the bundle is scored on (0: all).
  torch::Device device = torch::kCPU;
  // As TrainingJob::register_stop.
  std::function<void(std::function<void()>)> register_stop;
  // Polled between the export's steps; true abandons the bundle.
  std::function<bool()> cancelled;
};

absl::StatusOr<v1::FineTuneResult> RunFineTuneJob(const FineTuneJob& job, ProgressSink& progress);

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_FINETUNE_JOB_H_
