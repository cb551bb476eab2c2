#include "search/supernet_evaluator.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "supernet/file_util.h"

namespace nas::search {

absl::StatusOr<std::unique_ptr<SupernetEvaluator>> SupernetEvaluator::Load(const std::string& checkpoint,
                                                                           torch::Device device,
                                                                           Options options) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(checkpoint);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<supernet::TrainedSupernet> trained = supernet::LoadTrainedSupernet(checkpoint, device);
  if (!trained.ok()) return trained.status();
  std::unique_ptr<SupernetEvaluator> e(new SupernetEvaluator());
  e->trained_ = *std::move(trained);
  supernet::EvaluationConfig& config = e->trained_.config.evaluation;
  if (options.calibration_batches >= 0) config.calibration_batches = options.calibration_batches;
  if (options.max_images >= 0) config.max_images = options.max_images;
  e->evaluator_ = supernet::MakeEvaluator(e->trained_, supernet::EvalSplit::kValidation, device);
  // FNV-1a over the whole file. (Not CRC-32: a checkpoint ends with its own CRC-32, so the
  // CRC-32 of the whole file is the same constant for every checkpoint.)
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : *bytes) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  e->id_ = absl::StrFormat("supernet:%016x-%d:val:cal%dx%d:spread%d", hash, bytes->size(),
                           config.calibration_batches, config.calibration_batch_size, config.max_images);
  return e;
}

absl::StatusOr<supernet::EvalResult> SupernetEvaluator::Evaluate(const supernet::Architecture& arch) const {
  return evaluator_->Evaluate(arch);
}

absl::StatusOr<double> SupernetEvaluator::Accuracy(const supernet::Architecture& arch) const {
  absl::StatusOr<supernet::EvalResult> r = evaluator_->Evaluate(arch);
  if (!r.ok()) return r.status();
  return 100.0 * r->accuracy;
}

}  // namespace nas::search
