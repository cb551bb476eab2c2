#ifndef NAS_SUPERNET_EVALUATOR_H_
#define NAS_SUPERNET_EVALUATOR_H_

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "supernet/data_loader.h"
#include "supernet/supernet.h"

namespace nas::supernet {

struct EvalResult {
  double loss = 0;      // Mean cross-entropy (no label smoothing).
  double accuracy = 0;  // Top-1, in [0, 1].
  int64_t images = 0;
};

// Scores architectures with inherited weights: BN statistics re-estimated on a few
// training batches (SPOS's recalibration), then loss and accuracy on an evaluation
// set. The batches are built once, at construction. Thread-safe: Evaluate may run
// concurrently for different architectures (the supernet is only read).
class Evaluator {
 public:
  // `calibration`: the first `calibration_batches` batches of its epoch 0 are used.
  Evaluator(Supernet supernet, const BatchLoader& calibration, int64_t calibration_batches,
            const BatchLoader& evaluation, torch::Device device);

  // Recalibrates BN for `arch` into `stats`.
  absl::Status Calibrate(const Architecture& arch, BnStatistics* stats) const;
  // Calibrates, then evaluates. When `stats_out` is given it receives the statistics.
  absl::StatusOr<EvalResult> Evaluate(const Architecture& arch,
                                      BnStatistics* stats_out = nullptr) const;
  // Records the static activation ranges of `arch` (QuantCalibration::kRecord) on the
  // calibration batches, with BN statistics `stats` (from Calibrate; only read); leaves `quant` in
  // kApply mode.
  absl::Status CalibrateQuantization(const Architecture& arch, BnStatistics* stats,
                                     QuantCalibration* quant) const;
  // Calibrates BN and the activation ranges, then evaluates with the static ranges (what
  // an integer deployment computes). `quant` receives the ranges.
  absl::StatusOr<EvalResult> EvaluateCalibrated(const Architecture& arch, QuantCalibration* quant) const;
  // Evaluates a stand-alone (extracted) network with its own running statistics.
  EvalResult EvaluateStandalone(SupernetImpl& subnet, const Architecture& arch) const;

 private:
  EvalResult Score(SupernetImpl& net, const Architecture& arch, BnStatistics* stats,
                   QuantCalibration* quant = nullptr) const;

  Supernet supernet_;
  torch::Device device_;
  std::vector<torch::Tensor> calibration_images_;
  std::vector<Batch> evaluation_batches_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_EVALUATOR_H_
