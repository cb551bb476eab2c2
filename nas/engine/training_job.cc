#include "nas/engine/training_job.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "supernet/trainer.h"

namespace nas::engine {
namespace {

// The start line's words for the config's distillation ("" when off).
std::string DistillationText(const supernet::DistillationConfig& d) {
  if (!d.enabled()) return "";
  if (d.teacher == "ensemble") {
    return absl::StrFormat(", distilled from its own past predictions (weight %g, temperature %g, momentum %g)",
                           d.weight, d.temperature, d.momentum);
  }
  return absl::StrFormat(", distilled from the supernet's %s path (weight %g, temperature %g)", d.teacher, d.weight,
                         d.temperature);
}

}  // namespace

absl::StatusOr<v1::TrainingResult> RunTrainingJob(const TrainingJob& job, ProgressSink& progress) {
  if (job.config_path.empty() && !job.config) {
    return absl::InvalidArgumentError("config: a training config is required");
  }
  if (job.micro_batches < 1) return absl::InvalidArgumentError("micro_batches: must be >= 1");
  if (job.out_dir.empty()) return absl::InvalidArgumentError("out_dir: an output directory is required");
  absl::StatusOr<supernet::TrainConfig> config =
      job.config ? absl::StatusOr<supernet::TrainConfig>(*job.config) : supernet::LoadTrainConfig(job.config_path);
  if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat("config: ", config.status().message()));
  if (job.steps > 0) config->training.steps = job.steps;
  if (job.batch_size > 0) config->training.batch_size = job.batch_size;
  supernet::Distributed* dist = job.distributed;
  const bool primary = dist == nullptr || dist->rank() == 0;
  supernet::TrainOptions train;
  train.distributed = dist;
  train.micro_batches = job.micro_batches;
  train.out_dir = job.out_dir;
  train.resume = job.resume;
  train.init_from = job.init_from;
  train.teacher_checkpoint = job.teacher_checkpoint;
  train.validate_each_epoch = job.validate_each_epoch;
  train.stop_after_steps = job.stop_after;
  train.device = job.device;
  train.on_step = [&progress](const supernet::TrainProgress& p) {
    v1::TrainingProgress typed;
    typed.set_step(p.step);
    typed.set_total_steps(p.total_steps);
    typed.set_epoch(p.epoch);
    typed.set_loss(p.loss_ema);
    typed.set_accuracy(p.accuracy_ema);
    typed.set_images_per_second(p.images_per_second);
    typed.set_eta_seconds(p.eta_seconds);
    typed.set_learning_rate(p.learning_rate);
    if (p.validation_accuracy >= 0) typed.set_validation_accuracy(p.validation_accuracy);
    progress.Training(typed, p.log_line);
  };
  train.on_message = [&progress](const std::string& line) { progress.Message(line); };
  absl::StatusOr<std::unique_ptr<supernet::Trainer>> trainer = supernet::Trainer::Create(*std::move(config), train);
  if (!trainer.ok()) {
    if (dist != nullptr) {
      return absl::Status(trainer.status().code(), absl::StrCat("rank ", dist->rank(), ": ", trainer.status().message()));
    }
    return trainer.status();
  }
  if (primary) {
    progress.Message(absl::StrFormat(
        "training %s on %s: %d steps (%s), sampler %s%s%s, %d threads%s, output %s", (*trainer)->config().space->name(),
        (*trainer)->config().data.dataset, (*trainer)->total_steps(),
        (*trainer)->step() > 0      ? absl::StrCat("resuming at step ", (*trainer)->step())
        : job.init_from.empty()     ? std::string("from scratch")
                                    : std::string("from the supernet's weights"),
        (*trainer)->sampler().name(),
        (*trainer)->shrink_step() >= 0
            ? absl::StrFormat(", shrinking the space at step %d (dropping %d option(s), shrink.drop)",
                              (*trainer)->shrink_step(), (*trainer)->config().shrink.drop)
            : "",
        DistillationText((*trainer)->config().distillation),
        torch::get_num_threads(),
        dist ? absl::StrCat(" x ", dist->world_size(), " ranks") : "", job.out_dir));
  }
  supernet::Trainer* raw = trainer->get();
  if (job.register_stop) job.register_stop([raw] { raw->RequestStop(); });
  absl::StatusOr<supernet::TrainSummary> summary = (*trainer)->Run();
  if (job.register_stop) job.register_stop(nullptr);
  if (!summary.ok()) return summary.status();  // Collective failures name the rank already.
  v1::TrainingResult r;
  r.set_steps(summary->steps);
  r.set_total_steps(summary->total_steps);
  r.set_finished(summary->finished);
  r.set_interrupted(summary->interrupted);
  r.set_steps_this_run(summary->steps_this_run);
  r.set_resumed_from_step(summary->resumed_from_step);
  r.set_seconds_this_run(summary->seconds_this_run);
  r.set_median_images_per_second(summary->median_images_per_second);
  r.set_end_to_end_images_per_second(summary->end_to_end_images_per_second);
  r.set_threads(summary->threads);
  r.set_batch_size(summary->batch_size);
  r.set_final_loss_ema(summary->final_loss_ema);
  r.set_final_accuracy_ema(summary->final_accuracy_ema);
  r.set_sampler(summary->sampler);
  r.set_checkpoint(summary->checkpoint);
  r.set_world_size(summary->world_size);
  return r;
}

}  // namespace nas::engine
