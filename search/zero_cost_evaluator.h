#ifndef NAS_SEARCH_ZERO_COST_EVALUATOR_H_
#define NAS_SEARCH_ZERO_COST_EVALUATOR_H_

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "search/combined_evaluator.h"
#include "search/archive.h"
#include "search/evaluator.h"
#include "search/evaluator_spec.h"
#include "supernet/train_config.h"
#include "supernet/zero_cost.h"

namespace nas::search {

struct ZeroCostOptions {
  int64_t batch_size = 64;  // Training images per proxy evaluation.
  uint64_t seed = 0;        // Weight initialisation and the choice of the images.
  int repeats = 1;          // Independent draws (initialisation and batch) averaged.
  // The evaluator id's suffix for these options (":b64:s0", ":b64:s0:r3").
  std::string IdSuffix() const;
};

// Scores a proxy as the mean over `repeats` independent draws: draw i is an untrained
// supernet initialised with seed + i and one batch of training images chosen with it.
// One draw (the default) is exactly ZeroCostScorer. Thread-safe like ZeroCostScorer.
class ZeroCostEnsemble {
 public:
  explicit ZeroCostEnsemble(std::vector<std::shared_ptr<const supernet::ZeroCostScorer>> draws)
      : draws_(std::move(draws)) {}
  absl::StatusOr<double> Score(supernet::ZeroCostProxy proxy, const supernet::Architecture& arch) const;
  size_t draws() const { return draws_.size(); }

 private:
  std::vector<std::shared_ptr<const supernet::ZeroCostScorer>> draws_;
};

// The ensemble over untrained supernets of `config`'s space with batches of `data`'s
// training images (no augmentation).
absl::StatusOr<std::shared_ptr<const ZeroCostEnsemble>> MakeZeroCostScorer(const supernet::TrainConfig& config,
                                                                           const supernet::DataSplits& data,
                                                                           torch::Device device,
                                                                           const ZeroCostOptions& options);

// One proxy as the accuracy signal (its raw score: higher is better, not a percent).
class ZeroCostEvaluator : public AccuracyEvaluator {
 public:
  ZeroCostEvaluator(std::shared_ptr<const ZeroCostEnsemble> scorer, supernet::ZeroCostProxy proxy, std::string id)
      : scorer_(std::move(scorer)), proxy_(proxy), id_(std::move(id)) {}
  std::string id() const override { return id_; }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override {
    return scorer_->Score(proxy_, arch);
  }

 private:
  std::shared_ptr<const ZeroCostEnsemble> scorer_;
  supernet::ZeroCostProxy proxy_;
  std::string id_;
};

struct ModelEvaluatorOptions {
  int64_t calibration_batches = -1;  // Supernet items: -1 keeps the checkpoint's settings.
  int64_t eval_images = -1;
  ZeroCostOptions zero_cost;
  uint64_t reference_seed = 0;  // combo: the reference sample.
  // >= 0: also build LoadedEvaluator::rerank, the combination with its supernet items
  // scored on this many validation images (0: all), percentiles among the same reference
  // scores. Needs a combo: with a supernet item.
  int64_t rerank_images = -1;
  // combo: when set, each supernet and zero-cost item's raw scores are kept in (and read
  // from) this archive under the item's own identity, so the reference sample and any
  // architecture already scored are not scored again by a later search (another bound,
  // other weights) with the same items. Not owned; must outlive the evaluator.
  EvaluationArchive* archive = nullptr;
  // combo: polled while the reference sample is scored; true stops it (CANCELLED). The
  // item scores already paid are in `archive`, so a rerun goes on from there.
  std::function<bool()> should_stop;
};

struct LoadedEvaluator {
  std::shared_ptr<const supernet::SearchSpace> space;
  std::unique_ptr<AccuracyEvaluator> evaluator;
  std::unique_ptr<AccuracyEvaluator> rerank;  // With ModelEvaluatorOptions::rerank_images.
  // Options some supernet item's last training phase did not train (its sampler.exclude,
  // and what search-space shrinking dropped).
  std::vector<std::string> untrained_options;
};

// Builds the evaluator of a `zc:` or `combo:` spec (evaluator_spec.h). Every item must
// be over the same space (architecture strings of the same space name). Progress lines
// (loading, reference sample) go to `log`.
absl::StatusOr<LoadedEvaluator> LoadModelEvaluator(const std::string& spec, const std::string& field,
                                                   torch::Device device, const ModelEvaluatorOptions& options,
                                                   std::ostream& log);

}  // namespace nas::search

#endif  // NAS_SEARCH_ZERO_COST_EVALUATOR_H_
