#include "supernet/trained_supernet.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "supernet/checkpoint.h"
#include "supernet/few_shot.h"

namespace nas::supernet {

absl::StatusOr<TrainedSupernet> LoadTrainedSupernet(const std::string& checkpoint,
                                                    torch::Device device, const DataSplits* data) {
  absl::StatusOr<CheckpointContents> contents = ReadCheckpoint(checkpoint);
  if (!contents.ok()) return contents.status();
  TrainedSupernet trained;
  trained.checkpoint = checkpoint;
  std::string config_yaml, source, space_yaml;
  try {
    config_yaml = contents->meta.at("config_yaml").get<std::string>();
    source = contents->meta.at("config_source").get<std::string>();
    space_yaml = contents->meta.at("space_yaml").get<std::string>();
    trained.step = contents->meta.at("step").get<int64_t>();
    trained.total_steps = contents->meta.at("total_steps").get<int64_t>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(checkpoint, ": bad metadata: ", e.what()));
  }
  std::string base = std::filesystem::path(source).parent_path().string();
  absl::StatusOr<TrainConfig> config =
      ParseTrainConfig(config_yaml, source, base.empty() ? "." : base, &space_yaml);
  if (!config.ok()) return config.status();
  trained.config = *std::move(config);
  try {
    // Options that search-space shrinking dropped during training join sampler.exclude:
    // the options the supernet's last phase did not train.
    if (contents->meta.contains("shrink")) {
      for (const auto& option : contents->meta.at("shrink").at("dropped")) {
        trained.config.sampler.exclude.push_back(option.get<std::string>());
      }
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(checkpoint, ": bad shrink metadata: ", e.what()));
  }
  trained.net = CreateSupernet(trained.config.space, trained.config.supernet);
  if (absl::Status s = RestoreModule(contents->model, *trained.net, checkpoint); !s.ok()) return s;
  trained.net->ApplyMemoryFormat();
  trained.net->to(device);
  trained.net->eval();
  if (data != nullptr) {
    trained.data = *data;
    return trained;
  }
  absl::StatusOr<DataSplits> loaded = LoadData(trained.config);
  if (!loaded.ok()) return loaded.status();
  trained.data = *std::move(loaded);
  return trained;
}

absl::StatusOr<std::shared_ptr<const SearchSpace>> ReadCheckpointSpace(const std::string& checkpoint) {
  std::string path = checkpoint;
  if (IsFewShotPath(checkpoint)) {
    absl::StatusOr<FewShotManifest> manifest = ReadFewShotManifest(checkpoint);
    if (!manifest.ok()) return manifest.status();
    if (manifest->children.empty()) return absl::DataLossError(absl::StrCat(checkpoint, ": no sub-supernets"));
    path = manifest->children.front().checkpoint;
  }
  absl::StatusOr<CheckpointContents> contents = ReadCheckpoint(path);
  if (!contents.ok()) return contents.status();
  std::string space_yaml;
  try {
    space_yaml = contents->meta.at("space_yaml").get<std::string>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": bad metadata: ", e.what()));
  }
  return ParseSearchSpace(space_yaml, path);
}

std::vector<int64_t> SpreadSubset(std::vector<int64_t> indices, int64_t max_images) {
  const int64_t n = static_cast<int64_t>(indices.size());
  if (max_images <= 0 || n <= max_images) return indices;
  std::vector<int64_t> subset(max_images);
  for (int64_t i = 0; i < max_images; ++i) subset[i] = indices[i * n / max_images];
  return subset;
}

std::unique_ptr<Evaluator> MakeEvaluator(const TrainedSupernet& trained, EvalSplit split,
                                         torch::Device device) {
  const EvaluationConfig& e = trained.config.evaluation;
  // Calibration batches: training images without augmentation, in a seeded order.
  BatchLoader calibration(trained.data.train_set, trained.data.train_indices,
                          e.calibration_batch_size, AugmentOptions{}, /*shuffle=*/true,
                          trained.config.training.seed ^ 0xca11b7a7eULL);
  std::vector<int64_t> test_indices;
  if (split == EvalSplit::kTest) {
    test_indices.resize(trained.data.test_set->size());
    for (size_t i = 0; i < test_indices.size(); ++i) test_indices[i] = static_cast<int64_t>(i);
  }
  std::vector<int64_t> indices =
      split == EvalSplit::kTest ? std::move(test_indices) : trained.data.validation_indices;
  indices = SpreadSubset(std::move(indices), e.max_images);
  BatchLoader evaluation(split == EvalSplit::kTest ? trained.data.test_set : trained.data.train_set, indices,
                         e.batch_size, AugmentOptions{}, /*shuffle=*/false, 0);
  return std::make_unique<Evaluator>(trained.net, calibration, e.calibration_batches, evaluation,
                                     device);
}

}  // namespace nas::supernet
