#ifndef NAS_SUPERNET_TRAIN_CONFIG_H_
#define NAS_SUPERNET_TRAIN_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "supernet/data_loader.h"
#include "supernet/samplers.h"
#include "supernet/shrinking.h"
#include "supernet/search_space.h"
#include "supernet/supernet.h"

namespace nas::supernet {

struct DataConfig {
  std::string dataset = "fashion_mnist";  // fashion_mnist | cifar10 | image_folder
  std::string path;        // Directory (fashion_mnist, image_folder) or archive (cifar10).
  std::string test_path;   // image_folder: optional folder of test images.
  std::string cache_dir;   // Decoded-dataset cache (cifar10).
  int64_t validation_size = 5000;  // Held out of the training images for search.
  int64_t train_limit = 0;         // Use only the first N training images (0: all).
  AugmentOptions augment;
};

struct OptimizerConfig {
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 4e-5;  // Not applied to BN parameters and biases.
  double label_smoothing = 0.1;
  double grad_clip_norm = 0;   // 0: no clipping.
};

struct ScheduleConfig {
  std::string kind = "cosine";  // cosine | linear | constant, after warm-up.
  int64_t warmup_steps = 0;
  double min_lr = 0;
};

struct TrainingConfig {
  uint64_t seed = 0;
  int64_t batch_size = 128;
  int64_t epochs = 1;  // Used when steps is 0.
  int64_t steps = 0;
  int64_t checkpoint_every = 500;
  int64_t log_every = 50;
};

struct EvaluationConfig {
  int64_t calibration_batches = 20;  // Training batches used to re-estimate BN statistics.
  int64_t calibration_batch_size = 256;
  int64_t batch_size = 500;
  // Evaluate on at most this many images of the split (0: all). A fixed prefix of the
  // split, so every architecture sees the same images.
  int64_t max_images = 0;
};

// Knowledge distillation: the loss is (1 - weight) * cross-entropy + weight * T^2 *
// KL(teacher || student) at temperature T. `largest` and `same` distil from a frozen
// supernet (fine-tuning): it runs with batch BN statistics, its weights those of the
// supernet checkpoint the job names (TrainOptions::teacher_checkpoint). `ensemble` needs no
// teacher: each image's target is the moving average of the trained network's own past
// predictions on it (EnsembleTargets, supernet/self_distillation.h), for supernet training.
struct DistillationConfig {
  // none | largest (the space's largest-FLOPs path) | same (the trained path) | ensemble
  std::string teacher = "none";
  double weight = 0.5;
  double temperature = 2.0;
  double momentum = 0.8;  // ensemble only: the moving average's momentum per visit of an image.
  bool enabled() const { return teacher != "none"; }
};

// A supernet training job, loaded from YAML (see configs/train_*.yaml and
// docs/training.md). Relative paths are resolved against the config file's folder.
struct TrainConfig {
  std::string source;      // Where it was loaded from.
  std::string yaml;        // The config text itself (stored in checkpoints).
  std::string space_yaml;  // The search space text (stored in checkpoints).
  std::shared_ptr<const SearchSpace> space;
  SupernetOptions supernet;
  DataConfig data;
  TrainingConfig training;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  SamplerConfig sampler;
  EvaluationConfig evaluation;
  DistillationConfig distillation;
  ShrinkConfig shrink;
};

// Loads a training config; errors name the file, line and field.
absl::StatusOr<TrainConfig> LoadTrainConfig(const std::string& path);
// Parses config text. `base_dir` resolves relative paths. When `space_yaml` is given it
// is used instead of reading the file named by `space:` (for checkpoints).
absl::StatusOr<TrainConfig> ParseTrainConfig(const std::string& yaml, const std::string& source,
                                             const std::string& base_dir,
                                             const std::string* space_yaml = nullptr);

// The config of fine-tuning one architecture of a trained supernet: the supernet's config
// (`base_yaml`, `space_yaml` as its checkpoint stores them) with the sections of
// `overrides_yaml` put in (training, optimizer, schedule, distillation and description
// replace the base's; data and evaluation keys are merged into the base's; space, supernet and
// sampler cannot change) and the fixed sampler on `arch`. Errors name the overrides'
// source and field.
absl::StatusOr<TrainConfig> MakeFineTuneConfig(const std::string& base_yaml, const std::string& base_source,
                                               const std::string& space_yaml, const std::string& overrides_yaml,
                                               const std::string& overrides_source, const std::string& arch);

// The config of a few-shot sub-supernet (Few-shot NAS, Zhao et al. 2021) of a trained
// supernet: its config (`base_yaml`, `space_yaml` as its checkpoint stores them) with every
// sampled path's gene `gene` fixed to `option` (sampler.restrict), `steps` training steps,
// learning rate `lr` (<= 0: the base's) and no warm-up. Errors name the field.
absl::StatusOr<TrainConfig> MakeSubSupernetConfig(const std::string& base_yaml, const std::string& base_source,
                                                  const std::string& space_yaml, int gene, int option,
                                                  int64_t steps, double lr);

// The training and validation/test data of a config.
struct DataSplits {
  std::shared_ptr<const ImageDataset> train_set;  // Training images (holds validation too).
  std::shared_ptr<const ImageDataset> test_set;
  std::vector<int64_t> train_indices, validation_indices;
};
absl::StatusOr<DataSplits> LoadData(const TrainConfig& config);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_TRAIN_CONFIG_H_
