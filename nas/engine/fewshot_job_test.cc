// Few-shot supernets: sub-supernets inherit the one-shot weights exactly, train only
// their option's paths, resume, and the evaluator routes each architecture to its own.
#include "nas/engine/fewshot_job.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "search/supernet_evaluator.h"
#include "supernet/few_shot.h"
#include "supernet/file_util.h"
#include "supernet/trained_supernet.h"
#include "supernet/trainer.h"
#include "tests/test_paths.h"

namespace nas::engine {
namespace {

using ::testing::HasSubstr;

constexpr char kTinySpace[] = R"(name: tiny_fewshot
type: shufflenet_oneshot
input: {size: 28, channels: 1}
num_classes: 10
stem: {channels: 8, kernel_size: 3, stride: 2}
stages:
  - {layers: 2, channels: 16, stride: 2}
head: {channels: 32}
)";

// Trains the one-shot parent (3 steps) and returns its checkpoint.
std::string TrainParent(const std::string& dir) {
  WriteFileAtomically(dir + "/space.yaml", kTinySpace).IgnoreError();
  WriteFileAtomically(dir + "/train.yaml", R"(space: space.yaml
data: {dataset: fashion_mnist, validation_size: 128, train_limit: 256}
training: {seed: 3, batch_size: 32, steps: 3, checkpoint_every: 2, log_every: 1}
optimizer: {lr: 0.05}
sampler: {kind: uniform}
evaluation: {calibration_batches: 1, calibration_batch_size: 64, batch_size: 64}
)")
      .IgnoreError();
  absl::StatusOr<supernet::TrainConfig> config = supernet::LoadTrainConfig(dir + "/train.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  supernet::TrainOptions options;
  options.out_dir = dir + "/parent";
  options.threads = 1;
  auto trainer = supernet::Trainer::Create(*config, options);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_TRUE((*trainer)->Run().ok());
  return dir + "/parent/checkpoint.nasckpt";
}

supernet::Architecture Arch(int g0, int g1) { return supernet::Architecture{{g0, g1}}; }

TEST(FewShotTest, SubSupernetsInheritTheWeightsAndTheEvaluatorRoutesByOption) {
  const std::string dir = nas::testing::FreshTempDir("fewshot");
  const std::string parent = TrainParent(dir);
  FewShotJob job;
  job.checkpoint = parent;
  job.gene = 0;
  job.steps = 2;
  job.out_dir = dir + "/fs";
  job.stop_after = 3;  // Interrupted inside the second sub-supernet.
  ProgressSink quiet;
  absl::StatusOr<FewShotResult> first = RunFewShotJob(job, quiet);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->finished);
  EXPECT_FALSE(std::filesystem::exists(dir + "/fs/fewshot.json"));  // Only once all are trained.
  // Passed as a checkpoint meanwhile, the folder says what it is and how to finish it.
  EXPECT_THAT(
      std::string(supernet::LoadTrainedSupernet(dir + "/fs", torch::kCPU).status().message()),
      HasSubstr("unfinished few-shot split"));
  job.stop_after = -1;
  absl::StatusOr<FewShotResult> second = RunFewShotJob(job, quiet);  // Continues.
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->finished);
  EXPECT_EQ(second->children.size(), 3u);  // Options 1 (resumed), 2, 3.
  EXPECT_EQ(second->children[0].resumed_from_step(), 1);

  absl::StatusOr<supernet::FewShotManifest> manifest = supernet::ReadFewShotManifest(dir + "/fs");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ASSERT_EQ(manifest->children.size(), 4u);  // The ShuffleNet block choices.
  EXPECT_EQ(manifest->gene, 0);
  EXPECT_EQ(manifest->steps, 2);
  EXPECT_DOUBLE_EQ(manifest->lr, 0.05);  // The config's.

