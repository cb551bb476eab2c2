// Trainer, checkpoints, evaluation and extraction on real (Fashion-MNIST) data.
#include "supernet/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "supernet/checkpoint.h"
#include "supernet/file_util.h"
#include "supernet/trained_supernet.h"
#include "tests/test_paths.h"

namespace nas::supernet {
namespace {

using ::testing::HasSubstr;

constexpr char kTinySpace[] = R"(name: tiny_fmnist
type: shufflenet_oneshot
input: {size: 28, channels: 1}
num_classes: 10
stem: {channels: 8, kernel_size: 3, stride: 2}
stages:
  - {layers: 2, channels: 16, stride: 2}
  - {layers: 2, channels: 32, stride: 2}
head: {channels: 64}
)";

std::string TinyConfig(const std::string& dir, const std::string& sampler = "uniform",
                       const std::string& extra_optimizer = "") {
  WriteFileAtomically(dir + "/tiny_space.yaml", kTinySpace).IgnoreError();
  const std::string path = dir + "/train.yaml";
  const std::string yaml = std::string(R"(space: tiny_space.yaml
data: {dataset: fashion_mnist, validation_size: 128, train_limit: 256}
training: {seed: 3, batch_size: 32, steps: 6, checkpoint_every: 2, log_every: 1}
optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 1.0e-3, label_smoothing: 0.1)") +
                           extra_optimizer + R"(}
schedule: {kind: cosine, warmup_steps: 2}
sampler: {kind: )" + sampler + R"(, num_bins: 4, update_every: 2}
evaluation: {calibration_batches: 2, calibration_batch_size: 64, batch_size: 64}
)";
  WriteFileAtomically(path, yaml).IgnoreError();
  return path;
}

std::unique_ptr<Trainer> MakeTrainer(const std::string& config_path, const std::string& out,
                                     bool resume, int64_t stop_after = -1) {
  absl::StatusOr<TrainConfig> config = LoadTrainConfig(config_path);
  EXPECT_TRUE(config.ok()) << config.status();
  TrainOptions options;
  options.out_dir = out;
  options.resume = resume;
  options.threads = 1;
  options.stop_after_steps = stop_after;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(*config, options);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? *std::move(trainer) : nullptr;
}

std::vector<torch::Tensor> Snapshot(const Supernet& net) {
  std::vector<torch::Tensor> copies;
  for (const auto& p : net->parameters()) copies.push_back(p.detach().clone());
  return copies;
}

TEST(TrainerTest, UnsampledChoicesGetNoUpdateAndNoOptimizerState) {
  const std::string dir = nas::testing::FreshTempDir("unsampled");
  auto trainer = MakeTrainer(TinyConfig(dir), dir + "/out", false, /*stop_after=*/1);
  ASSERT_NE(trainer, nullptr);
  const std::vector<torch::Tensor> before = Snapshot(trainer->supernet());
  const Architecture path = trainer->sampler().Sample(0).front();
  ASSERT_TRUE(trainer->Run().ok());
  EXPECT_EQ(trainer->step(), 1);

  std::set<const void*> on_path;
  for (const auto& p : trainer->supernet()->PathParameters(path)) on_path.insert(p.unsafeGetTensorImpl());
  const auto params = trainer->supernet()->parameters();
  int changed_on_path = 0, unchanged_off_path = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const bool same = torch::equal(params[i], before[i]);
    if (on_path.count(params[i].unsafeGetTensorImpl())) {
      changed_on_path += !same;
    } else {
      EXPECT_TRUE(same) << "a parameter off the sampled path changed";
      EXPECT_FALSE(params[i].grad().defined());
      ++unchanged_off_path;
    }
  }
  EXPECT_GT(changed_on_path, 10);
  EXPECT_GT(unchanged_off_path, 10);
  // Momentum buffers exist exactly for the sampled path's parameters.
  EXPECT_EQ(trainer->optimizer().state().size(), on_path.size());
}

