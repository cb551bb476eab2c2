#ifndef NAS_SUPERNET_DISTRIBUTED_H_
#define NAS_SUPERNET_DISTRIBUTED_H_

// Data-parallel training over PyTorch's own distributed engine, c10d with the Gloo
// backend (TCPStore rendezvous). docs/distributed.md describes launching.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nas::supernet {

struct DistributedOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Bound on rendezvous and on every collective: a rank that died or hangs makes the
  // others fail with an error within this time instead of waiting forever.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

// Reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (the names PyTorch's launcher uses);
// world size 1 when WORLD_SIZE is unset. Errors name the variable.
absl::StatusOr<DistributedOptions> DistributedOptionsFromEnvironment();

// One process's membership in a process group. Collectives return Unavailable (naming
// this rank and the operation) when a peer is gone or the timeout passes.
class Distributed {
 public:
  static absl::StatusOr<std::unique_ptr<Distributed>> Connect(const DistributedOptions& options);
  ~Distributed();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }

  // Averages over ranks the gradients of those `params` that have one (the sampled path's;
  // the same set on every rank), flattened into buckets of at most `bucket_bytes`.
  absl::Status AverageGradients(const std::vector<torch::Tensor>& params, size_t bucket_bytes = 25u << 20);
  // Averages `values` over ranks, in place.
  absl::Status AverageValues(std::vector<double>* values);
  // Copies rank `root`'s tensors into every rank's (same shapes), in place.
  absl::Status Broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
  // Gathers one double per item from every rank: rank r contributes `local`, holding the
  // values of items r, r + W, r + 2W, ... of `count` items; returns all `count` in order.
  absl::StatusOr<std::vector<double>> GatherStrided(const std::vector<double>& local, size_t count);
  absl::Status Barrier();

 private:
  explicit Distributed(DistributedOptions options);
  struct Impl;
  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_DISTRIBUTED_H_
