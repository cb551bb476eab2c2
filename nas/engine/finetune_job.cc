#include "nas/engine/finetune_job.h"

#include <filesystem>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nas/engine/export_job.h"
#include "nas/engine/fewshot_job.h"
#include "nas/engine/training_job.h"
#include "supernet/checkpoint.h"
#include "supernet/evaluator.h"
#include "supernet/few_shot.h"
#include "supernet/file_util.h"
#include "supernet/trained_supernet.h"

namespace nas::engine {

absl::StatusOr<v1::FineTuneResult> RunFineTuneJob(const FineTuneJob& job, ProgressSink& progress) {
  if (job.checkpoint.empty()) return absl::InvalidArgumentError("checkpoint: the trained supernet is required");
  if (job.arch.empty()) return absl::InvalidArgumentError("arch: required (an architecture, largest or smallest)");
  if (job.out_dir.empty()) return absl::InvalidArgumentError("out_dir: an output directory is required");
  if (supernet::IsFewShotPath(job.checkpoint)) {  // The sub-supernet the architecture inherits from.
    absl::StatusOr<std::string> routed = CheckpointFor(job.checkpoint, job.arch, "arch");
    if (!routed.ok()) return routed.status();
    FineTuneJob sub = job;
    sub.checkpoint = *routed;
    progress.Message(absl::StrCat("few-shot supernet: ", job.arch, " inherits from ", sub.checkpoint));
    return RunFineTuneJob(sub, progress);
  }
  // The supernet's own config, as its checkpoint stores it (the weights are read again
  // where they are needed, so the contents go out of scope here).
  std::string base_yaml, base_source, space_yaml;
  {
    absl::StatusOr<supernet::CheckpointContents> contents = supernet::ReadCheckpoint(job.checkpoint);
    if (!contents.ok()) {
      return absl::Status(contents.status().code(), absl::StrCat("checkpoint: ", contents.status().message()));
    }
    try {
      base_yaml = contents->meta.at("config_yaml").get<std::string>();
      base_source = contents->meta.at("config_source").get<std::string>();
      space_yaml = contents->meta.at("space_yaml").get<std::string>();
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat("checkpoint: ", job.checkpoint, ": bad metadata: ", e.what()));
    }
  }
  absl::StatusOr<supernet::TrainConfig> base =
      supernet::ParseTrainConfig(base_yaml, base_source, ".", &space_yaml);
  if (!base.ok()) return base.status();
  absl::StatusOr<supernet::Architecture> arch = ParseArchOrExtreme(*base->space, job.arch, "arch");
  if (!arch.ok()) return arch.status();
  const std::string arch_text = base->space->Format(*arch);
  std::string overrides;
  if (!job.config_path.empty()) {
    absl::StatusOr<std::string> text = ReadFileBytes(job.config_path);
    if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat("config: ", text.status().message()));
    overrides = *text;
  }
  absl::StatusOr<supernet::TrainConfig> config = supernet::MakeFineTuneConfig(
      base_yaml, base_source, space_yaml, overrides, job.config_path.empty() ? base_source : job.config_path,
      arch_text);
  if (!config.ok()) return config.status();

  v1::FineTuneResult result;
  result.set_space(base->space->name());
  result.set_arch(arch_text);
  // The starting point, for comparison: the architecture with inherited weights.
  const std::string inherited_file = job.out_dir + "/inherited.json";
  if (!job.from_scratch) {
    absl::StatusOr<std::string> saved = ReadFileBytes(inherited_file);
    double saved_accuracy = 0;
    if (saved.ok() && absl::SimpleAtod(absl::StripAsciiWhitespace(*saved), &saved_accuracy)) {
      result.set_has_inherited_test_accuracy(true);
      result.set_inherited_test_accuracy(saved_accuracy);
    } else {  // Not scored yet (or the file is unreadable): score it.
      progress.Message(absl::StrCat("scoring ", arch_text, " with inherited weights on the test set..."));
      absl::StatusOr<supernet::TrainedSupernet> trained = supernet::LoadTrainedSupernet(job.checkpoint, job.device);
      if (!trained.ok()) return absl::Status(trained.status().code(), absl::StrCat("checkpoint: ", trained.status().message()));
      std::unique_ptr<supernet::Evaluator> test =
          supernet::MakeEvaluator(*trained, supernet::EvalSplit::kTest, job.device);
      absl::StatusOr<supernet::EvalResult> e = test->Evaluate(*arch);
      if (!e.ok()) return e.status();
      result.set_has_inherited_test_accuracy(true);
      result.set_inherited_test_accuracy(100 * e->accuracy);
      std::filesystem::create_directories(job.out_dir);
      if (absl::Status s = WriteFileAtomically(inherited_file, absl::StrFormat("%.17g\n", 100 * e->accuracy));
          !s.ok()) {
        return s;
      }
      progress.Message(absl::StrFormat("inherited weights: %.2f %% test accuracy", 100 * e->accuracy));
    }
  }

  TrainingJob training;
  training.config = *std::move(config);
  training.init_from = job.from_scratch ? "" : job.checkpoint;
  training.teacher_checkpoint = job.checkpoint;
  training.validate_each_epoch = true;
  training.steps = job.steps;
  training.out_dir = job.out_dir;
  training.resume = job.resume;
  training.stop_after = job.stop_after;
  training.device = job.device;
  training.register_stop = job.register_stop;
  absl::StatusOr<v1::TrainingResult> trained = RunTrainingJob(training, progress);
  if (!trained.ok()) return trained.status();
  *result.mutable_training() = *trained;
  if (!trained->finished()) return result;  // Stopped: resumable, no bundle yet.

  progress.Message("writing the deployment bundle of the fine-tuned subnet...");
  absl::StatusOr<supernet::TrainedSupernet> tuned = supernet::LoadTrainedSupernet(trained->checkpoint(), job.device);
  if (!tuned.ok()) return tuned.status();
  supernet::ExportOptions eo;
  eo.verify_images = job.verify_images > 0 ? job.verify_images : std::numeric_limits<int64_t>::max();
  eo.cancelled = job.cancelled;
  eo.force = true;  // The job's own bundle (a resumed job may have written one).
  absl::StatusOr<v1::ExportSubnetResponse> bundle = RunExportJob(*tuned, *arch, job.out_dir + "/bundle", eo);
  if (!bundle.ok()) return bundle.status();
  *result.mutable_bundle() = *std::move(bundle);
  return result;
}

}  // namespace nas::engine
