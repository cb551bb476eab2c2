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
  const supernet::SearchSpace& space() const { return *trained_.config.space; }
  const supernet::TrainedSupernet& trained() const { return trained_; }

 private:
  SupernetEvaluator() = default;
  supernet::TrainedSupernet trained_;
  std::unique_ptr<supernet::Evaluator> evaluator_;
  std::string id_;
};

}  // namespace nas::search

#endif  // NAS_SEARCH_SUPERNET_EVALUATOR_H_