TEST(TrainerTest, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  for (const std::string sampler : {"uniform", "shifted"}) {
    const std::string dir = nas::testing::FreshTempDir("resume_" + sampler);
    const std::string config = TinyConfig(dir, sampler);
    auto straight = MakeTrainer(config, dir + "/straight", false);
    ASSERT_TRUE(straight->Run().ok());

    auto first = MakeTrainer(config, dir + "/interrupted", false, /*stop_after=*/3);
    absl::StatusOr<TrainSummary> partial = first->Run();
    ASSERT_TRUE(partial.ok());
    EXPECT_FALSE(partial->finished);
    first.reset();
    auto resumed = MakeTrainer(config, dir + "/interrupted", true);
    EXPECT_EQ(resumed->step(), 3);
    ASSERT_TRUE(resumed->Run().ok());
    EXPECT_EQ(resumed->step(), 6);

    const auto a = straight->supernet()->parameters(), b = resumed->supernet()->parameters();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << sampler;
    const auto ba = straight->supernet()->buffers(), bb = resumed->supernet()->buffers();
    for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i], bb[i])) << sampler;
    EXPECT_EQ(straight->sampler().SaveState(), resumed->sampler().SaveState());
    // metrics.jsonl has one line per step, with no duplicates from the resume.
    std::ifstream metrics(dir + "/interrupted/metrics.jsonl");
    std::string line;
    int lines = 0;
    while (std::getline(metrics, line)) ++lines;
    EXPECT_EQ(lines, 6);
  }
}

// Fine-tuning: the fixed path of one architecture, from a supernet's weights; resumable
// bit for bit like any run.
TEST(TrainerTest, FineTuningTrainsOnePathFromTheSupernetAndResumesExactly) {
  const std::string dir = nas::testing::FreshTempDir("finetune");
  const std::string config_path = TinyConfig(dir);
  auto supernet = MakeTrainer(config_path, dir + "/supernet", false);
  ASSERT_TRUE(supernet->Run().ok());
  const std::string checkpoint = supernet->checkpoint_path();
  const TrainConfig base = supernet->config();
  const std::string arch = base.space->Format(base.space->MaxFlops().arch);

  const std::string overrides = "training: {seed: 5, batch_size: 32, steps: 4, checkpoint_every: 2, log_every: 1}\n"
                                "optimizer: {lr: 0.01, momentum: 0.9}\n";
  absl::StatusOr<TrainConfig> config =
      MakeFineTuneConfig(base.yaml, base.source, base.space_yaml, overrides, "ft.yaml", arch);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->sampler.kind, "fixed");
  EXPECT_EQ(config->training.steps, 4);
  EXPECT_EQ(config->data.validation_size, base.data.validation_size);  // The supernet's data.
  // Sections that cannot change, and unknown ones, name the file and the field.
  EXPECT_THAT(std::string(MakeFineTuneConfig(base.yaml, base.source, base.space_yaml, "space: other.yaml\n",
                                             "ft.yaml", arch)
                              .status()
                              .message()),
              HasSubstr("ft.yaml: space:"));
  EXPECT_THAT(std::string(MakeFineTuneConfig(base.yaml, base.source, base.space_yaml, "epochs: 3\n", "ft.yaml", arch)
                              .status()
                              .message()),
              HasSubstr("ft.yaml: epochs: unknown section"));
  EXPECT_THAT(std::string(MakeFineTuneConfig(base.yaml, base.source, base.space_yaml, "", "ft.yaml", "nonsense")
                              .status()
                              .message()),
              HasSubstr("sampler.arch"));

  const auto run = [&](const std::string& out, bool resume, int64_t stop_after) {
    TrainOptions options;
    options.out_dir = out;
    options.resume = resume;
    options.threads = 1;
    options.stop_after_steps = stop_after;
    options.init_from = checkpoint;
    options.validate_each_epoch = true;
    absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(*config, options);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *std::move(t) : nullptr;
  };
  auto tuned = run(dir + "/straight", false, -1);
  ASSERT_NE(tuned, nullptr);
  // Starts from the supernet's weights exactly.
  const auto start = tuned->supernet()->parameters(), trained = supernet->supernet()->parameters();
  ASSERT_EQ(start.size(), trained.size());
  for (size_t i = 0; i < start.size(); ++i) ASSERT_TRUE(torch::equal(start[i], trained[i]));
  ASSERT_TRUE(tuned->Run().ok());
  std::set<const void*> on_path;
  const Architecture path = *base.space->Parse(arch);
  for (const auto& p : tuned->supernet()->PathParameters(path)) on_path.insert(p.unsafeGetTensorImpl());
  const auto after = tuned->supernet()->parameters();
  int changed = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    const bool same = torch::equal(after[i], trained[i]);
    if (on_path.count(after[i].unsafeGetTensorImpl())) {
      changed += !same;
    } else {
      EXPECT_TRUE(same) << "a parameter off the fine-tuned path changed";
    }
  }
  EXPECT_GT(changed, 10);
  // Validation accuracy of the path, at least after the last step, in metrics.jsonl.
  {
    std::ifstream metrics(dir + "/straight/metrics.jsonl");
    std::string line, last_validation;
    while (std::getline(metrics, line)) {
      if (line.find("validation_accuracy") != std::string::npos) last_validation = line;
    }
    ASSERT_FALSE(last_validation.empty());
    const nlohmann::json v = nlohmann::json::parse(last_validation);
    EXPECT_EQ(v["step"].get<int64_t>(), 4);
    EXPECT_GE(v["validation_accuracy"].get<double>(), 0.0);
    EXPECT_LE(v["validation_accuracy"].get<double>(), 1.0);
  }

  auto first = run(dir + "/interrupted", false, /*stop_after=*/1);
  ASSERT_TRUE(first->Run().ok());
  first.reset();
  auto resumed = run(dir + "/interrupted", true, -1);
  EXPECT_EQ(resumed->step(), 1);
  ASSERT_TRUE(resumed->Run().ok());
  const auto b = resumed->supernet()->parameters();
  for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(torch::equal(after[i], b[i])) << "parameter " << i;

  // Another space's checkpoint is refused.
  TrainOptions options;
  options.out_dir = dir + "/other";
  options.init_from = checkpoint;
  TrainConfig other = *config;
  other.space_yaml += "\n# changed\n";
  EXPECT_THAT(std::string(Trainer::Create(other, options).status().message()), HasSubstr("different search space"));
}

