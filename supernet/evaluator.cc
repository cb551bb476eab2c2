#include "supernet/evaluator.h"

#include "absl/strings/str_cat.h"

namespace nas::supernet {

Evaluator::Evaluator(Supernet supernet, const BatchLoader& calibration,
                     int64_t calibration_batches, const BatchLoader& evaluation,
                     torch::Device device)
    : supernet_(std::move(supernet)), device_(device) {
  const int64_t k = std::min(calibration_batches, calibration.batches_per_epoch());
  for (int64_t b = 0; b < k; ++b) calibration_images_.push_back(calibration.Get(0, b).images.to(device_));
  for (int64_t b = 0; b < evaluation.batches_per_epoch(); ++b) {
    Batch batch = evaluation.Get(0, b);
    evaluation_batches_.push_back(Batch{batch.images.to(device_), batch.labels.to(device_)});
  }
}

absl::Status Evaluator::Calibrate(const Architecture& arch, BnStatistics* stats) const {
  if (absl::Status s = supernet_->space().Validate(arch); !s.ok()) return s;
  torch::NoGradGuard no_grad;
  ForwardContext ctx{BnMode::kCalibrate, stats};
  try {
    for (const torch::Tensor& images : calibration_images_) supernet_->Forward(images, arch, ctx);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("BN recalibration failed: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status Evaluator::CalibrateQuantization(const Architecture& arch, BnStatistics* stats,
                                              QuantCalibration* quant) const {
  if (absl::Status s = supernet_->space().Validate(arch); !s.ok()) return s;
  torch::NoGradGuard no_grad;
  quant->mode = QuantCalibration::Mode::kRecord;
  try {
    for (const torch::Tensor& images : calibration_images_) {
      ForwardContext ctx{BnMode::kEval, stats};
      ctx.quant = quant;
      supernet_->Forward(images, arch, ctx);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("activation range calibration failed: ", e.what_without_backtrace()));
  }
  if (quant->convs().empty()) return absl::FailedPreconditionError("activation range calibration saw no batches");
  quant->mode = QuantCalibration::Mode::kApply;
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Evaluator::EvaluateCalibrated(const Architecture& arch, QuantCalibration* quant) const {
  BnStatistics stats;
  if (absl::Status s = Calibrate(arch, &stats); !s.ok()) return s;
  if (absl::Status s = CalibrateQuantization(arch, &stats, quant); !s.ok()) return s;
  try {
    return Score(*supernet_, arch, &stats, quant);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("evaluation failed: ", e.what_without_backtrace()));
  }
}

EvalResult Evaluator::Score(SupernetImpl& net, const Architecture& arch, BnStatistics* stats,
                            QuantCalibration* quant) const {
  torch::NoGradGuard no_grad;
  EvalResult result;
  double loss_sum = 0;
  int64_t correct = 0;
  for (const Batch& batch : evaluation_batches_) {
    ForwardContext ctx{BnMode::kEval, stats};
    ctx.quant = quant;
    const torch::Tensor logits = net.Forward(batch.images, arch, ctx);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch.labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
    result.images += batch.labels.size(0);
  }
  if (result.images > 0) {
    result.loss = loss_sum / result.images;
    result.accuracy = static_cast<double>(correct) / result.images;
  }
  return result;
}

absl::StatusOr<EvalResult> Evaluator::Evaluate(const Architecture& arch,
                                               BnStatistics* stats_out) const {
  BnStatistics local;
  BnStatistics* stats = stats_out != nullptr ? stats_out : &local;
  if (absl::Status s = Calibrate(arch, stats); !s.ok()) return s;
  try {
    return Score(*supernet_, arch, stats);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("evaluation failed: ", e.what_without_backtrace()));
  }
}

EvalResult Evaluator::EvaluateStandalone(SupernetImpl& subnet, const Architecture& arch) const {
  return Score(subnet, arch, nullptr);
}

}  // namespace nas::supernet
