// BN recalibration's per-batch statistics on CPU, at the NAS-Bench-201 proxy's shapes:
// the mean and unbiased variance over N, H and W taken with x.mean / x.var (before
// 2026-12-06) and then the batch normalization, against one batch_norm call whose running
// buffers at momentum 1 receive the same statistics (supernet/layers.cc now). Prints the
// median milliseconds of each over 21 runs, their ratio and the largest difference.
//   bazel run //bench:bn_stats_bench [-- THREADS]   (default 1)
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
template <typename F>
double MedianMs(F f, int reps) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(argc > 1 ? std::atoi(argv[1]) : 1);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  std::printf("shape (channels-last)   mean+var+bn ms   bn(momentum 1) ms   ratio   max |diff| of var\n");
  for (const auto& shape : std::vector<std::vector<int64_t>>{{256, 16, 32, 32}, {256, 32, 16, 16}, {256, 64, 8, 8}}) {
    const torch::Tensor x = torch::randn(shape).contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor w = torch::ones({shape[1]}), b = torch::zeros({shape[1]});
    torch::Tensor var_a, var_b;
    const double ta = MedianMs(
        [&] {
          torch::Tensor mean = x.mean({0, 2, 3});
          var_a = x.var({0, 2, 3}, /*unbiased=*/true);
          torch::batch_norm(x, w, b, {}, {}, true, 0.0, 1e-5, true);
        },
        21);
    const double tb = MedianMs(
        [&] {
          torch::Tensor mean = torch::zeros({shape[1]}), var = torch::ones({shape[1]});
          torch::batch_norm(x, w, b, mean, var, true, 1.0, 1e-5, true);
          var_b = var;
        },
        21);
    std::printf("[%3ld,%3ld,%3ld,%3ld]       %10.2f        %10.2f      %5.2f   %.1e\n", shape[0], shape[1], shape[2],
                shape[3], ta, tb, ta / tb, (var_a - var_b).abs().max().item<double>());
  }
}
