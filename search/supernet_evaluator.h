#ifndef NAS_SEARCH_SUPERNET_EVALUATOR_H_
#define NAS_SEARCH_SUPERNET_EVALUATOR_H_

#include <memory>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "search/evaluator.h"
#include "supernet/evaluator.h"
#include "supernet/trained_supernet.h"

namespace nas::search {

// Accuracy with weights inherited from a trained supernet: BN statistics recalibrated for
// each architecture, then top-1 accuracy (percent) on the validation split, which training
// never saw. The identity names a hash of the checkpoint file's bytes and the evaluation
// settings, so archived results are reused only for the very same weights and protocol.
// `checkpoint` may also be a few-shot supernet (supernet/few_shot.h: its folder or its
// fewshot.json): each architecture is then evaluated by the sub-supernet of its option of
// the split gene, and the identity hashes every sub-supernet's checkpoint.
class SupernetEvaluator : public AccuracyEvaluator {
 public:
  struct Options {
    int64_t calibration_batches = -1;  // -1: the checkpoint config's evaluation settings.
    int64_t max_images = -1;
  };
  static absl::StatusOr<std::unique_ptr<SupernetEvaluator>> Load(const std::string& checkpoint,
                                                                 torch::Device device, Options options);
  std::string id() const override { return id_; }
  absl::StatusOr<double> Accuracy(const supernet::Architecture& arch) const override;
  // Validation loss and accuracy of one architecture (the same protocol as Accuracy).
  absl::StatusOr<supernet::EvalResult> Evaluate(const supernet::Architecture& arch) const;
  const supernet::SearchSpace& space() const { return *trained().config.space; }
  // The (first) trained supernet: its config, space and data.
  const supernet::TrainedSupernet& trained() const { return parts_.front().trained; }
  // The supernet whose weights `arch` inherits (its sub-supernet, for a few-shot one).
  const supernet::TrainedSupernet& TrainedFor(const supernet::Architecture& arch) const {
    return PartFor(arch).trained;
  }
  bool few_shot() const { return split_gene_ >= 0; }
  // The same weights and data evaluated on `max_images` validation images (0: all), e.g.
  // to re-rank a search's best more precisely; nothing is loaded again.
  std::unique_ptr<SupernetEvaluator> WithImages(int64_t max_images) const;
  // The same weights and data with the cells repeated to `cells_per_stage` per stage
  // (supernet::RepeatCells; cell-based spaces only): each architecture scored stacked as
  // deep as that. Its space(), costs and architecture strings stay the trained supernet's.
  absl::StatusOr<std::unique_ptr<SupernetEvaluator>> WithCellsPerStage(int cells_per_stage) const;

 private:
  struct Part {
    supernet::TrainedSupernet trained;
    std::unique_ptr<supernet::Evaluator> evaluator;
  };
  SupernetEvaluator() = default;
  const Part& PartFor(const supernet::Architecture& arch) const;
  // A copy on `max_images` validation images with the cells repeated to `cells_per_stage`
  // (a new network only when that differs from this one's).
  absl::StatusOr<std::unique_ptr<SupernetEvaluator>> Derive(int64_t max_images, int cells_per_stage) const;
  // Sets id_ from the checkpoints' hashes and the evaluation settings.
  void SetId();
  std::vector<Part> parts_;  // One, or one per option of split_gene_.
  int split_gene_ = -1;
  std::string hashes_;
  int cells_per_stage_ = 0;  // Cells repeated to this many per stage; 0: as trained.
  torch::Device device_ = torch::kCPU;
  std::string id_;
};

}  // namespace nas::search

#endif  // NAS_SEARCH_SUPERNET_EVALUATOR_H_