// Distillation from the frozen supernet: needs a teacher; weight 0 trains exactly as
// without it (so the teacher changes nothing else); a positive weight changes the
// training; resumes stay exact.
TEST(TrainerTest, DistillationFromTheSupernet) {
  const std::string dir = nas::testing::FreshTempDir("distill");
  auto supernet = MakeTrainer(TinyConfig(dir), dir + "/supernet", false);
  ASSERT_TRUE(supernet->Run().ok());
  const std::string checkpoint = supernet->checkpoint_path();
  const TrainConfig base = supernet->config();
  const std::string arch = base.space->Format(base.space->MinFlops().arch);
  const auto config = [&](const std::string& distillation) {
    absl::StatusOr<TrainConfig> c = MakeFineTuneConfig(
        base.yaml, base.source, base.space_yaml,
        "training: {seed: 5, batch_size: 32, steps: 3, checkpoint_every: 2, log_every: 1}\n" + distillation, "ft.yaml",
        arch);
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  };
  const auto train = [&](const TrainConfig& c, const std::string& out, bool resume, int64_t stop_after) {
    TrainOptions options;
    options.out_dir = out;
    options.resume = resume;
    options.threads = 1;
    options.stop_after_steps = stop_after;
    options.init_from = checkpoint;
    options.teacher_checkpoint = checkpoint;
    absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(c, options);
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return std::vector<torch::Tensor>{};
    EXPECT_TRUE((*t)->Run().ok());
    return (*t)->supernet()->parameters();
  };
  const auto equal = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!torch::equal(a[i], b[i])) return false;
    }
    return true;
  };
  const std::vector<torch::Tensor> plain = train(config(""), dir + "/plain", false, -1);
  EXPECT_TRUE(equal(plain, train(config("distillation: {teacher: largest, weight: 0}\n"), dir + "/w0", false, -1)));
  const TrainConfig distilling = config("distillation: {teacher: largest, weight: 0.7, temperature: 3}\n");
  const std::vector<torch::Tensor> distilled = train(distilling, dir + "/w07", false, -1);
  ASSERT_FALSE(distilled.empty());
  EXPECT_FALSE(equal(plain, distilled));
  EXPECT_FALSE(equal(distilled, train(config("distillation: {teacher: same, weight: 0.7, temperature: 3}\n"),
                                      dir + "/same", false, -1)));
  train(distilling, dir + "/cut", false, /*stop_after=*/1);
  EXPECT_TRUE(equal(distilled, train(distilling, dir + "/cut", true, -1)));

  // No teacher, or a bad field: clear errors.
  TrainOptions options;
  options.out_dir = dir + "/no-teacher";
  EXPECT_THAT(std::string(Trainer::Create(distilling, options).status().message()),
              HasSubstr("distillation: needs a trained supernet"));
  EXPECT_THAT(std::string(MakeFineTuneConfig(base.yaml, base.source, base.space_yaml,
                                             "distillation: {teacher: biggest}\n", "ft.yaml", arch)
                              .status()
                              .message()),
              HasSubstr("teacher"));
  EXPECT_THAT(std::string(MakeFineTuneConfig(base.yaml, base.source, base.space_yaml,
                                             "distillation: {teacher: same, weight: 2}\n", "ft.yaml", arch)
                              .status()
                              .message()),
              HasSubstr("weight"));
}

