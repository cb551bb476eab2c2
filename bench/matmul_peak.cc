// Prints the float32 matrix-multiply throughput (GFLOP/s) of LibTorch on this machine:
// the median of 9 timed 2048x2048 matmuls after warm-up. Used as the peak against
// which bench/train_throughput.sh reports the training step's achieved GFLOP/s.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include <torch/torch.h>

int main(int argc, char** argv) {
  int threads = 2;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
  }
  torch::set_num_threads(threads);
  const int64_t n = 2048;
  torch::manual_seed(0);
  const torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  for (int i = 0; i < 2; ++i) torch::mm(a, b);
  std::vector<double> rates;
  for (int i = 0; i < 9; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor c = torch::mm(a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(2.0 * n * n * n / s / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  std::cout << rates[rates.size() / 2] << "\n";
  return 0;
}
