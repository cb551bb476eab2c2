// Time of one supernet training step (uniformly sampled path: forward, cross-entropy with
// the config's label smoothing, backward, SGD with the config's momentum, Nesterov and
// weight decay; gradients of parameters off the path left undefined, as `nas train` does)
// on random data of the config's input shape, for memory-format variants measured
// alternately in rounds; prints the median ms per step and images/s of each.
//
// --profile N adds a per-operator breakdown of N further steps of the first variant:
// forward and backward time per operator kind (1x1 conv, depthwise conv by kernel, BN,
// ReLU, channel split/shuffle, concat, ...), the optimizer, and what no operator covers.
// Forward kinds come from the outermost ATen call (a conv's kind from its weight shape);
// a backward node inherits the kind of the forward call that created it (autograd
// sequence numbers). Convolutions also get their achieved GFLOP/s (forward FLOPs from the
// call's shapes; backward counted as twice the forward: input and weight gradients).
// Profiling adds overhead: read its shares, not its totals.
//
//   bazel-bin/bench/train_step_bench --config configs/train_cifar10_nb201_proxy.yaml [--threads 1]
#include <ATen/SequenceNumber.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "supernet/random.h"
#include "supernet/supernet.h"
#include "supernet/train_config.h"

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Per-operator accounting, fed by RecordFunction callbacks on the profiling thread.
struct OpProfile {
  struct Frame {
    Clock::time_point start;
    std::string kind;
    bool backward = false;
    uint64_t first_seq = 0;
    double flops = 0;  // Forward convolutions: 2 x multiply-adds.
  };
  std::thread::id thread;
  std::vector<Frame> stack;
  std::unordered_map<uint64_t, std::string> kind_of_node;  // Autograd sequence nr -> kind.
  std::map<std::string, double> forward_ms, backward_ms, forward_flops;
};
OpProfile* g_profile = nullptr;

std::string ConvKind(const at::RecordFunction& fn) {
  const auto inputs = fn.inputs();
  if (inputs.size() < 2 || !inputs[1].isTensor()) return "conv";
  const at::Tensor& w = inputs[1].toTensor();
  const int64_t groups = fn.name() == std::string("nas::depthwise_conv2d") ? w.size(0)
                         : inputs.size() >= 7 && inputs[6].isInt()         ? inputs[6].toInt()
                                                                           : 1;
  const int64_t k = w.dim() == 4 ? w.size(2) : 1;
  if (groups > 1) return absl::StrFormat("depthwise conv %dx%d", k, k);
  return k == 1 ? "1x1 conv" : absl::StrFormat("conv %dx%d", k, k);
}

// Forward FLOPs (2 per multiply-add) of a convolution call: aten::conv2d(input, weight,
// bias, stride, padding, dilation, groups) or nas::depthwise_conv2d(input, weight,
// stride); 0 for anything else.
double ConvFlops(const at::RecordFunction& fn) {
  const std::string name = fn.name();
  const auto inputs = fn.inputs();
  if ((name != "aten::conv2d" && name != "nas::depthwise_conv2d") || inputs.size() < 3 ||
      !inputs[0].isTensor() || !inputs[1].isTensor()) {
    return 0;
  }
  const at::Tensor& x = inputs[0].toTensor();
  const at::Tensor& w = inputs[1].toTensor();
  if (x.dim() != 4 || w.dim() != 4) return 0;
  const c10::IValue& stride_arg = name == "aten::conv2d" ? inputs[3] : inputs[2];
  int64_t stride = 1;
  if (stride_arg.isInt()) stride = stride_arg.toInt();
  if (stride_arg.isIntList() && !stride_arg.toIntVector().empty())
    stride = stride_arg.toIntVector()[0];
  const int64_t k = w.size(2), pad = k / 2;
  const int64_t oh = (x.size(2) + 2 * pad - k) / stride + 1,
                ow = (x.size(3) + 2 * pad - k) / stride + 1;
  return 2.0 * x.size(0) * w.size(0) * oh * ow * w.size(1) * k * w.size(3);
}

