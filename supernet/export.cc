#include "supernet/export.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/script.h>

#include <chrono>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "supernet/file_util.h"

namespace nas::supernet {
namespace {

// Traces the eval-mode forward of `subnet` for input shape `example` into a TorchScript
// module whose weights are constants of its graph.
absl::StatusOr<torch::jit::Module> Trace(SupernetImpl& subnet, const Architecture& arch,
                                         const torch::Tensor& example) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : subnet.parameters()) p.set_requires_grad(false);
  auto fn = [&](torch::jit::Stack in) -> torch::jit::Stack {
    ForwardContext ctx;
    ctx.mode = BnMode::kEval;
    return {subnet.Forward(in[0].toTensor(), arch, ctx)};
  };
  std::shared_ptr<torch::jit::tracer::TracingState> state;
  try {
    state = torch::jit::tracer::trace({example}, fn, [](const torch::autograd::Variable&) { return std::string(); },
                                      /*strict=*/false, /*force_outplace=*/false)
                .first;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("tracing the subnet failed: ", e.what()));
  }
  torch::jit::Module module("__torch__.nas.Subnet");
  std::shared_ptr<torch::jit::Graph> graph = state->graph;
  graph->insertInput(0, "self")->setType(module._ivalue()->type());
  torch::jit::Function* forward = module._ivalue()->compilation_unit()->create_function("forward", graph);
  module.type()->addMethod(forward);
  return module;
}

}  // namespace

