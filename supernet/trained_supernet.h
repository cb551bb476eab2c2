#ifndef NAS_SUPERNET_TRAINED_SUPERNET_H_
#define NAS_SUPERNET_TRAINED_SUPERNET_H_

#include <memory>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "supernet/evaluator.h"
#include "supernet/train_config.h"

namespace nas::supernet {

// A supernet restored from a training checkpoint, with the config and data it was
// trained on (the checkpoint embeds the config and the search space). Options that
// search-space shrinking dropped are in config.sampler.exclude, with sampler.exclude's own.
struct TrainedSupernet {
  std::string checkpoint;
  TrainConfig config;
  Supernet net;
  int64_t step = 0;
  int64_t total_steps = 0;
  DataSplits data;
};

// `data` (optional): the splits to use instead of loading the config's data again (the
// caller's, of a checkpoint with the same data config and seed: few-shot sub-supernets).
absl::StatusOr<TrainedSupernet> LoadTrainedSupernet(const std::string& checkpoint,
                                                    torch::Device device, const DataSplits* data = nullptr);

// The search space a checkpoint (or a few-shot folder: its first sub-supernet) was trained
// on, read from its metadata without building the network or loading data.
absl::StatusOr<std::shared_ptr<const SearchSpace>> ReadCheckpointSpace(const std::string& checkpoint);

// At most `max_images` of `indices`, evenly spread over them (every (n/max)-th), so that a
// subset of a class-ordered dataset (CIFAR-10's files are) keeps every class; all when
// `max_images` <= 0.
std::vector<int64_t> SpreadSubset(std::vector<int64_t> indices, int64_t max_images);

enum class EvalSplit { kValidation, kTest };

// An evaluator over the validation split (held out of training; for search decisions)
// or the test set (for reporting only), with BN recalibrated on training batches.
std::unique_ptr<Evaluator> MakeEvaluator(const TrainedSupernet& trained, EvalSplit split,
                                         torch::Device device);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_TRAINED_SUPERNET_H_