// The temporal ensemble's targets and loss, against values computed by hand.
TEST(EnsembleTargetsTest, TargetsAndLossByHand) {
  const double momentum = 0.5, weight = 0.25, t = 2.0;
  EnsembleTargets targets(/*images=*/4, momentum, weight, t, torch::kCPU);
  const torch::Tensor labels = torch::tensor({0, 2}, torch::kInt64);
  const torch::Tensor logits = torch::tensor({{1.0f, 0.0f, -1.0f}, {0.5f, 0.5f, 2.0f}});
  // Before any update: plain cross-entropy.
  const auto ce = [](const std::vector<double>& z, int label) {
    double sum = 0;
    for (double v : z) sum += std::exp(v);
    return std::log(sum) - z[label];
  };
  const double ce0 = ce({1, 0, -1}, 0), ce1 = ce({0.5, 0.5, 2}, 2);
  EXPECT_NEAR(targets.Loss(logits, labels, torch::tensor({1, 2}, torch::kInt64), 0).item<double>(), (ce0 + ce1) / 2,
              1e-6);
  // Image 1 visited twice by two paths each (their softmax at T averaged), image 3 once.
  const auto softmax_t = [&](const std::vector<double>& z) {
    std::vector<double> p;
    double sum = 0;
    for (double v : z) sum += std::exp(v / t);
    for (double v : z) p.push_back(std::exp(v / t) / sum);
    return p;
  };
  targets.Update({torch::tensor({{2.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 4.0f}}),
                  torch::tensor({{0.0f, 2.0f, 0.0f}, {0.0f, 0.0f, 0.0f}})},
                 torch::tensor({1, 3}, torch::kInt64));
  targets.Update({torch::tensor({{0.0f, 0.0f, 6.0f}})}, torch::tensor({1}, torch::kInt64));
  EXPECT_TRUE(torch::equal(targets.seen(), torch::tensor({0.0f, 2.0f, 0.0f, 1.0f})));
  std::vector<double> sum1(3, 0.0);
  const std::vector<double> a = softmax_t({2, 0, 0}), b = softmax_t({0, 2, 0}), c = softmax_t({0, 0, 6});
  for (int k = 0; k < 3; ++k) sum1[k] = momentum * ((1 - momentum) * (a[k] + b[k]) / 2) + (1 - momentum) * c[k];
  const double correction = 1 - momentum * momentum;
  // Image 1 has a target, image 2 none: loss = mean of (1-w) ce + w T^2 KL and plain ce.
  const std::vector<double> q = softmax_t({1, 0, -1});
  double kl = 0;
  for (int k = 0; k < 3; ++k) {
    const double target = sum1[k] / correction;
    kl += target * (std::log(target) - std::log(q[k]));
  }
  const double expected = ((1 - weight) * ce0 + weight * t * t * kl + ce1) / 2;
  EXPECT_NEAR(targets.Loss(logits, labels, torch::tensor({1, 2}, torch::kInt64), 0).item<double>(), expected, 1e-6);
}

