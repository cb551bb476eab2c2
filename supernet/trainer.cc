#include "supernet/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "supernet/checkpoint.h"
#include "supernet/file_util.h"
#include "supernet/trained_supernet.h"

namespace nas::supernet {
namespace {

constexpr int kCheckpointFormat = 1;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}


// Keeps only the metrics lines of steps up to `step` (a resumed run re-does the rest).
void TruncateMetrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).at("step").get<int64_t>() <= step) kept += line + "\n";
    } catch (const std::exception&) {
      // A torn last line from a crash: drop it.
    }
  }
  in.close();
  WriteFileAtomically(path, kept).IgnoreError();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(TrainConfig config, TrainOptions options) {
  if (options.out_dir.empty()) return absl::InvalidArgumentError("out_dir: an output directory is required");
  if (options.validate_each_epoch && config.sampler.kind != "fixed") {
    return absl::InvalidArgumentError("validate_each_epoch: only for fine-tuning (the fixed sampler)");
  }
  std::unique_ptr<Trainer> trainer(new Trainer(std::move(config), std::move(options)));
  if (absl::Status s = trainer->Init(); !s.ok()) return s;
  return trainer;
}

std::string Trainer::checkpoint_path() const { return options_.out_dir + "/checkpoint.nasckpt"; }