absl::StatusOr<nlohmann::json> ExportSubnet(const TrainedSupernet& trained, const Architecture& arch,
                                            const std::string& dir, const ExportOptions& options) {
  const SearchSpace& space = *trained.config.space;
  if (absl::Status s = space.Validate(arch); !s.ok()) return absl::InvalidArgumentError(absl::StrCat("arch: ", s.message()));
  if (options.batch_size < 1 || options.batch_size > 4096) return absl::InvalidArgumentError("batch_size: must be in [1, 4096]");
  const auto start = std::chrono::steady_clock::now();
  const auto stop = [&] { return options.cancelled && options.cancelled(); };
  const absl::Status cancelled_status = absl::CancelledError("the export was cancelled; nothing was written");
  const torch::Device device = torch::kCPU;
  std::unique_ptr<Evaluator> val = MakeEvaluator(trained, EvalSplit::kValidation, device);
  BnStatistics stats;
  if (absl::Status s = val->Calibrate(arch, &stats); !s.ok()) return s;
  if (stop()) return cancelled_status;
  absl::StatusOr<Supernet> subnet = ExtractSubnet(*trained.net, arch, &stats);
  if (!subnet.ok()) return subnet.status();
  (*subnet)->eval();
  const int64_t c = space.input_channels(), hw = space.input_size();
  absl::StatusOr<torch::jit::Module> module = Trace(**subnet, arch, torch::zeros({options.batch_size, c, hw, hw}));
  if (!module.ok()) return module.status();

  // The bundle is written and checked in a staging directory, then put at `dir` in one
  // step: a crash never leaves a mix of an old and a new bundle's files.
  absl::StatusOr<std::string> staging_dir = MakeStagingDirectory(dir);
  if (!staging_dir.ok()) return staging_dir.status();
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  } cleanup{*staging_dir};
  const std::string& staging = *staging_dir;
  // torch::jit saves to a stream; the bytes then go through the atomic writer.
  std::ostringstream bytes;
  module->save(bytes);
  if (absl::Status s = WriteFileAtomically(staging + "/subnet.pt", bytes.str()); !s.ok()) return s;
  std::vector<torch::Tensor> bn;
  for (const auto& item : (*subnet)->named_buffers()) {
    if (absl::EndsWith(item.key(), "running_mean") || absl::EndsWith(item.key(), "running_var")) {
      bn.push_back(item.value().clone());
    }
  }
  std::ostringstream bn_bytes;
  torch::save(bn, bn_bytes);
  if (absl::Status s = WriteFileAtomically(staging + "/bn_stats.pt", bn_bytes.str()); !s.ok()) return s;

  // Reload what was written and check it against the supernet path on real images.
  torch::jit::Module loaded;
  try {
    loaded = torch::jit::load(staging + "/subnet.pt");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(staging, "/subnet.pt: reloading failed: ", e.what()));
  }
  loaded.eval();
  torch::NoGradGuard no_grad;
  BatchLoader check_loader(trained.data.train_set, trained.data.validation_indices, options.batch_size, AugmentOptions{},
                           /*shuffle=*/false, 0);
  double max_abs_diff = 0;
  for (int64_t b = 0; b < std::min<int64_t>(4, check_loader.batches_per_epoch()); ++b) {
    if (stop()) return cancelled_status;
    const Batch batch = check_loader.Get(0, b);
    if (batch.images.size(0) != options.batch_size) break;
    ForwardContext ctx;
    ctx.mode = BnMode::kEval;
    ctx.stats = &stats;
    const torch::Tensor expected = trained.net->Forward(batch.images, arch, ctx);
    const torch::Tensor got = loaded.forward({batch.images}).toTensor();
    max_abs_diff = std::max(max_abs_diff, (expected - got).abs().max().item<double>());
  }
  if (max_abs_diff > 1e-4) {
    return absl::InternalError(absl::StrCat("the export's outputs differ from the supernet path's by ", max_abs_diff));
  }
  // The export's own test accuracy.
  int64_t correct = 0, seen = 0;
  if (options.verify_images > 0) {
    std::vector<int64_t> test(trained.data.test_set->size());
    for (size_t i = 0; i < test.size(); ++i) test[i] = static_cast<int64_t>(i);
    test = SpreadSubset(std::move(test), options.verify_images);
    BatchLoader test_loader(trained.data.test_set, test, options.batch_size, AugmentOptions{}, false, 0);
    for (int64_t b = 0; b < test_loader.batches_per_epoch(); ++b) {
      if (stop()) return cancelled_status;
      const Batch batch = test_loader.Get(0, b);
      if (batch.images.size(0) != options.batch_size) break;  // The module's batch size is fixed.
      const torch::Tensor logits = loaded.forward({batch.images}).toTensor();
      correct += logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
      seen += batch.images.size(0);
    }
  }
  const CostSummary cost = space.Cost(arch);
  const auto& dataset = *trained.data.train_set;
  nlohmann::json j = {
      {"space", space.name()},
      {"train_config_yaml", trained.config.yaml},
      {"arch", space.Format(arch)},
      {"checkpoint", trained.checkpoint},
      {"checkpoint_step", trained.step},
      {"input", {{"batch", options.batch_size}, {"channels", c}, {"height", hw}, {"width", hw}}},
      {"normalization", {{"mean", dataset.mean}, {"std", dataset.std}, {"scale", "x / 255, then (x - mean) / std"}}},
      {"classes", dataset.class_names},
      {"flops", cost.flops},
      {"params", cost.params},
      {"bn_recalibration", {{"batches", trained.config.evaluation.calibration_batches},
                            {"batch_size", trained.config.evaluation.calibration_batch_size}}},
      {"check", {{"max_abs_diff_vs_supernet_path", max_abs_diff}}},
      {"test_images", seen},
      {"test_accuracy", seen > 0 ? 100.0 * correct / seen : 0.0},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
      {"files", {"subnet.pt", "bn_stats.pt", "subnet.json"}}};
  if (absl::Status s = WriteFileAtomically(staging + "/subnet.json", j.dump(2) + "\n"); !s.ok()) return s;
  if (stop()) return cancelled_status;
  if (absl::Status s = ReplaceDirectoryAtomically(staging, dir); !s.ok()) return s;
  cleanup.path.clear();
  return j;
}

}  // namespace nas::supernet
