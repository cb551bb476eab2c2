#ifndef NAS_SUPERNET_DATA_LOADER_H_
#define NAS_SUPERNET_DATA_LOADER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "supernet/datasets.h"

namespace nas::supernet {

struct AugmentOptions {
  bool random_crop = false;  // Zero-pad by `padding`, then crop back at a random offset.
  int64_t padding = 4;
  bool horizontal_flip = false;  // With probability 1/2.
};

struct Batch {
  torch::Tensor images;  // float32 [B, C, H, W], normalized.
  torch::Tensor labels;  // int64 [B].
  torch::Tensor indices;  // int64 [B]: each image's index in the dataset.
};

// Splits [0, n) into a held-out validation part of `validation_size` images and a
// training part of the rest (at most `train_limit` when positive), by a permutation
// seeded with `seed`. Both parts come back sorted.
void SplitIndices(int64_t n, int64_t validation_size, int64_t train_limit, uint64_t seed,
                  std::vector<int64_t>* train, std::vector<int64_t>* validation);

// Deterministic batches over a subset of a dataset: batch b of epoch e depends only on
// (seed, e, b), so training resumes onto exactly the same data. Augmentation and
// normalization run in parallel over the batch with oneTBB. Thread-safe.
class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const ImageDataset> data, std::vector<int64_t> indices,
              int64_t batch_size, AugmentOptions augment, bool shuffle, uint64_t seed);

  // Full batches per epoch when shuffling (the last partial batch is dropped);
  // otherwise every batch, the last one possibly smaller.
  int64_t batches_per_epoch() const;
  int64_t size() const { return static_cast<int64_t>(indices_.size()); }
  Batch Get(int64_t epoch, int64_t batch) const;

 private:
  std::vector<int64_t> Order(int64_t epoch) const;

  std::shared_ptr<const ImageDataset> data_;
  std::vector<int64_t> indices_;
  int64_t batch_size_;
  AugmentOptions augment_;
  bool shuffle_;
  uint64_t seed_;
  mutable std::mutex mu_;
  mutable int64_t cached_epoch_ = -1;          // Guarded by mu_.
  mutable std::vector<int64_t> cached_order_;  // Guarded by mu_.
};

// Builds the batches of global steps [first, last) in a background thread, a few
// steps ahead of the trainer. Not thread-safe: one consumer.
class Prefetcher {
 public:
  Prefetcher(const BatchLoader& loader, int64_t first_step, int64_t last_step, int depth = 2);
  ~Prefetcher();
  Batch Next();

 private:
  const BatchLoader& loader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;  // Guarded by mu_.
  bool stop_ = false;        // Guarded by mu_.
  int depth_;
  std::thread worker_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_DATA_LOADER_H_