absl::Status Trainer::Init() {
  // 0: the calling thread's setting (the engine sets each job's threads).
  if (options_.threads > 0) torch::set_num_threads(options_.threads);
  const bool has_checkpoint = std::filesystem::exists(checkpoint_path());
  if (has_checkpoint && !options_.resume) {
    return absl::FailedPreconditionError(absl::StrCat(
        checkpoint_path(), " exists: pass --resume to continue that run, or choose another --out"));
  }
  absl::StatusOr<DataSplits> data = LoadData(config_);
  if (!data.ok()) return data.status();
  data_ = *std::move(data);
  const TrainingConfig& t = config_.training;
  loader_ = std::make_unique<BatchLoader>(data_.train_set, data_.train_indices, t.batch_size,
                                          config_.data.augment, /*shuffle=*/true, t.seed);
  if (loader_->batches_per_epoch() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(config_.source, ": training.batch_size: ",
                                                   t.batch_size, " exceeds the ", loader_->size(),
                                                   " training images"));
  }
  total_steps_ = t.steps > 0 ? t.steps : t.epochs * loader_->batches_per_epoch();
  const int world = options_.distributed != nullptr ? options_.distributed->world_size() : 1;
  const int64_t chunks = static_cast<int64_t>(world) * std::max(1, options_.micro_batches);
  if (t.batch_size % chunks != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        config_.source, ": training.batch_size: ", t.batch_size, " does not split into ", world,
        " process(es) x ", std::max(1, options_.micro_batches), " micro-batch(es)"));
  }

  if (config_.distillation.enabled()) {
    const DistillationConfig& d = config_.distillation;
    if (config_.sampler.kind == "sandwich") {
      return absl::InvalidArgumentError(
          absl::StrCat(config_.source, ": distillation: the sandwich sampler distills in place already"));
    }
    if (d.teacher == "ensemble") {
      if (options_.distributed != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            config_.source,
            ": distillation.teacher: ensemble is not supported in distributed training yet (each process would "
            "keep its own targets)"));
      }
      ensemble_ = std::make_unique<EnsembleTargets>(data_.train_set->size(), d.momentum, d.weight, d.temperature,
                                                    options_.device);
    } else if (absl::Status s = LoadTeacher(options_.teacher_checkpoint); !s.ok()) {
      // Built before the student's seed is set: the teacher's random initialisation (then
      // overwritten) leaves the student's weights and resumes unchanged.
      return s;
    }
  }
  torch::manual_seed(t.seed);
  net_ = CreateSupernet(config_.space, config_.supernet);
  net_->to(options_.device);
  net_->train();
  for (const torch::Tensor& p : net_->parameters()) all_parameters_.push_back(p);
  MakeOptimizer();
  if (absl::Status s = MakeSampler(); !s.ok()) return s;
  if (config_.shrink.enabled()) {
    shrink_step_ = std::clamp<int64_t>(std::llround(config_.shrink.at * static_cast<double>(total_steps_)), 1,
                                       std::max<int64_t>(1, total_steps_ - 1));
  }

  if (!has_checkpoint && !options_.init_from.empty()) {
    if (absl::Status s = LoadInitialWeights(options_.init_from); !s.ok()) return s;
  }
  if (has_checkpoint) {
    if (absl::Status s = LoadCheckpoint(); !s.ok()) return s;
  }
  // Every rank starts from rank 0's weights (the same seed gives the same ones; this
  // makes it a guarantee).
  if (options_.distributed != nullptr) {
    if (absl::Status s = options_.distributed->Broadcast(all_parameters_); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void Trainer::MakeOptimizer() {
  std::vector<torch::Tensor> decay, no_decay;
  for (const torch::Tensor& p : all_parameters_) (p.dim() <= 1 ? no_decay : decay).push_back(p);
  const OptimizerConfig& o = config_.optimizer;
  auto group_options = [&](double weight_decay) {
    auto opts = std::make_unique<torch::optim::SGDOptions>(o.lr);
    opts->momentum(o.momentum).nesterov(o.nesterov).weight_decay(weight_decay);
    return opts;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, group_options(o.weight_decay));
  groups.emplace_back(no_decay, group_options(0.0));
  optimizer_ = std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(o.lr));
}

absl::Status Trainer::MakeSampler() {
  absl::StatusOr<std::unique_ptr<PathSampler>> sampler =
      CreateSampler(config_.space, config_.sampler, config_.training.seed);
  if (!sampler.ok()) return sampler.status();
  sampler_ = *std::move(sampler);
  return absl::OkStatus();
}

double Trainer::LearningRate(int64_t step) const {
  const ScheduleConfig& s = config_.schedule;
  const double lr = config_.optimizer.lr;
  // With shrinking, the schedule runs twice: up to the shrinking step, and from it to the end.
  int64_t begin = 0, end = total_steps_;
  if (shrink_step_ >= 0) (step < shrink_step_ ? end : begin) = shrink_step_;
  step -= begin;
  if (step < s.warmup_steps) return lr * static_cast<double>(step + 1) / s.warmup_steps;
  const double span = std::max<int64_t>(1, end - begin - s.warmup_steps);
  const double t = std::min(1.0, static_cast<double>(step - s.warmup_steps) / span);
  if (s.kind == "cosine") return s.min_lr + (lr - s.min_lr) * 0.5 * (1 + std::cos(M_PI * t));
  if (s.kind == "linear") return lr - (lr - s.min_lr) * t;
  return lr;
}

absl::Status Trainer::TrainStep(const Batch& batch, StepResult* result) {
  Distributed* dist = options_.distributed;
  const int world = dist != nullptr ? dist->world_size() : 1;
  const int rank = dist != nullptr ? dist->rank() : 0;
  const int micro = std::max(1, options_.micro_batches);
  const int64_t per_chunk = batch.images.size(0) / (static_cast<int64_t>(world) * micro);
  const std::vector<Architecture> paths = sampler_->Sample(step_);
  // Undefined (not zero) gradients: parameters off this step's paths are skipped by SGD.
  for (torch::Tensor& p : all_parameters_) p.mutable_grad() = torch::Tensor();
  const double lr = LearningRate(step_);
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);

  namespace F = torch::nn::functional;
  const auto ce = F::CrossEntropyFuncOptions().label_smoothing(config_.optimizer.label_smoothing);
  ForwardContext ctx;
  ctx.mode = BnMode::kTrain;
  // Per-path losses and the first path's accuracy, then the stop request: averaged over
  // micro-batches here and over ranks below, so every rank observes the same values.
  std::vector<double> shared(paths.size() + 2, 0.0);
  for (int m = 0; m < micro; ++m) {
    const int64_t begin = (static_cast<int64_t>(rank) * micro + m) * per_chunk;
    const torch::Tensor x = batch.images.narrow(0, begin, per_chunk).to(options_.device);
    const torch::Tensor y = batch.labels.narrow(0, begin, per_chunk).to(options_.device);
    torch::Tensor soft_labels, indices;
    std::vector<torch::Tensor> path_logits;  // For the ensemble's targets.
    if (ensemble_) {
      if (!batch.indices.defined()) return absl::InternalError("distillation: the batch has no image indices");
      indices = batch.indices.narrow(0, begin, per_chunk);
    }
    for (size_t i = 0; i < paths.size(); ++i) {
      const torch::Tensor logits = net_->Forward(x, paths[i], ctx);
      torch::Tensor loss;
      if (teacher_) {
        const DistillationConfig& d = config_.distillation;
        torch::Tensor teacher_logits;
        {
          torch::NoGradGuard no_grad;
          ForwardContext teacher_ctx;
          teacher_ctx.mode = BnMode::kCalibrate;  // Batch statistics; the teacher is never updated.
          teacher_logits = teacher_->Forward(x, d.teacher == "largest" ? teacher_largest_ : paths[i], teacher_ctx);
        }
        const double temperature = d.temperature;
        const torch::Tensor kd =
            F::kl_div(F::log_softmax(logits / temperature, F::LogSoftmaxFuncOptions(1)),
                      torch::softmax(teacher_logits / temperature, 1), F::KLDivFuncOptions().reduction(torch::kBatchMean));
        loss = (1 - d.weight) * F::cross_entropy(logits, y, ce) + d.weight * temperature * temperature * kd;
      } else if (ensemble_) {
        loss = ensemble_->Loss(logits, y, indices, config_.optimizer.label_smoothing);
        path_logits.push_back(logits.detach());
      } else if (sampler_->distills() && i > 0) {
        // In-place distillation (BigNAS): match the largest path's soft labels.
        loss = F::kl_div(F::log_softmax(logits, F::LogSoftmaxFuncOptions(1)), soft_labels,
                         F::KLDivFuncOptions().reduction(torch::kBatchMean));
      } else {
        loss = F::cross_entropy(logits, y, ce);
      }
      if (i == 0) {
        shared[paths.size()] += logits.argmax(1).eq(y).to(torch::kFloat32).mean().item<double>() / micro;
        if (sampler_->distills()) soft_labels = torch::softmax(logits.detach(), 1);
      }
      const double scale = (sampler_->distills() || sampler_->sums_paths() ? 1.0 : 1.0 / paths.size()) / micro;
      (loss * scale).backward();
      shared[i] += loss.item<double>() / micro;
    }
    // After every path of the step, so that all of them saw the same targets.
    if (ensemble_) ensemble_->Update(path_logits, indices);
  }
  shared.back() = stop_requested_.load() ? 1.0 : 0.0;
  if (dist != nullptr) {
    if (absl::Status s = dist->AverageGradients(all_parameters_); !s.ok()) return s;
    if (absl::Status s = dist->AverageValues(&shared); !s.ok()) return s;
  }
  if (config_.optimizer.grad_clip_norm > 0) {
    std::vector<torch::Tensor> with_grad;
    for (const torch::Tensor& p : all_parameters_) {
      if (p.grad().defined()) with_grad.push_back(p);
    }
    torch::nn::utils::clip_grad_norm_(with_grad, config_.optimizer.grad_clip_norm);
  }
  optimizer_->step();
  for (size_t i = 0; i < paths.size(); ++i) sampler_->Observe(step_, paths[i], shared[i]);
  result->loss = shared[0];
  result->accuracy = shared[paths.size()];
  result->stop = shared.back() > 0;
  return absl::OkStatus();
}