std::string ForwardKind(const at::RecordFunction& fn) {
  const std::string name = fn.name();
  if (name == "aten::conv2d" || name == "nas::depthwise_conv2d") return ConvKind(fn);
  if (name == "aten::batch_norm") return "batch norm";
  if (absl::StartsWith(name, "aten::relu") || name == "aten::hardtanh") return "relu";
  if (name == "aten::cat" || name == "nas::concat_channels") return "concat";
  if (name == "nas::split_even_odd_of_concat") return "channel split of a concat (fused)";
  if (name == "nas::split_even_odd_channels" || name == "aten::slice" ||
      name == "aten::contiguous" || name == "aten::clone" || name == "aten::narrow") {
    return "channel split/shuffle";
  }
  if (name == "aten::mean") return "global pool";
  if (name == "aten::linear") return "classifier";
  if (absl::StrContains(name, "cross_entropy")) return "loss";
  return "other: " + name;
}

std::unique_ptr<at::ObserverContext> OnStart(const at::RecordFunction& fn) {
  OpProfile* p = g_profile;
  if (p == nullptr || std::this_thread::get_id() != p->thread) return nullptr;
  OpProfile::Frame f;
  const std::string name = fn.name();
  // The engine wraps each node's call in "evaluate_function: <node>"; the node itself
  // (BACKWARD_FUNCTION scope, one level down) carries the sequence number.
  const bool node = fn.scope() == at::RecordScope::BACKWARD_FUNCTION;
  if (node && p->stack.size() == 1 && p->stack[0].backward) {
    const auto it = p->kind_of_node.find(static_cast<uint64_t>(fn.seqNr()));
    p->stack[0].kind = it != p->kind_of_node.end()                 ? it->second
                       : absl::StrContains(name, "AccumulateGrad") ? "gradient accumulation"
                                                                   : "other: " + name;
  }
  if (p->stack.empty()) {
    f.backward = node || absl::StartsWith(name, "autograd::engine::evaluate_function");
    if (f.backward) {
      f.kind = "other: " + name;
    } else {
      f.kind = ForwardKind(fn);
      f.flops = ConvFlops(fn);
      f.first_seq = at::sequence_number::peek();
    }
  }
  f.start = Clock::now();
  p->stack.push_back(std::move(f));
  return nullptr;
}