// Self-distillation in supernet training: it changes training, counts every image's
// visits in the checkpoint, resumes exactly, and refuses what it cannot do.
TEST(TrainerTest, EnsembleDistillationCountsVisitsAndResumesExactly) {
  const std::string dir = nas::testing::FreshTempDir("ensemble");
  WriteFileAtomically(dir + "/tiny_space.yaml", kTinySpace).IgnoreError();
  const auto config = [&](const std::string& name, const std::string& sampler, const std::string& distillation) {
    const std::string path = dir + "/" + name + ".yaml";
    WriteFileAtomically(path, R"(space: tiny_space.yaml
data: {dataset: fashion_mnist, validation_size: 128, train_limit: 64}
training: {seed: 3, batch_size: 32, steps: 8, checkpoint_every: 2, log_every: 1}
optimizer: {lr: 0.05, momentum: 0.9}
sampler: {kind: )" + sampler + "}\n" + distillation)
        .IgnoreError();
    return path;
  };
  const std::string plain = config("plain", "uniform", "");
  const std::string distilling =
      config("ensemble", "uniform", "distillation: {teacher: ensemble, weight: 0.9, temperature: 2, momentum: 0.6}\n");
  auto a = MakeTrainer(plain, dir + "/plain", false);
  auto b = MakeTrainer(distilling, dir + "/full", false);
  ASSERT_TRUE(a->Run().ok());
  ASSERT_TRUE(b->Run().ok());
  const std::vector<torch::Tensor> pa = a->supernet()->parameters(), pb = b->supernet()->parameters();
  // The first epoch (2 steps) has no targets yet, so the runs only part after it.
  bool differ = false;
  for (size_t i = 0; i < pa.size(); ++i) differ |= !torch::equal(pa[i], pb[i]);
  EXPECT_TRUE(differ);

  absl::StatusOr<CheckpointContents> contents = ReadCheckpoint(b->checkpoint_path());
  ASSERT_TRUE(contents.ok()) << contents.status();
  torch::serialize::InputArchive archive;
  std::istringstream is(contents->optimizer);
  archive.load_from(is);
  torch::Tensor seen, sums;
  ASSERT_TRUE(archive.try_read("ensemble_seen", seen, true));
  ASSERT_TRUE(archive.try_read("ensemble_sums", sums, true));
  // 64 training images, 8 steps of 32: each one visited 4 times, the others never.
  const std::vector<int64_t>& train = b->data().train_indices;
  ASSERT_EQ(train.size(), 64u);
  EXPECT_EQ(seen.sum().item<double>(), 256.0);
  for (int64_t i : train) EXPECT_EQ(seen[i].item<double>(), 4.0) << i;
  EXPECT_EQ(sums.size(1), 10);
  EXPECT_NEAR(sums[train[0]].sum().item<double>(), 1 - std::pow(0.6, 4), 1e-5);  // Uncorrected weights.

  // Stopped after 3 steps (mid-epoch, targets in use) and resumed: the same weights.
  auto cut = MakeTrainer(distilling, dir + "/cut", false, /*stop_after=*/3);
  ASSERT_TRUE(cut->Run().ok());
  auto resumed = MakeTrainer(distilling, dir + "/cut", true);
  ASSERT_TRUE(resumed->Run().ok());
  const std::vector<torch::Tensor> pr = resumed->supernet()->parameters();
  for (size_t i = 0; i < pb.size(); ++i) EXPECT_TRUE(torch::equal(pb[i], pr[i])) << i;

  // Fine-tuning a pick of this supernet does not inherit its distillation.
  const TrainConfig& base = b->config();
  absl::StatusOr<TrainConfig> ft = MakeFineTuneConfig(base.yaml, base.source, base.space_yaml, "", "ft.yaml",
                                                      base.space->Format(base.space->MinFlops().arch));
  ASSERT_TRUE(ft.ok()) << ft.status();
  EXPECT_FALSE(ft->distillation.enabled());

  // Errors: the sandwich sampler, momentum without the ensemble.
  TrainOptions options;
  options.out_dir = dir + "/bad";
  absl::StatusOr<TrainConfig> sandwich =
      LoadTrainConfig(config("sandwich", "sandwich", "distillation: {teacher: ensemble}\n"));
  ASSERT_TRUE(sandwich.ok()) << sandwich.status();
  EXPECT_THAT(std::string(Trainer::Create(*sandwich, options).status().message()), HasSubstr("sandwich"));
  EXPECT_THAT(
      std::string(
          LoadTrainConfig(config("m", "uniform", "distillation: {teacher: largest, momentum: 0.5}\n")).status().message()),
      HasSubstr("distillation.momentum: only for teacher: ensemble"));
  EXPECT_THAT(
      std::string(
          LoadTrainConfig(config("m1", "uniform", "distillation: {teacher: ensemble, momentum: 1}\n")).status().message()),
      HasSubstr("momentum"));
}