nlohmann::json TrainSummary::ToJson() const {
  nlohmann::json j = {{"steps", steps},
                      {"total_steps", total_steps},
                      {"finished", finished},
                      {"interrupted", interrupted},
                      {"steps_this_run", steps_this_run},
                      {"resumed_from_step", resumed_from_step},
                      {"seconds_this_run", seconds_this_run},
                      {"median_images_per_second", median_images_per_second},
                      {"end_to_end_images_per_second", end_to_end_images_per_second},
                      {"threads", threads},
                      {"batch_size", batch_size},
                      {"final_loss_ema", final_loss_ema},
                      {"final_accuracy_ema", final_accuracy_ema},
                      {"sampler", sampler},
                      {"checkpoint", checkpoint}};
  if (world_size > 0) {
    j["world_size"] = world_size;
    j["rank"] = rank;
  }
  return j;
}

absl::StatusOr<TrainSummary> Trainer::Run() {
  std::filesystem::create_directories(options_.out_dir);
  const std::string metrics_path = options_.out_dir + "/metrics.jsonl";
  if (primary()) TruncateMetrics(metrics_path, step_);
  std::ofstream metrics(metrics_path, std::ios::app);
  const int64_t per_epoch = loader_->batches_per_epoch();
  const int64_t first_step = step_;
  int64_t last_step = total_steps_;
  if (options_.stop_after_steps >= 0) last_step = std::min(last_step, step_ + options_.stop_after_steps);
  Prefetcher prefetcher(*loader_, step_, last_step);
  const auto start = std::chrono::steady_clock::now();
  // End-to-end throughput (data wait included) over the steps after a short warm-up.
  constexpr int64_t kWarmupSteps = 5;
  std::chrono::steady_clock::time_point warm_time, last_step_time;
  int64_t warm_images = 0;
  double loss_ema = 0, accuracy_ema = 0;
  bool interrupted = false;
  while (step_ < total_steps_) {
    // One process stops at once; ranks agree on stopping inside the step (TrainStep).
    if (step_ >= last_step || (options_.distributed == nullptr && stop_requested_.load())) {
      interrupted = true;
      break;
    }
    if (shrink_step_ >= 0 && !shrunk_ && step_ >= shrink_step_) {
      if (absl::Status s = Shrink(); !s.ok()) return s;
    }
    const Batch batch = prefetcher.Next();
    const auto t0 = std::chrono::steady_clock::now();
    StepResult step_result;
    try {
      if (absl::Status s = TrainStep(batch, &step_result); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("training step ", step_, ": ", s.message()));
      }
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("training step ", step_, " failed: ", e.what_without_backtrace()));
    }
    const auto t1 = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    images_per_second_.push_back(batch.images.size(0) / std::max(seconds, 1e-9));
    const double a = step_ == first_step ? 0.0 : 0.95;
    loss_ema = a * loss_ema + (1 - a) * step_result.loss;
    accuracy_ema = a * accuracy_ema + (1 - a) * step_result.accuracy;
    if (!std::isfinite(step_result.loss)) {
      return absl::InternalError(absl::StrCat("training diverged at step ", step_,
                                              " (loss is ", step_result.loss, "); lower optimizer.lr"));
    }
    ++step_;
    if (step_result.stop && step_ < total_steps_) interrupted = true;
    if (step_ - first_step == kWarmupSteps) warm_time = t1;
    last_step_time = t1;
    if (step_ - first_step > kWarmupSteps) warm_images += batch.images.size(0);

    const bool log_line = step_ % config_.training.log_every == 0 || step_ == total_steps_;
    if (log_line && primary()) {
      nlohmann::json line = {{"step", step_},
                             {"epoch", static_cast<double>(step_) / per_epoch},
                             {"lr", LearningRate(step_ - 1)},
                             {"loss", step_result.loss},
                             {"loss_ema", loss_ema},
                             {"accuracy_ema", accuracy_ema},
                             {"images_per_second", images_per_second_.back()}};
      const std::vector<double> bins = sampler_->BinProbabilities();
      if (!bins.empty()) line["bin_probabilities"] = bins;
      metrics << line.dump() << "\n";
      metrics.flush();
    }
    double validation_accuracy = -1;
    if (options_.validate_each_epoch && primary() && (step_ % per_epoch == 0 || step_ == total_steps_)) {
      validation_accuracy = ValidationAccuracy();
      metrics << nlohmann::json{{"step", step_},
                                {"epoch", static_cast<double>(step_) / per_epoch},
                                {"validation_accuracy", validation_accuracy}}
                     .dump()
              << "\n";
      metrics.flush();
    }
    if (options_.on_step && primary()) {
      const double elapsed = std::chrono::duration<double>(t1 - start).count();
      const double rate = (step_ - first_step) / std::max(elapsed, 1e-9);
      TrainProgress p;
      p.step = step_;
      p.total_steps = total_steps_;
      p.epoch = static_cast<double>(step_) / per_epoch;
      p.loss_ema = loss_ema;
      p.accuracy_ema = accuracy_ema;
      p.images_per_second = Median(std::vector<double>(
          images_per_second_.end() - std::min<size_t>(images_per_second_.size(), 50), images_per_second_.end()));
      p.eta_seconds = (total_steps_ - step_) / std::max(rate, 1e-9);
      p.learning_rate = LearningRate(step_ - 1);
      p.validation_accuracy = validation_accuracy;
      p.log_line = log_line || validation_accuracy >= 0;
      options_.on_step(p);
    }
    if (step_ % config_.training.checkpoint_every == 0 && step_ < total_steps_) {
      if (absl::Status s = SaveCheckpoint(); !s.ok()) return s;
    }
    if (interrupted) break;
  }
  if (absl::Status s = SaveCheckpoint(); !s.ok()) return s;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double warm_seconds =
      warm_images > 0 ? std::chrono::duration<double>(last_step_time - warm_time).count()
                      : 0.0;
  TrainSummary summary;
  summary.steps = step_;
  summary.total_steps = total_steps_;
  summary.finished = step_ >= total_steps_;
  summary.interrupted = interrupted;
  summary.steps_this_run = step_ - first_step;
  summary.resumed_from_step = first_step;
  summary.seconds_this_run = elapsed;
  summary.median_images_per_second = Median(images_per_second_);
  summary.end_to_end_images_per_second = warm_seconds > 0 ? warm_images / warm_seconds : 0.0;
  summary.threads = torch::get_num_threads();
  summary.batch_size = config_.training.batch_size;
  summary.final_loss_ema = loss_ema;
  summary.final_accuracy_ema = accuracy_ema;
  summary.sampler = sampler_->name();
  summary.checkpoint = checkpoint_path();
  if (options_.distributed != nullptr) {
    summary.world_size = options_.distributed->world_size();
    summary.rank = options_.distributed->rank();
  }
  if (!primary()) return summary;
  if (absl::Status s = WriteFileAtomically(options_.out_dir + "/summary.json", summary.ToJson().dump(2) + "\n");
      !s.ok()) {
    return s;
  }
  return summary;
}