  absl::StatusOr<supernet::TrainedSupernet> one_shot =
      supernet::LoadTrainedSupernet(parent, torch::kCPU);
  ASSERT_TRUE(one_shot.ok()) << one_shot.status();
  const auto parent_params = one_shot->net->parameters();
  for (int k = 0; k < 4; ++k) {
    absl::StatusOr<supernet::TrainedSupernet> child =
        supernet::LoadTrainedSupernet(manifest->children[k].checkpoint, torch::kCPU);
    ASSERT_TRUE(child.ok()) << child.status();
    EXPECT_EQ(child->step, 2);
    EXPECT_EQ(child->config.sampler.restrict_gene, 0);
    EXPECT_EQ(child->config.sampler.restrict_option, k);
    // The parameters of the split gene's other options: never sampled, so exactly the
    // one-shot supernet's; the child's own option trained.
    std::set<const void*> own;
    for (const auto& p : child->net->PathParameters(Arch(k, 0)))
      own.insert(p.unsafeGetTensorImpl());
    const auto params = child->net->parameters();
    ASSERT_EQ(params.size(), parent_params.size());
    std::map<const void*, size_t> index;
    for (size_t i = 0; i < params.size(); ++i) index[params[i].unsafeGetTensorImpl()] = i;
    int other_options = 0, own_changed = 0;
    for (int j = 0; j < 4; ++j) {
      if (j == k) continue;
      for (const auto& p : child->net->PathParameters(Arch(j, 0))) {
        if (own.count(p.unsafeGetTensorImpl())) continue;  // Shared with option k's path.
        const size_t i = index.at(p.unsafeGetTensorImpl());
        EXPECT_TRUE(torch::equal(params[i], parent_params[i]))
            << "option " << j << " changed in sub-supernet " << k;
        ++other_options;
      }
    }
    for (const auto& p : child->net->PathParameters(Arch(k, 0))) {
      const size_t i = index.at(p.unsafeGetTensorImpl());
      own_changed += !torch::equal(params[i], parent_params[i]);
    }
    EXPECT_GT(other_options, 0);
    EXPECT_GT(own_changed, 0) << "sub-supernet " << k << " did not train";
  }

  // Routing: the folder evaluates each architecture exactly as its sub-supernet does.
  search::SupernetEvaluator::Options eo;
  auto few = search::SupernetEvaluator::Load(dir + "/fs", torch::kCPU, eo);
  ASSERT_TRUE(few.ok()) << few.status();
  EXPECT_TRUE((*few)->few_shot());
  EXPECT_THAT((*few)->id(), HasSubstr("fewshot:"));
  bool routing_matters = false;
  for (int k = 0; k < 4; ++k) {
    auto sub = search::SupernetEvaluator::Load(manifest->children[k].checkpoint, torch::kCPU, eo);
    auto other = search::SupernetEvaluator::Load(manifest->children[(k + 1) % 4].checkpoint,
                                                 torch::kCPU, eo);
    ASSERT_TRUE(sub.ok() && other.ok());
    EXPECT_FALSE((*sub)->few_shot());
    const supernet::Architecture a = Arch(k, 3 - k);
    absl::StatusOr<supernet::EvalResult> routed = (*few)->Evaluate(a), direct = (*sub)->Evaluate(a),
                                         wrong = (*other)->Evaluate(a);
    ASSERT_TRUE(routed.ok() && direct.ok() && wrong.ok());
    EXPECT_EQ(routed->loss, direct->loss);
    EXPECT_EQ(routed->accuracy, direct->accuracy);
    routing_matters = routing_matters || routed->loss != wrong->loss;
    EXPECT_EQ(&(*few)->TrainedFor(a), &(*few)->TrainedFor(Arch(k, 0)));
    absl::StatusOr<std::string> ckpt =
        CheckpointFor(dir + "/fs", (*few)->space().Format(a), "arch");
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    EXPECT_EQ(*ckpt, manifest->children[k].checkpoint);
  }
  EXPECT_TRUE(routing_matters);
  EXPECT_EQ(*CheckpointFor(parent, "largest", "arch"), parent);  // A plain checkpoint is itself.

  // A finished split is not trained again; another split is refused in the same folder.
  absl::StatusOr<FewShotResult> again = RunFewShotJob(job, quiet);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->finished);
  EXPECT_TRUE(again->children.empty());
  job.steps = 5;
  EXPECT_THAT(std::string(RunFewShotJob(job, quiet).status().message()), HasSubstr("out_dir: "));
}

TEST(FewShotTest, BadRequestsNameTheField) {
  const std::string dir = nas::testing::FreshTempDir("fewshot_bad");
  const std::string parent = TrainParent(dir);
  ProgressSink quiet;
  FewShotJob job;
  job.checkpoint = parent;
  job.steps = 1;
  job.out_dir = dir + "/fs";
  job.gene = 2;
  EXPECT_THAT(std::string(RunFewShotJob(job, quiet).status().message()),
              HasSubstr("gene: must be in [0, 1]"));
  job.gene = 0;
  job.steps = 0;
  EXPECT_THAT(std::string(RunFewShotJob(job, quiet).status().message()),
              HasSubstr("steps: must be at least 1"));
  job.steps = 1;
  job.checkpoint = dir + "/missing.nasckpt";
  EXPECT_THAT(std::string(RunFewShotJob(job, quiet).status().message()), HasSubstr("checkpoint: "));
  job.checkpoint = parent;
  job.out_dir = dir + "/parent";  // A folder with other files.
  EXPECT_THAT(std::string(RunFewShotJob(job, quiet).status().message()),
              HasSubstr("not a few-shot folder"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/fs"));  // Nothing written by a refused request.
}

}  // namespace
}  // namespace nas::engine
