#ifndef NAS_NAS_ENGINE_FEWSHOT_JOB_H_
#define NAS_NAS_ENGINE_FEWSHOT_JOB_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nas/engine/progress.h"
#include "proto/nas.pb.h"

namespace nas::engine {

// Splitting a trained one-shot supernet into a few-shot supernet (supernet/few_shot.h):
// for each option of gene `gene`, a sub-supernet that starts from the one-shot weights and
// trains `steps` steps on paths with that option (the supernet's own config and sampler,
// learning rate `lr` with no warm-up). Each sub-supernet is an ordinary training run in
// out_dir/option_<k>; rerunning the job skips finished ones and resumes an interrupted
// one. out_dir/fewshot.json is written (atomically) only once all are finished; it is what
// `supernet:` evaluators, export and fine-tuning take in place of a checkpoint.
struct FewShotJob {
  std::string checkpoint;  // The trained one-shot supernet.
  int gene = 0;
  int64_t steps = 0;       // Per sub-supernet; required.
  double lr = 0;           // <= 0: the supernet config's learning rate.
  std::string out_dir;
  int64_t stop_after = -1;  // Stop (resumable) after this many training steps in all.
  torch::Device device = torch::kCPU;
  std::function<void(std::function<void()>)> register_stop;  // As TrainingJob's.
};

struct FewShotResult {
  bool finished = false;
  std::string manifest;  // out_dir/fewshot.json once finished.
  std::vector<v1::TrainingResult> children;  // Those trained or found finished so far.
};

absl::StatusOr<FewShotResult> RunFewShotJob(const FewShotJob& job, ProgressSink& progress);

// The checkpoint whose weights architecture `arch_text` ("largest", "smallest" or an
// architecture string) inherits from `path`: `path` itself for a checkpoint, its
// sub-supernet for a few-shot supernet. Errors name `field` (the architecture's).
absl::StatusOr<std::string> CheckpointFor(const std::string& path, const std::string& arch_text,
                                          const std::string& field);

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_FEWSHOT_JOB_H_