absl::Status Trainer::SaveCheckpoint() {
  if (!primary()) return absl::OkStatus();  // Rank 0 writes; the weights are the same on all.
  nlohmann::json meta = {{"format", kCheckpointFormat},
                         {"step", step_},
                         {"total_steps", total_steps_},
                         {"config_yaml", config_.yaml},
                         {"config_source", config_.source},
                         {"space_yaml", config_.space_yaml},
                         {"sampler", sampler_->name()},
                         {"sampler_state", sampler_->SaveState()},
                         {"threads", torch::get_num_threads()}};
  if (shrunk_) meta["shrink"] = {{"step", shrink_step_}, {"dropped", shrink_dropped_}};
  std::vector<std::pair<std::string, torch::Tensor>> extra;
  if (ensemble_) {
    for (const auto& [name, tensor] : ensemble_->State()) extra.emplace_back(name, *tensor);
  }
  return WriteCheckpoint(checkpoint_path(), meta, *net_, optimizer_.get(), extra);
}

absl::Status Trainer::LoadInitialWeights(const std::string& path) { return RestoreWeights(path, *net_, ""); }

absl::Status Trainer::RestoreWeights(const std::string& path, SupernetImpl& net, const std::string& role) {
  absl::StatusOr<CheckpointContents> contents = ReadCheckpoint(path);
  if (!contents.ok()) return contents.status();
  try {
    if (contents->meta.at("space_yaml").get<std::string>() != config_.space_yaml) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", role, "was trained on a different search space than ", config_.source));
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": bad metadata: ", e.what()));
  }
  if (absl::Status s = RestoreModule(contents->model, net, path); !s.ok()) return s;
  net.ApplyMemoryFormat();
  net.to(options_.device);
  return absl::OkStatus();
}

