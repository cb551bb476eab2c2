// Batch-1 latency of saved TorchScript bundles in C++, under the conditions that change
// it: grad mode (NoGradGuard against InferenceMode), warm-up passes, input (zeros against
// random) and whether a batch-64 pass ran first. Medians of interleaved rounds.
//
//   bazel run //bench:bundle_timing -- [--threads N] [--runs N] BUNDLE_DIR...
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <ATen/Context.h>
#include <ATen/Parallel.h>

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename Fn>
double TimeMs(int runs, Fn fn) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return Median(ms);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, runs = 200;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--legacy-executor")) {
      torch::jit::getProfilingMode() = false;
    } else if (!std::strcmp(argv[i], "--simple-executor")) {
      torch::jit::getExecutorMode() = false;
    } else {
      dirs.push_back(argv[i]);
    }
  }
  at::set_num_threads(threads);
  at::globalContext().setQEngine(at::QEngine::ONEDNN);
  std::printf("| bundle | no_grad, 3 warm-up | no_grad, 50 warm-up | inference mode | random input | after a batch-64 pass | fresh load, batch 64 first |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const std::string& dir : dirs) {
    torch::jit::Module m = torch::jit::load(dir + "/subnet.pt");
    m.eval();
    const torch::Tensor zeros = torch::zeros({1, 3, 32, 32});
    const torch::Tensor random = torch::randn({1, 3, 32, 32});
    double a, b, c, d, e;
    {
      torch::NoGradGuard g;
      for (int i = 0; i < 3; ++i) m.forward({zeros});
      a = TimeMs(runs, [&] { m.forward({zeros}); });
      for (int i = 0; i < 50; ++i) m.forward({zeros});
      b = TimeMs(runs, [&] { m.forward({zeros}); });
    }
    {
      c10::InferenceMode g;
      c = TimeMs(runs, [&] { m.forward({zeros}); });
      d = TimeMs(runs, [&] { m.forward({random}); });
      m.forward({torch::randn({64, 3, 32, 32})});
      e = TimeMs(runs, [&] { m.forward({zeros}); });
    }
    double f;
    {
      torch::jit::Module fresh = torch::jit::load(dir + "/subnet.pt");
      fresh.eval();
      torch::NoGradGuard g;
      for (int i = 0; i < 3; ++i) fresh.forward({torch::randn({64, 3, 32, 32})});
      for (int i = 0; i < 3; ++i) fresh.forward({zeros});
      f = TimeMs(runs, [&] { fresh.forward({zeros}); });
    }
    std::printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", dir.c_str(), a, b, c, d, e, f);
  }
  return 0;
}
