#include "search/supernet_evaluator.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "supernet/few_shot.h"
#include "supernet/file_util.h"

namespace nas::search {
namespace {

bool SameData(const supernet::TrainConfig& a, const supernet::TrainConfig& b) {
  return a.data.dataset == b.data.dataset && a.data.path == b.data.path && a.data.test_path == b.data.test_path &&
         a.data.validation_size == b.data.validation_size && a.data.train_limit == b.data.train_limit &&
         a.training.seed == b.training.seed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SupernetEvaluator>> SupernetEvaluator::Load(const std::string& checkpoint,
                                                                           torch::Device device,
                                                                           Options options) {
  std::vector<std::string> checkpoints = {checkpoint};
  std::unique_ptr<SupernetEvaluator> e(new SupernetEvaluator());
  if (supernet::IsFewShotPath(checkpoint)) {
    absl::StatusOr<supernet::FewShotManifest> manifest = supernet::ReadFewShotManifest(checkpoint);
    if (!manifest.ok()) return manifest.status();
    checkpoints.clear();
    for (const supernet::FewShotManifest::Child& c : manifest->children) checkpoints.push_back(c.checkpoint);
    e->split_gene_ = manifest->gene;
  }
  std::string hashes;
  for (const std::string& path : checkpoints) {
    absl::StatusOr<std::string> hash = FileHash(path);
    if (!hash.ok()) return hash.status();
    absl::StrAppend(&hashes, hashes.empty() ? "" : "+", *hash);
    const supernet::DataSplits* data = nullptr;
    if (!e->parts_.empty()) data = &e->parts_.front().trained.data;
    absl::StatusOr<supernet::TrainedSupernet> trained = supernet::LoadTrainedSupernet(path, device, data);
    if (!trained.ok()) return trained.status();
    if (!e->parts_.empty()) {
      const supernet::TrainConfig& first = e->parts_.front().trained.config;
      if (first.space_yaml != trained->config.space_yaml) {
        return absl::InvalidArgumentError(absl::StrCat(checkpoint, ": sub-supernet ", path,
                                                       " is of another search space than ", checkpoints[0]));
      }
      if (!SameData(first, trained->config)) {  // Then it needs its own data (not expected).
        trained = supernet::LoadTrainedSupernet(path, device);
        if (!trained.ok()) return trained.status();
      }
    }
    supernet::EvaluationConfig& config = trained->config.evaluation;
    if (options.calibration_batches >= 0) config.calibration_batches = options.calibration_batches;
    if (options.max_images >= 0) config.max_images = options.max_images;
    Part part{*std::move(trained), nullptr};
    part.evaluator = supernet::MakeEvaluator(part.trained, supernet::EvalSplit::kValidation, device);
    e->parts_.push_back(std::move(part));
  }
  if (e->few_shot()) {
    const supernet::SearchSpace& space = *e->trained().config.space;
    if (e->split_gene_ >= static_cast<int>(space.genes().size()) ||
        space.genes()[e->split_gene_].options.size() != e->parts_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(checkpoint, ": gene ", e->split_gene_, " of space ", space.name(),
                                                     " does not have ", e->parts_.size(), " options"));
    }
  }
  e->hashes_ = hashes;
  e->device_ = device;
  e->SetId();
  return e;
}

void SupernetEvaluator::SetId() {
  const supernet::EvaluationConfig& config = trained().config.evaluation;
  id_ = absl::StrFormat("%s:%s:val:cal%dx%d:spread%d", few_shot() ? "fewshot" : "supernet", hashes_,
                        config.calibration_batches, config.calibration_batch_size, config.max_images);
  if (cells_per_stage_ > 0) absl::StrAppend(&id_, ":cells", cells_per_stage_);
}

absl::StatusOr<std::unique_ptr<SupernetEvaluator>> SupernetEvaluator::Derive(
    int64_t max_images, int cells_per_stage) const {
  std::unique_ptr<SupernetEvaluator> e(new SupernetEvaluator());
  for (const Part& part : parts_) {
    Part copy{part.trained, nullptr};  // Shares the weights and the loaded images.
    copy.trained.config.evaluation.max_images = max_images;
    if (cells_per_stage != cells_per_stage_) {  // A new network with the cells repeated.
      absl::StatusOr<supernet::Supernet> deep = supernet::RepeatCells(*part.trained.net, cells_per_stage);
      if (!deep.ok()) {
        return absl::Status(deep.status().code(), absl::StrCat(part.trained.checkpoint, ": ", deep.status().message()));
      }
      copy.trained.net = *std::move(deep);
    }
    copy.evaluator = supernet::MakeEvaluator(copy.trained, supernet::EvalSplit::kValidation, device_);
    e->parts_.push_back(std::move(copy));
  }
  e->split_gene_ = split_gene_;
  e->hashes_ = hashes_;
  e->cells_per_stage_ = cells_per_stage;
  e->device_ = device_;
  e->SetId();
  return e;
}

absl::StatusOr<std::unique_ptr<SupernetEvaluator>> SupernetEvaluator::WithCellsPerStage(int cells_per_stage) const {
  return Derive(trained().config.evaluation.max_images, cells_per_stage);
}

std::unique_ptr<SupernetEvaluator> SupernetEvaluator::WithImages(int64_t max_images) const {
  return *Derive(max_images, cells_per_stage_);  // Cannot fail: the same networks.
}

const SupernetEvaluator::Part& SupernetEvaluator::PartFor(const supernet::Architecture& arch) const {
  if (split_gene_ < 0) return parts_.front();
  return parts_.at(static_cast<size_t>(arch.genes.at(static_cast<size_t>(split_gene_))));
}

absl::StatusOr<supernet::EvalResult> SupernetEvaluator::Evaluate(const supernet::Architecture& arch) const {
  return PartFor(arch).evaluator->Evaluate(arch);
}

absl::StatusOr<double> SupernetEvaluator::Accuracy(const supernet::Architecture& arch) const {
  absl::StatusOr<supernet::EvalResult> r = Evaluate(arch);
  if (!r.ok()) return r.status();
  return 100.0 * r->accuracy;
}

}  // namespace nas::search