double Trainer::ValidationAccuracy() {
  const Architecture arch = *config_.space->Parse(config_.sampler.arch);  // Checked at Create.
  torch::NoGradGuard no_grad;
  net_->eval();
  BatchLoader loader(data_.train_set, data_.validation_indices, config_.evaluation.batch_size, AugmentOptions{},
                     /*shuffle=*/false, 0);
  int64_t correct = 0, seen = 0;
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const Batch batch = loader.Get(0, b);
    ForwardContext ctx;
    ctx.mode = BnMode::kEval;
    const torch::Tensor logits = net_->Forward(batch.images.to(options_.device), arch, ctx);
    correct += logits.argmax(1).eq(batch.labels.to(options_.device)).sum().item<int64_t>();
    seen += batch.images.size(0);
  }
  net_->train();
  return seen > 0 ? static_cast<double>(correct) / seen : 0.0;
}

absl::Status Trainer::LoadTeacher(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config_.source, ": distillation: needs a trained supernet to distill from (nas finetune distills from the "
                        "checkpoint it fine-tunes)"));
  }
  teacher_ = CreateSupernet(config_.space, config_.supernet);
  if (absl::Status s = RestoreWeights(path, *teacher_, "the teacher "); !s.ok()) return s;
  teacher_->train();
  for (torch::Tensor& p : teacher_->parameters()) p.set_requires_grad(false);
  teacher_largest_ = config_.space->MaxFlops().arch;
  return absl::OkStatus();
}