void OnEnd(const at::RecordFunction& fn, at::ObserverContext*) {
  OpProfile* p = g_profile;
  if (p == nullptr || std::this_thread::get_id() != p->thread || p->stack.empty()) return;
  OpProfile::Frame f = std::move(p->stack.back());
  p->stack.pop_back();
  if (!p->stack.empty()) return;
  const double ms = MsSince(f.start);
  if (f.backward) {
    p->backward_ms[f.kind] += ms;
  } else {
    p->forward_ms[f.kind] += ms;
    p->forward_flops[f.kind] += f.flops;
    for (uint64_t s = f.first_seq; s < at::sequence_number::peek(); ++s)
      p->kind_of_node[s] = f.kind;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Supernet training-step time by memory format, with an optional per-operator profile"};
  std::string config_path, variants_text = "contiguous,channels_last";
  int threads = 1, steps = 20, rounds = 3, profile_steps = 0;
  int64_t batch = 0;
  app.add_option("--config", config_path, "Training config")->required();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--steps", steps, "Timed steps per variant and round")->capture_default_str();
  app.add_option("--rounds", rounds)->capture_default_str();
  app.add_option("--batch", batch, "Batch size (default: the config's)");
  app.add_option("--variants", variants_text)->capture_default_str();
  app.add_option("--profile", profile_steps,
                 "Per-operator breakdown over this many further steps of the first variant")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto config = nas::supernet::LoadTrainConfig(config_path);
  if (!config.ok()) {
    std::cerr << config.status() << "\n";
    return 1;
  }
  torch::set_num_threads(threads);
  if (batch <= 0) batch = config->training.batch_size;
  const auto& space = *config->space;
  const auto& opt = config->optimizer;
  std::map<std::string, std::vector<double>> ms;
  const std::vector<std::string> variants = absl::StrSplit(variants_text, ',');
  OpProfile profile;
  double profiled_ms = 0, optimizer_ms = 0;

  auto run = [&](const std::string& variant, int count, bool profiling) {
    const bool cl = variant == "channels_last";
    torch::manual_seed(0);
    nas::supernet::Supernet net = nas::supernet::CreateSupernet(config->space, config->supernet);
    net->train();
    std::vector<torch::Tensor> params = net->parameters(), decay, no_decay;
    for (torch::Tensor& p : params) {
      if (cl && p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
      (p.dim() <= 1 ? no_decay : decay).push_back(p);
    }
    auto group = [&](double wd) {
      auto o = std::make_unique<torch::optim::SGDOptions>(opt.lr);
      o->momentum(opt.momentum).nesterov(opt.nesterov).weight_decay(wd);
      return o;
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, group(opt.weight_decay));
    groups.emplace_back(no_decay, group(0.0));
    torch::optim::SGD sgd(groups, torch::optim::SGDOptions(opt.lr));
    const auto ce =
        torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(opt.label_smoothing);
    torch::Tensor x =
        torch::randn({batch, space.input_channels(), space.input_size(), space.input_size()});
    if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor y = torch::randint(0, space.num_classes(), {batch}, torch::kLong);
    nas::Rng rng(1);
    for (int s = 0; s < count + 3; ++s) {
      const nas::supernet::Architecture arch = space.Sample(rng);
      const bool timed = s >= 3;
      if (timed && profiling) g_profile = &profile;
      const auto t0 = Clock::now();
      for (torch::Tensor& p : params) p.mutable_grad() = torch::Tensor();
      nas::supernet::ForwardContext ctx;
      ctx.mode = nas::supernet::BnMode::kTrain;
      torch::Tensor loss = torch::nn::functional::cross_entropy(net->Forward(x, arch, ctx), y, ce);
      loss.backward();
      g_profile = nullptr;
      const auto t_opt = Clock::now();
      sgd.step();
      if (!timed) continue;
      if (profiling) {
        profiled_ms += MsSince(t0);
        optimizer_ms += MsSince(t_opt);
      } else {
        ms[variant].push_back(MsSince(t0));
      }
    }
  };

  for (int round = 0; round < rounds; ++round) {
    for (const std::string& variant : variants) run(variant, steps, false);
  }
  std::cout << absl::StrFormat(
      "%s, batch %d, %d threads, %d steps x %d rounds per variant (same paths)\n", config_path,
      batch, threads, steps, rounds);
  for (const std::string& v : variants) {
    std::vector<double> t = ms[v];
    std::sort(t.begin(), t.end());
    const double median = t[t.size() / 2];
    std::cout << absl::StrFormat("%-15s median %.1f ms/step, %.1f images/s\n", v, median,
                                 1000.0 * batch / median);
  }
  if (profile_steps <= 0) return 0;

  profile.thread = std::this_thread::get_id();
  at::CallbackHandle handle = at::addGlobalCallback(
      at::RecordFunctionCallback(&OnStart, &OnEnd)
          .needsInputs(true)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  run(variants.front(), profile_steps, true);
  at::removeCallback(handle);

  std::map<std::string, std::pair<double, double>> rows;
  double covered = optimizer_ms;
  for (const auto& [kind, t] : profile.forward_ms) rows[kind].first += t, covered += t;
  for (const auto& [kind, t] : profile.backward_ms) rows[kind].second += t, covered += t;
  std::vector<std::pair<std::string, std::pair<double, double>>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.first + a.second.second > b.second.first + b.second.second;
  });
  const double n = profile_steps;
  std::cout << absl::StrFormat(
      "\nPer-operator time, %s, mean over %d profiled steps (%.1f ms/step with profiling)\n",
      variants.front(), profile_steps, profiled_ms / n);
  std::cout << "| operator | forward ms | backward ms | share | GFLOP/s forward, backward |\n"
               "|---|---|---|---|---|\n";
  for (const auto& [kind, t] : sorted) {
    const double flops = profile.forward_flops[kind];
    // Backward: the input and the weight gradient, each the forward's work.
    const std::string rate =
        flops > 0 ? absl::StrFormat("%.0f, %.0f", flops / t.first / 1e6, 2 * flops / t.second / 1e6)
                  : "";
    std::cout << absl::StrFormat("| %s | %.1f | %.1f | %.1f %% | %s |\n", kind, t.first / n,
                                 t.second / n, 100.0 * (t.first + t.second) / profiled_ms, rate);
  }
  std::cout << absl::StrFormat("| optimizer (SGD step) | | %.1f | %.1f %% | |\n", optimizer_ms / n,
                               100.0 * optimizer_ms / profiled_ms);
  std::cout << absl::StrFormat(
      "| not in any operator (autograd engine, framework) | | | %.1f %% | |\n",
      100.0 * (profiled_ms - covered) / profiled_ms);
  return 0;
}