TEST(TrainerTest, RefusesToOverwriteAnExistingRun) {
  const std::string dir = nas::testing::FreshTempDir("overwrite");
  const std::string config = TinyConfig(dir);
  auto first = MakeTrainer(config, dir + "/out", false, 1);
  ASSERT_TRUE(first->Run().ok());
  absl::StatusOr<TrainConfig> c = LoadTrainConfig(config);
  TrainOptions options;
  options.out_dir = dir + "/out";
  auto second = Trainer::Create(*c, options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("--resume"));
}

TEST(CheckpointTest, CorruptedOrTruncatedCheckpointsGiveClearErrors) {
  const std::string dir = nas::testing::FreshTempDir("corrupt");
  auto trainer = MakeTrainer(TinyConfig(dir), dir + "/out", false, 2);
  ASSERT_TRUE(trainer->Run().ok());
  const std::string path = trainer->checkpoint_path();
  const std::string good = *ReadFileBytes(path);
  ASSERT_TRUE(ReadCheckpoint(path).ok());

  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  ASSERT_TRUE(WriteFileAtomically(path, flipped).ok());
  EXPECT_THAT(std::string(ReadCheckpoint(path).status().message()), HasSubstr("checksum mismatch"));

  for (size_t keep : {size_t{0}, size_t{5}, size_t{30}, good.size() / 3, good.size() - 1}) {
    ASSERT_TRUE(WriteFileAtomically(path, good.substr(0, keep)).ok());
    absl::StatusOr<CheckpointContents> read = ReadCheckpoint(path);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << keep;
    EXPECT_THAT(std::string(read.status().message()), HasSubstr(path));
  }
  ASSERT_TRUE(WriteFileAtomically(path, "NASCKPT1" + std::string(100, '\xff')).ok());
  EXPECT_EQ(ReadCheckpoint(path).status().code(), absl::StatusCode::kDataLoss);

  // Resuming from the damaged file fails cleanly and leaves it as it was.
  absl::StatusOr<TrainConfig> c = LoadTrainConfig(dir + "/train.yaml");
  TrainOptions options;
  options.out_dir = dir + "/out";
  options.resume = true;
  EXPECT_EQ(Trainer::Create(*c, options).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(*ReadFileBytes(path), "NASCKPT1" + std::string(100, '\xff'));
  EXPECT_EQ(ReadCheckpoint(dir + "/nothing.nasckpt").status().code(), absl::StatusCode::kNotFound);
}

TEST(EvaluatorTest, ExtractedSubnetMatchesTheSupernetPathOnRealImages) {
  const std::string dir = nas::testing::FreshTempDir("extract");
  auto trainer = MakeTrainer(TinyConfig(dir), dir + "/out", false);
  ASSERT_TRUE(trainer->Run().ok());
  absl::StatusOr<TrainedSupernet> trained = LoadTrainedSupernet(trainer->checkpoint_path(), torch::kCPU);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->step, 6);
  auto evaluator = MakeEvaluator(*trained, EvalSplit::kValidation, torch::kCPU);
  const SearchSpace& space = *trained->config.space;
  Rng rng(5);
  for (int i = 0; i < 3; ++i) {
    const Architecture arch = space.Sample(rng);
    BnStatistics stats;
    absl::StatusOr<EvalResult> inherited = evaluator->Evaluate(arch, &stats);
    ASSERT_TRUE(inherited.ok());
    EXPECT_EQ(inherited->images, 128);
    absl::StatusOr<Supernet> subnet = ExtractSubnet(*trained->net, arch, &stats);
    ASSERT_TRUE(subnet.ok());
    (*subnet)->eval();
    const EvalResult standalone = evaluator->EvaluateStandalone(**subnet, arch);
    EXPECT_NEAR(standalone.loss, inherited->loss, 1e-5);
    EXPECT_EQ(standalone.accuracy, inherited->accuracy);
    // Max abs difference of logits on a real batch.
    BatchLoader loader(trained->data.test_set, {0, 1, 2, 3, 4, 5, 6, 7}, 8, {}, false, 0);
    const Batch batch = loader.Get(0, 0);
    torch::NoGradGuard no_grad;
    ForwardContext ctx{BnMode::kEval, &stats};
    const torch::Tensor expected = trained->net->Forward(batch.images, arch, ctx);
    const torch::Tensor got = (*subnet)->forward(batch.images, arch);
    EXPECT_LE((got - expected).abs().max().item<double>(), 1e-5);
  }
  // Evaluations in parallel threads agree with sequential ones.
  const Architecture a = space.Sample(rng), b = space.Sample(rng);
  const double acc_a = evaluator->Evaluate(a)->loss, acc_b = evaluator->Evaluate(b)->loss;
  double par_a = 0, par_b = 0;
  std::thread ta([&] { par_a = evaluator->Evaluate(a)->loss; });
  std::thread tb([&] { par_b = evaluator->Evaluate(b)->loss; });
  ta.join();
  tb.join();
  EXPECT_EQ(acc_a, par_a);
  EXPECT_EQ(acc_b, par_b);
}

