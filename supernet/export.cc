#include "supernet/export.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "supernet/file_util.h"
#include "supernet/inference_graph.h"
#include "supernet/layered_space.h"
#include "supernet/onnx_export.h"
#include "supernet/quantized_graph.h"

namespace nas::supernet {
namespace {

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Tolerances are relative to the largest logit when that exceeds 1.
double Scale(const torch::Tensor& reference) { return std::max(1.0, reference.abs().max().item<double>()); }

// Median wall time in milliseconds of `run` on one image, after warm-up; at most `runs`
// runs and about 3 seconds.
template <typename Fn>
double MedianMilliseconds(int runs, Fn run) {
  for (int i = 0; i < 3; ++i) run();
  std::vector<double> ms;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (static_cast<int>(ms.size()) < runs && (ms.empty() || std::chrono::steady_clock::now() < deadline)) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Refuses to replace anything at `dir` but a bundle, and a bundle without `force`.
absl::Status CheckDestination(const std::string& dir, bool force) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return absl::OkStatus();
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(dir, " exists and is not a bundle directory; nothing was written"));
  }
  const bool empty = std::filesystem::is_empty(dir, ec);
  if (!empty && !std::filesystem::exists(std::filesystem::path(dir) / "subnet.json", ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(dir, " holds files but no subnet.json (not a bundle); it is never replaced, choose another "
                          "output directory"));
  }
  if (!empty && !force) {
    return absl::AlreadyExistsError(
        absl::StrCat(dir, " already holds a bundle; set force (nas export --force) to replace it"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> ExportSubnet(const TrainedSupernet& trained, const Architecture& arch,
                                            const std::string& dir, const ExportOptions& options) {
  const SearchSpace& space = *trained.config.space;
  if (absl::Status s = space.Validate(arch); !s.ok()) return absl::InvalidArgumentError(absl::StrCat("arch: ", s.message()));
  bool quantized = options.int8;
  if (const auto* layered = dynamic_cast<const LayeredSpace*>(&space)) {
    for (int l = 0; l < static_cast<int>(layered->layers().size()); ++l) {
      quantized = quantized || layered->WeightBits(arch, l) < 32 || layered->ActivationBits(arch, l) < 32;
    }
  } else if (options.int8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "int8: post-training quantization covers the searched layers of layered spaces (ShuffleNet, MobileNetV2); ",
        space.name(), " has none"));
  }
  if (options.batch_size < 1 || options.batch_size > 4096) return absl::InvalidArgumentError("batch_size: must be in [1, 4096]");
  if (options.latency_runs < 0 || options.latency_runs > 10000) {
    return absl::InvalidArgumentError("latency_runs: must be in [0, 10000]");
  }
  if (absl::Status s = CheckDestination(dir, options.force); !s.ok()) return s;
  const auto start = std::chrono::steady_clock::now();
  const auto stop = [&] { return options.cancelled && options.cancelled(); };
  const absl::Status cancelled_status = absl::CancelledError("the export was cancelled; nothing was written");
  std::string engine;
  if (quantized) {
    absl::StatusOr<std::string> selected = SelectQuantizedEngine(options.qengine);
    if (!selected.ok()) return absl::Status(selected.status().code(), absl::StrCat("qengine: ", selected.status().message()));
    engine = *selected;
  }
  const torch::Device device = torch::kCPU;
  std::unique_ptr<Evaluator> val = MakeEvaluator(trained, EvalSplit::kValidation, device);
  BnStatistics stats;
  if (absl::Status s = val->Calibrate(arch, &stats); !s.ok()) return s;
  if (stop()) return cancelled_status;
  // Quantized exports: static input ranges of every convolution, calibrated on the BN
  // recalibration batches; the float graph is traced without fake quantization.
  QuantCalibration quant, float_trace;
  quant.uniform_bits = float_trace.uniform_bits = options.int8 ? 8 : 0;
  float_trace.mode = QuantCalibration::Mode::kFloat;
  if (quantized) {
    if (absl::Status s = val->CalibrateQuantization(arch, &stats, &quant); !s.ok()) return s;
  }
  absl::StatusOr<Supernet> subnet = ExtractSubnet(*trained.net, arch, &stats);
  if (!subnet.ok()) return subnet.status();
  (*subnet)->eval();
  const int64_t c = space.input_channels(), hw = space.input_size();
  absl::StatusOr<std::shared_ptr<torch::jit::Graph>> graph =
      TraceInference(**subnet, arch, torch::zeros({2, c, hw, hw}), quantized ? &float_trace : nullptr);
  if (!graph.ok()) return graph.status();
  torch::jit::Module unfolded = ModuleFromGraph(*graph);
  const int bn_layers = CountNodes(*graph, c10::Symbol::aten("batch_norm"));
  const int bn_folded = FoldBatchNorm(*graph);
  torch::jit::Module module = ModuleFromGraph(*graph);
  // The float network (folded) a quantized bundle is compared with.
  torch::jit::Module float_module = module;
  QuantizedModule converted;
  if (quantized) {
    absl::StatusOr<QuantizedModule> q = QuantizeGraph(*graph, quant);
    if (!q.ok()) return q.status();
    converted = *std::move(q);
    if (converted.int8_convolutions + converted.grid_convolutions == 0) {
      return absl::InvalidArgumentError("arch: no convolution runs below 32 bits; nothing to quantize");
    }
    module = converted.module;
  }

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
  module.save(bytes);
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
  std::vector<std::string> files = {"subnet.pt"};
  std::unique_ptr<OpenCvOnnxRunner> onnx;
  if (options.onnx && !quantized) {
    OnnxExportOptions oo;
    oo.doc = absl::StrCat(space.name(), " ", space.Format(arch));
    absl::StatusOr<std::string> model = GraphToOnnx(*graph, {1, c, hw, hw}, oo);
    if (!model.ok()) return model.status();
    if (absl::Status s = WriteFileAtomically(staging + "/subnet.onnx", *model); !s.ok()) return s;
    absl::StatusOr<std::string> written = ReadFileBytes(staging + "/subnet.onnx");
    if (!written.ok()) return written.status();
    absl::StatusOr<std::unique_ptr<OpenCvOnnxRunner>> runner = OpenCvOnnxRunner::Load(*written);
    if (!runner.ok()) return runner.status();
    onnx = *std::move(runner);
    files.push_back("subnet.onnx");
  }
  files.push_back("bn_stats.pt");
  files.push_back("subnet.json");

  // Reload what was written and check it on real validation images: against the supernet
  // path, against the network before folding, at several batch sizes, and in OpenCV.
  const auto reload = [&]() -> absl::StatusOr<torch::jit::Module> {
    try {
      torch::jit::Module m = torch::jit::load(staging + "/subnet.pt");
      m.eval();
      return m;
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat(staging, "/subnet.pt: reloading failed: ", e.what()));
    }
  };
  absl::StatusOr<torch::jit::Module> reloaded = reload();
  if (!reloaded.ok()) return reloaded.status();
  torch::jit::Module loaded = *std::move(reloaded);
  torch::NoGradGuard no_grad;
  const int64_t check_batch = 64;
  // Validation images; the first test images when a config holds none out.
  const bool checks_on_test = trained.data.validation_indices.empty();
  std::vector<int64_t> check_indices = trained.data.validation_indices;
  if (checks_on_test) {
    for (int64_t i = 0; i < std::min<int64_t>(2 * check_batch, trained.data.test_set->size()); ++i) {
      check_indices.push_back(i);
    }
  }
  if (check_indices.empty()) return absl::FailedPreconditionError("the export has no images to check the bundle on");
  BatchLoader check_loader(checks_on_test ? trained.data.test_set : trained.data.train_set, check_indices,
                           check_batch, AugmentOptions{}, /*shuffle=*/false, 0);
  // The supernet path the bundle is checked against (fake-quantized with the static
  // ranges when the bundle is quantized).
  const auto supernet_path = [&](const torch::Tensor& images) {
    ForwardContext ctx;
    ctx.mode = BnMode::kEval;
    ctx.stats = &stats;
    if (quantized) ctx.quant = &quant;
    return trained.net->Forward(images, arch, ctx);
  };
  double path_diff = 0, fold_diff = 0, onnx_diff = 0, mean_diff_sum = 0;
  int64_t agree = 0, checked = 0;
  std::vector<int64_t> batch_sizes;
  for (int64_t b = 0; b < std::min<int64_t>(2, check_loader.batches_per_epoch()); ++b) {
    if (stop()) return cancelled_status;
    const Batch batch = check_loader.Get(0, b);
    const torch::Tensor expected = supernet_path(batch.images);
    const double scale = Scale(expected);
    const torch::Tensor got = loaded.forward({batch.images}).toTensor();
    path_diff = std::max(path_diff, MaxDiff(expected, got) / scale);
    mean_diff_sum += (expected - got).abs().mean().item<double>() / scale * got.size(0);
    agree += expected.argmax(1).eq(got.argmax(1)).sum().item<int64_t>();
    checked += got.size(0);
    const torch::Tensor folded_float = float_module.forward({batch.images}).toTensor();
    fold_diff = std::max(fold_diff, MaxDiff(unfolded.forward({batch.images}).toTensor(), folded_float) / scale);
    for (int64_t n : {int64_t{1}, int64_t{7}, batch.images.size(0)}) {
      if (n > batch.images.size(0) || (b > 0 && n != batch.images.size(0))) continue;
      const torch::Tensor x = batch.images.narrow(0, 0, n);
      const torch::Tensor y = loaded.forward({x}).toTensor();
      if (y.sizes() != expected.narrow(0, 0, n).sizes()) {
        return absl::InternalError(absl::StrCat("the export returned shape ", c10::str(y.sizes()), " at batch ", n));
      }
      path_diff = std::max(path_diff, MaxDiff(expected.narrow(0, 0, n), y) / scale);
      if (b == 0) batch_sizes.push_back(n);
      if (onnx) {
        absl::StatusOr<torch::Tensor> cv = onnx->Run(x);
        if (!cv.ok()) return cv.status();
        if (cv->sizes() != y.sizes()) {
          return absl::InternalError(absl::StrCat("OpenCV DNN returned shape ", c10::str(cv->sizes()), " at batch ", n));
        }
        onnx_diff = std::max(onnx_diff, MaxDiff(*cv, y) / scale);
      }
    }
  }
  if (!quantized && path_diff > 1e-4) {
    return absl::InternalError(absl::StrCat("the export's outputs differ from the supernet path's by ", path_diff,
                                            " (relative to the largest logit)"));
  }
  if (fold_diff > 1e-5) {
    return absl::InternalError(absl::StrCat("folding BatchNorm into the convolutions changed the outputs by ",
                                            fold_diff, " (relative to the largest logit)"));
  }
  if (onnx_diff > 1e-4) {
    return absl::InternalError(absl::StrCat("the ONNX model in OpenCV DNN differs from the TorchScript module by ",
                                            onnx_diff, " (relative to the largest logit)"));
  }
  // The export's own test accuracy, in both runtimes.
  int64_t correct = 0, onnx_correct = 0, float_correct = 0, fake_quant_correct = 0, seen = 0;
  if (options.verify_images > 0) {
    std::vector<int64_t> test(trained.data.test_set->size());
    for (size_t i = 0; i < test.size(); ++i) test[i] = static_cast<int64_t>(i);
    test = SpreadSubset(std::move(test), options.verify_images);
    BatchLoader test_loader(trained.data.test_set, test, options.batch_size, AugmentOptions{}, false, 0);
    for (int64_t b = 0; b < test_loader.batches_per_epoch(); ++b) {
      if (stop()) return cancelled_status;
      const Batch batch = test_loader.Get(0, b);
      const torch::Tensor logits = loaded.forward({batch.images}).toTensor();
      correct += logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
      if (quantized) {
        float_correct += float_module.forward({batch.images}).toTensor().argmax(1).eq(batch.labels).sum().item<int64_t>();
        const torch::Tensor expected = supernet_path(batch.images);
        fake_quant_correct += expected.argmax(1).eq(batch.labels).sum().item<int64_t>();
        mean_diff_sum += (expected - logits).abs().mean().item<double>() / Scale(expected) * logits.size(0);
        agree += expected.argmax(1).eq(logits.argmax(1)).sum().item<int64_t>();
        checked += logits.size(0);
      }
      if (onnx) {
        absl::StatusOr<torch::Tensor> cv = onnx->Run(batch.images);
        if (!cv.ok()) return cv.status();
        onnx_diff = std::max(onnx_diff, MaxDiff(*cv, logits) / Scale(logits));
        onnx_correct += cv->argmax(1).eq(batch.labels).sum().item<int64_t>();
      }
      seen += batch.images.size(0);
    }
  }
  if (onnx_diff > 1e-4) {
    return absl::InternalError(absl::StrCat("the ONNX model in OpenCV DNN differs from the TorchScript module by ",
                                            onnx_diff, " on test images (relative to the largest logit)"));
  }
  // Quantized: the check and test images together against the fake-quantized path.
  const double mean_diff = checked > 0 ? mean_diff_sum / checked : 0.0;
  const double agreement = checked > 0 ? static_cast<double>(agree) / checked : 1.0;
  if (quantized && mean_diff > kQuantizedMeanDiffBound) {
    return absl::InternalError(absl::StrCat(
        "the integer network differs from the fake-quantized supernet path: mean |logit difference| ", mean_diff,
        " (bound ", kQuantizedMeanDiffBound, ", relative to the largest logit; top-1 agreement ", agreement, ") on ",
        checked, " images"));
  }
  // Batch-1 latency of each runtime in this process's thread setting.
  nlohmann::json latency = nullptr;
  if (options.latency_runs > 0) {
    const torch::Tensor one = torch::zeros({1, c, hw, hw});
    latency = {{"batch", 1}, {"threads", torch::get_num_threads()}, {"statistic", "median"}};
    // Timed on the bundle loaded afresh, batch 1 its first input: LibTorch's oneDNN
    // quantized convolutions keep a ready kernel only for the first input shape a loaded
    // module sees, so `loaded`, checked at batch 64 first, runs batch 1 1.1-1.4x slower
    // (bench/bundle_timing.cc; docs/deployment.md).
    absl::StatusOr<torch::jit::Module> fresh = reload();
    if (!fresh.ok()) return fresh.status();
    torch::jit::Module timed = *std::move(fresh);
    latency["torchscript_ms"] = MedianMilliseconds(options.latency_runs, [&] { timed.forward({one}); });
    if (onnx) latency["onnx_opencv_ms"] = MedianMilliseconds(options.latency_runs, [&] { (void)onnx->Run(one); });
    if (quantized) {
      latency["float32_torchscript_ms"] =
          MedianMilliseconds(options.latency_runs, [&] { float_module.forward({one}); });
    }
  }
  if (stop()) return cancelled_status;
  CostSummary cost = space.Cost(arch);
  if (options.int8) {
    // The cost of the architecture with its searched layers at 8 bits.
    NetworkPlan plan = space.BuildPlan(arch);
    for (PlanBlock& block : plan.blocks) {
      if (block.group < 0) continue;
      for (Primitive& p : block.primitives) {
        if (p.kind == Primitive::Kind::kBatchNorm) continue;
        p.weight_bits = p.activation_bits = 8;
      }
    }
    cost.bitops = plan.BitOps();
    cost.size_bytes = plan.SizeBytes();
  }
  const auto& dataset = *trained.data.train_set;
  nlohmann::json j = {
      {"space", space.name()},
      {"train_config_yaml", trained.config.yaml},
      {"arch", space.Format(arch)},
      {"checkpoint", trained.checkpoint},
      {"checkpoint_step", trained.step},
      {"input", {{"batch", "any"}, {"channels", c}, {"height", hw}, {"width", hw}, {"dtype", "float32"}}},
      {"output", {{"name", "logits"}, {"shape", {"batch", space.num_classes()}}}},
      {"normalization", {{"mean", dataset.mean}, {"std", dataset.std}, {"scale", "x / 255, then (x - mean) / std"}}},
      {"classes", dataset.class_names},
      {"flops", cost.flops},
      {"params", cost.params},
      {"bitops", cost.bitops},
      {"size_bytes", cost.size_bytes},
      {"bn_recalibration", {{"batches", trained.config.evaluation.calibration_batches},
                            {"batch_size", trained.config.evaluation.calibration_batch_size}}},
      {"bn_folding", {{"batch_norms", bn_layers}, {"folded_into_convolutions", bn_folded}}},
      {"check",
       {{"max_abs_diff_vs_supernet_path", path_diff},
        {"max_abs_diff_folded_vs_unfolded", fold_diff},
        {"relative_to", "max(1, largest |logit|)"},
        {"batch_sizes", batch_sizes},
        {checks_on_test ? "test_images" : "validation_images",
         std::min<int64_t>(2 * check_batch, static_cast<int64_t>(check_indices.size()))}}},
      {"test_images", seen},
      {"test_accuracy", seen > 0 ? 100.0 * correct / seen : 0.0},
      {"latency", latency},
      {"files", files}};
  if (quantized) {
    j["input"]["dtype"] = "float32 (quantized inside the network)";
    j["quantization"] = {
        {"mode", options.int8 ? "post-training, every searched layer at 8 bits" : "the architecture's bit-widths"},
        {"engine", engine},
        {"weights", "int8, symmetric, one scale per output channel"},
        {"activations", "uint8 per tensor, static ranges calibrated on the BN recalibration batches"},
        {"calibration_batches", quant.convs().empty() ? 0 : quant.convs()[0].batches},
        {"integer_convolutions", converted.int8_convolutions},
        {"integer_outputs_chained", converted.chained},
        {"grid_convolutions", converted.grid_convolutions},
        {"float_convolutions", converted.float_convolutions},
        {"check_vs_fake_quant_path",
         {{"mean_abs_diff", mean_diff},
          {"max_abs_diff", path_diff},
          {"top1_agreement", agreement},
          {"images", checked},
          {"bound", {{"mean_abs_diff", kQuantizedMeanDiffBound}}}}},
        {"float32_test_accuracy", seen > 0 ? 100.0 * float_correct / seen : 0.0},
        {"fake_quant_test_accuracy", seen > 0 ? 100.0 * fake_quant_correct / seen : 0.0},
        {"onnx", "not written: the ONNX runtime here (OpenCV DNN) has no integer path for this graph"}};
  }
  if (onnx) {
    j["onnx"] = {{"file", "subnet.onnx"},
                 {"opset", kOnnxOpset},
                 {"input", "input"},
                 {"output", "logits"},
                 {"checker", "passed (onnx::checker and strict shape inference)"},
                 {"runtime", OpenCvOnnxRunner::Describe()},
                 {"max_abs_diff_vs_torchscript", onnx_diff},
                 {"test_accuracy", seen > 0 ? 100.0 * onnx_correct / seen : 0.0}};
  }
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (absl::Status s = WriteFileAtomically(staging + "/subnet.json", j.dump(2) + "\n"); !s.ok()) return s;
  if (stop()) return cancelled_status;
  if (absl::Status s = CheckDestination(dir, options.force); !s.ok()) return s;
  if (absl::Status s = ReplaceDirectoryAtomically(staging, dir); !s.ok()) return s;
  cleanup.path.clear();
  return j;
}

}  // namespace nas::supernet