absl::Status Trainer::LoadCheckpoint() {
  const std::string path = checkpoint_path();
  absl::StatusOr<CheckpointContents> contents = ReadCheckpoint(path);
  if (!contents.ok()) return contents.status();
  const nlohmann::json& meta = contents->meta;
  try {
    if (meta.at("format").get<int>() != kCheckpointFormat) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unsupported checkpoint format"));
    }
    if (meta.at("space_yaml").get<std::string>() != config_.space_yaml) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": was trained on a different search space than ", config_.source));
    }
    if (meta.contains("shrink")) {  // Shrunk before this checkpoint: train on over the same options.
      const nlohmann::json& shrink = meta.at("shrink");
      if (absl::Status s = ApplyShrink(shrink.at("dropped").get<std::vector<std::string>>(),
                                       shrink.at("step").get<int64_t>());
          !s.ok()) {
        return absl::DataLossError(absl::StrCat(path, ": bad shrink state: ", s.message()));
      }
    }
    if (meta.at("sampler").get<std::string>() != sampler_->name()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": was trained with sampler '",
                                                     meta.at("sampler").get<std::string>(),
                                                     "', the config says '", sampler_->name(), "'"));
    }
    step_ = meta.at("step").get<int64_t>();
    if (absl::Status s = sampler_->LoadState(meta.at("sampler_state")); !s.ok()) return s;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": bad metadata: ", e.what()));
  }
  if (absl::Status s = RestoreModule(contents->model, *net_, path); !s.ok()) return s;
  net_->ApplyMemoryFormat();
  std::vector<std::pair<std::string, torch::Tensor*>> extra;
  if (ensemble_) extra = ensemble_->State();
  if (absl::Status s = RestoreOptimizer(contents->optimizer, *optimizer_, path, extra); !s.ok()) return s;
  if (ensemble_) {
    if (absl::Status s = ensemble_->Restored(data_.train_set->size()); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
    }
  }
  net_->to(options_.device);
  return absl::OkStatus();
}

absl::Status Trainer::ApplyShrink(const std::vector<std::string>& dropped, int64_t step) {
  for (const std::string& option : dropped) config_.sampler.exclude.push_back(option);
  if (absl::Status s = MakeSampler(); !s.ok()) return s;
  MakeOptimizer();  // Fresh momentum for the second cycle of the schedule.
  shrink_step_ = step;  // The schedule restarts where it happened (whatever the config says now).
  shrunk_ = true;
  shrink_dropped_ = dropped;
  return absl::OkStatus();
}