TEST(TrainerTest, SandwichTrainsFourPathsPerStep) {
  const std::string dir = nas::testing::FreshTempDir("sandwich");
  auto trainer = MakeTrainer(TinyConfig(dir, "sandwich", ", grad_clip_norm: 1.0"), dir + "/out", false, 2);
  EXPECT_EQ(trainer->sampler().Sample(0).size(), 4u);
  absl::StatusOr<TrainSummary> summary = trainer->Run();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(std::isfinite(summary->final_loss_ema));
}

TEST(TrainerTest, LearningRateWarmsUpThenDecays) {
  const std::string dir = nas::testing::FreshTempDir("lr");
  auto trainer = MakeTrainer(TinyConfig(dir), dir + "/out", false);
  EXPECT_NEAR(trainer->LearningRate(0), 0.025, 1e-12);
  EXPECT_NEAR(trainer->LearningRate(1), 0.05, 1e-12);
  EXPECT_NEAR(trainer->LearningRate(2), 0.05, 1e-12);
  EXPECT_LT(trainer->LearningRate(5), trainer->LearningRate(3));
}

// Search-space shrinking at half the steps: the dropped option is gone from then on, the
// schedule starts again, the choice is kept in the checkpoint (a resumed run neither
// scores again nor trains the option), and runs resume bit for bit either side of it.
TEST(TrainerTest, ShrinkingDropsAnOptionRestartsTheScheduleAndResumesExactly) {
  const std::string dir = nas::testing::FreshTempDir("shrink");
  const std::string config = TinyConfig(dir);
  {
    std::ofstream out(config, std::ios::app);
    out << "shrink: {at: 0.5, drop: 1, archs: 6, images: 64, calibration_batches: 1}\n";
  }
  auto straight = MakeTrainer(config, dir + "/straight", false);
  ASSERT_NE(straight, nullptr);
  EXPECT_EQ(straight->shrink_step(), 3);
  // Two cycles: warm-up from step 0 and again from step 3.
  EXPECT_NEAR(straight->LearningRate(0), 0.025, 1e-12);
  EXPECT_NEAR(straight->LearningRate(3), 0.025, 1e-12);
  EXPECT_NEAR(straight->LearningRate(4), 0.05, 1e-12);
  ASSERT_TRUE(straight->Run().ok());
  absl::StatusOr<std::string> report = ReadFileBytes(dir + "/straight/shrink.json");
  ASSERT_TRUE(report.ok()) << report.status();
  const nlohmann::json shrink = nlohmann::json::parse(*report);
  EXPECT_EQ(shrink.at("step").get<int64_t>(), 3);
  EXPECT_EQ(shrink.at("archs").get<int64_t>(), 6);
  const std::vector<std::string> dropped = shrink.at("dropped").get<std::vector<std::string>>();
  ASSERT_EQ(dropped.size(), 1u);
  // The worst-scored option is the one dropped.
  EXPECT_EQ(shrink.at("options")[0].at("option").get<std::string>(), dropped[0]);
  const SearchSpace& space = *straight->config().space;
  for (int64_t step = 3; step < 40; ++step) {
    for (const Architecture& a : straight->sampler().Sample(step)) {
      for (size_t g = 0; g < a.genes.size(); ++g) EXPECT_NE(space.genes()[g].options[a.genes[g]], dropped[0]);
    }
  }
  // The checkpoint says what the supernet did not train at the end.
  absl::StatusOr<TrainedSupernet> trained = LoadTrainedSupernet(dir + "/straight/checkpoint.nasckpt", torch::kCPU);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->config.sampler.exclude, dropped);

  for (const int64_t stop : {2, 4}) {  // Interrupted before and after shrinking.
    const std::string out = dir + "/stopped" + std::to_string(stop);
    ASSERT_TRUE(MakeTrainer(config, out, false, stop)->Run().ok());
    auto resumed = MakeTrainer(config, out, true);
    ASSERT_NE(resumed, nullptr);
    ASSERT_TRUE(resumed->Run().ok());
    const auto a = straight->supernet()->parameters(), b = resumed->supernet()->parameters();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "stopped at " << stop;
    nlohmann::json again = nlohmann::json::parse(*ReadFileBytes(out + "/shrink.json")), first = shrink;
    again.erase("seconds");
    first.erase("seconds");
    EXPECT_EQ(again, first) << "stopped at " << stop;
  }
}

