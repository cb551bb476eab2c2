#ifndef NAS_SUPERNET_CHECKPOINT_H_
#define NAS_SUPERNET_CHECKPOINT_H_

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nas::supernet {

// A checkpoint file: "NASCKPT1", then three length-prefixed sections (JSON metadata,
// the module's parameters and buffers, the optimizer state, each in LibTorch's
// archive format), then a CRC-32 of everything before it. Written atomically.
struct CheckpointContents {
  nlohmann::json meta;
  std::string model;      // torch::serialize archive bytes.
  std::string optimizer;  // Empty when no optimizer was saved.
};

// `extra`: named tensors of trainer state that is not a weight, saved with the optimizer's
// (undefined tensors are left out).
absl::Status WriteCheckpoint(const std::string& path, const nlohmann::json& meta,
                             torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                             const std::vector<std::pair<std::string, torch::Tensor>>& extra = {});

// Reads and verifies a checkpoint. A missing file is NotFound; a truncated or
// corrupted one is DataLoss with a message saying what is wrong. Never crashes.
absl::StatusOr<CheckpointContents> ReadCheckpoint(const std::string& path);

// Loads saved module/optimizer state; a mismatch (other space or config) is
// InvalidArgument naming `path`.
absl::Status RestoreModule(const std::string& bytes, torch::nn::Module& model,
                           const std::string& path);
// Also reads each of `extra` that the checkpoint has (the others are left as they are).
absl::Status RestoreOptimizer(const std::string& bytes, torch::optim::Optimizer& optimizer,
                              const std::string& path,
                              const std::vector<std::pair<std::string, torch::Tensor*>>& extra = {});

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_CHECKPOINT_H_
