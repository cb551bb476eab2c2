// Forward + backward time of every stride-1 depthwise convolution shape of a space
// (at a batch size), LibTorch's own autograd against kernels::DepthwiseConv2d, measured
// alternately in one run; medians of 15 runs each. Prints a markdown table and the
// totals over the shapes, each shape weighted by how many layers use it.
// Usage: depthwise_bench CONFIG [BATCH=64] [THREADS=2] [contiguous|channels_last] [STRIDES=1]
// (channels_last: tensors in that memory format; STRIDES=12: stride-2 shapes too).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/depthwise_conv.h"
#include "supernet/search_space.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: depthwise_bench CONFIG [BATCH] [THREADS]\n");
    return 2;
  }
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 64;
  torch::set_num_threads(argc > 3 ? std::stoi(argv[3]) : 2);
  const torch::MemoryFormat format = argc > 4 && std::string(argv[4]) == "channels_last"
                                         ? torch::MemoryFormat::ChannelsLast
                                         : torch::MemoryFormat::Contiguous;
  const bool with_stride2 = argc > 5 && std::string(argv[5]) == "12";
  auto space = nas::supernet::LoadSearchSpace(argv[1]);
  if (!space.ok()) {
    std::fprintf(stderr, "%s\n", std::string(space.status().message()).c_str());
    return 1;
  }
  // (channels, input size, kernel, stride) -> number of (layer, choice) blocks using it.
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, int> shapes;
  nas::Rng rng(0);
  for (int i = 0; i < 200; ++i) {
    for (const auto& block : (*space)->BuildPlan((*space)->Sample(rng)).blocks) {
      for (const auto& p : block.primitives) {
        if (p.kind == nas::supernet::Primitive::Kind::kConv2d && p.groups > 1 &&
            (p.stride == 1 || with_stride2)) {
          ++shapes[{p.in_channels, p.out_height * p.stride, p.kernel_size, p.stride}];
        }
      }
    }
  }
  std::printf(
      "| channels | size | kernel | stride | LibTorch fwd+bwd (ms) | ours fwd+bwd (ms) | speed-up "
      "|\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  double total_stock = 0, total_ours = 0;
  for (const auto& [shape, count] : shapes) {
    const auto [c, size, k, stride] = shape;
    torch::manual_seed(0);
    const torch::Tensor x0 = torch::randn({batch, c, size, size}).contiguous(format);
    const torch::Tensor w0 = torch::randn({c, 1, k, k}).contiguous(format);
    const int64_t out = (size + 2 * (k / 2) - k) / stride + 1;
    const torch::Tensor g = torch::randn({batch, c, out, out}).contiguous(format);
    auto run = [&](bool ours) {
      torch::Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
      const auto t0 = std::chrono::steady_clock::now();
      torch::Tensor y = ours ? nas::kernels::DepthwiseConv2d(x, w, stride)
                             : torch::conv2d(x, w, {}, stride, k / 2, 1, c);
      y.backward(g);
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
          .count();
    };
    run(false);
    run(true);
    std::vector<double> stock, ours;
    for (int i = 0; i < 15; ++i) {
      stock.push_back(run(false));
      ours.push_back(run(true));
    }
    const double s = Median(stock), o = Median(ours);
    total_stock += s * count;
    total_ours += o * count;
    std::printf("| %ld | %ldx%ld | %ldx%ld | %ld | %.2f | %.2f | %.1fx |\n", c, size, size, k, k,
                stride, s, o, s / o);
  }
  std::printf("\nweighted by use over 200 sampled paths: LibTorch %.0f ms, ours %.0f ms, %.2fx\n",
              total_stock, total_ours, total_stock / total_ours);
  return 0;
}