TEST(TrainConfigTest, BadFieldsAreNamed) {
  const std::string dir = nas::testing::FreshTempDir("badconfig");
  const std::string good = *ReadFileBytes(TinyConfig(dir));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"batch_size: 32", "batch_size: 0"},
      {"kind: cosine", "kind: exponential"},
      {"dataset: fashion_mnist", "dataset: imagenet"},
      {"kind: uniform", "kind: greedy"},
      {"lr: 0.05", "lr: -1"},
      {"seed: 3", "seed: 3, epoch: 4"},
      {"kind: uniform", "kind: uniform, restrict: {gene: 4, option: 0}"},
      {"kind: uniform", "kind: uniform, restrict: {gene: 1, option: 4}"},
      {"kind: uniform", "kind: uniform, restrict: {gene: 1}"},
      {"kind: uniform", "kind: uniform, exclude: [conv_9x9]"},
      {"kind: uniform", "kind: uniform, exclude: 3"},
      {"schedule:", "shrink: {at: 1.5}\nschedule:"},
      {"schedule:", "shrink: {at: 0.5, score: q100}\nschedule:"},
      {"schedule:", "shrink: {drop: 1}\nschedule:"},
      {"sampler: {kind: uniform, num_bins: 4, update_every: 2}",
       "sampler: {kind: fixed, arch: 'shuffle3x3,shuffle3x3,shuffle3x3,shuffle3x3'}\nshrink: {at: 0.5}"},
  };
  const std::vector<std::string> expected = {
      "train.yaml:3: training.batch_size: 0 is out of range",
      "schedule.kind: 'exponential' is not one of cosine, linear, constant",
      "data.dataset: 'imagenet' is not one of",
      "sampler.kind: 'greedy' is not one of",
      "optimizer.lr: -1 is out of range",
      "training.epoch: unknown key 'epoch'",
      "sampler.restrict.gene: 4 is out of range",
      "sampler.restrict.option: 4 is out of range",
      "sampler.restrict: missing required key 'option'",
      "sampler.exclude: 'conv_9x9' is not an option of any gene",
      "sampler.exclude: expected a non-empty list",
      "shrink.at: 1.5 is out of range",
      "shrink.score: 'q100' is not mean or qNN",
      "shrink: missing required key 'at'",
      "shrink: not with the fixed sampler",
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string yaml = good;
    yaml.replace(yaml.find(cases[i].first), cases[i].first.size(), cases[i].second);
    absl::StatusOr<TrainConfig> c = ParseTrainConfig(yaml, "train.yaml", dir);
    ASSERT_FALSE(c.ok()) << cases[i].second;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(expected[i]));
  }
}

}  // namespace
}  // namespace nas::supernet