absl::Status Trainer::Shrink() {
  const ShrinkConfig& sh = config_.shrink;
  const auto start = std::chrono::steady_clock::now();
  auto message = [&](const std::string& line) {
    if (options_.on_message && primary()) options_.on_message(line);
  };
  // Random architectures of the space trained so far (without sampler.exclude's options).
  std::shared_ptr<const SearchSpace> space = config_.space;
  if (!config_.sampler.exclude.empty()) {
    absl::StatusOr<std::shared_ptr<const RestrictedSpace>> current =
        RestrictedSpace::Excluding(config_.space, config_.sampler.exclude, "sampler.exclude");
    if (!current.ok()) return current.status();
    space = *current;
  }
  const auto* restricted = dynamic_cast<const RestrictedSpace*>(space.get());
  Rng rng(config_.training.seed ^ 0x5421a7c3ULL);
  std::vector<Architecture> archs;
  std::set<Architecture> seen;
  for (int64_t tries = 0; static_cast<int64_t>(archs.size()) < sh.archs && tries < 50 * sh.archs; ++tries) {
    Architecture arch = space->Sample(rng);
    if (restricted != nullptr) arch = restricted->ToFull(arch);
    if (seen.insert(arch).second) archs.push_back(std::move(arch));
  }
  message(absl::StrCat("shrinking at step ", step_, ": scoring ", archs.size(),
                       " random architectures by validation loss (", sh.images > 0 ? absl::StrCat(sh.images) : "all",
                       " images each)..."));
  TrainedSupernet view;
  view.config = config_;
  view.config.evaluation.max_images = sh.images;
  view.config.evaluation.calibration_batches = sh.calibration_batches;
  view.net = net_;
  view.step = step_;
  view.total_steps = total_steps_;
  view.data = data_;
  std::vector<double> values;
  net_->eval();
  {
    std::unique_ptr<Evaluator> evaluator = MakeEvaluator(view, EvalSplit::kValidation, options_.device);
    for (const Architecture& arch : archs) {
      absl::StatusOr<EvalResult> r = evaluator->Evaluate(arch);
      if (!r.ok()) {
        net_->train();
        return absl::Status(r.status().code(), absl::StrCat("shrinking: ", r.status().message()));
      }
      values.push_back(-r->loss);
    }
  }
  net_->train();
  absl::StatusOr<std::vector<OptionScore>> scores = ScoreOptions(*config_.space, archs, values, sh.score);
  if (!scores.ok()) return absl::Status(scores.status().code(), absl::StrCat("shrinking: ", scores.status().message()));
  std::vector<std::string> dropped = ChooseDropped(*config_.space, *scores, config_.sampler.exclude, sh.drop);
  if (options_.distributed != nullptr) {
    // Every rank scored the same architectures on the same weights; rank 0's choice is binding.
    std::vector<std::string> names;
    for (const OptionScore& s : *scores) names.push_back(s.option);
    torch::Tensor mask = torch::zeros({static_cast<int64_t>(names.size())}, torch::kFloat32);
    for (size_t i = 0; i < names.size(); ++i) {
      if (std::find(dropped.begin(), dropped.end(), names[i]) != dropped.end()) mask[i] = 1;
    }
    if (absl::Status s = options_.distributed->Broadcast({mask}); !s.ok()) return s;
    dropped.clear();
    for (size_t i = 0; i < names.size(); ++i) {
      if (mask[i].item<float>() > 0.5f) dropped.push_back(names[i]);
    }
  }
  nlohmann::json report = {{"step", step_},
                           {"archs", archs.size()},
                           {"images", sh.images},
                           {"score", sh.score},
                           {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
                           {"dropped", dropped},
                           {"excluded_before", config_.sampler.exclude}};
  std::string lines;
  for (const OptionScore& s : *scores) {
    report["options"].push_back({{"option", s.option}, {"score", s.score}, {"uses", s.uses}});
    absl::StrAppend(&lines, lines.empty() ? "" : ", ", s.option, " ", absl::StrFormat("%.3f", s.score));
  }
  if (absl::Status s = ApplyShrink(dropped, step_); !s.ok()) return s;
  message(absl::StrCat("shrinking: ", sh.score, " rank of each option's architectures: ", lines, "; dropped ",
                       dropped.empty() ? "none (every gene needs its options)" : absl::StrJoin(dropped, ", "),
                       "; the schedule restarts for the remaining ", total_steps_ - step_, " steps"));
  if (primary()) {
    if (absl::Status s = WriteFileAtomically(options_.out_dir + "/shrink.json", report.dump(2) + "\n"); !s.ok()) {
      return s;
    }
  }
  // Kept at once: a resumed run does not score again.
  return SaveCheckpoint();
}

}  // namespace nas::supernet
