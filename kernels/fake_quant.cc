#include "kernels/fake_quant.h"

#include <c10/util/Exception.h>

#include <algorithm>

namespace nas::kernels {
namespace {

constexpr double kMinScale = 1e-12;

void CheckBits(int bits) {
  TORCH_CHECK(bits >= 2, "fake quantization needs at least 2 bits, got ", bits);
}

// x + (q - x) with the difference detached: forward q, backward the identity.
torch::Tensor StraightThrough(const torch::Tensor& x, const torch::Tensor& q) {
  if (!x.requires_grad()) return q;
  return x + (q - x).detach();
}

}  // namespace

torch::Tensor FakeQuantizeWeight(const torch::Tensor& weight, int bits) {
  if (bits >= 32) return weight;
  CheckBits(bits);
  const double levels = static_cast<double>((int64_t{1} << (bits - 1)) - 1);
  torch::Tensor q;
  {
    torch::NoGradGuard no_grad;
    std::vector<int64_t> dims;
    for (int64_t d = 1; d < weight.dim(); ++d) dims.push_back(d);
    torch::Tensor scale = dims.empty() ? weight.abs() : weight.abs().amax(dims, /*keepdim=*/true);
    scale = scale.div(levels).clamp_min(kMinScale);
    q = weight.div(scale).round_().clamp_(-levels, levels).mul_(scale);
  }
  return StraightThrough(weight, q);
}

torch::Tensor FakeQuantizeActivation(const torch::Tensor& x, int bits) {
  if (bits >= 32) return x;
  CheckBits(bits);
  torch::Tensor q;
  {
    // Tensor ops only (no host round trip): the grid follows the data on any device, and
    // a traced export keeps the dynamic range instead of a constant.
    torch::NoGradGuard no_grad;
    auto [lo, hi] = torch::aminmax(x);
    const torch::Tensor is_unsigned = lo.ge(0);
    const torch::Tensor levels =
        torch::where(is_unsigned, torch::full_like(lo, static_cast<double>((int64_t{1} << bits) - 1)),
                     torch::full_like(lo, static_cast<double>((int64_t{1} << (bits - 1)) - 1)));
    const torch::Tensor range = torch::where(is_unsigned, hi, torch::maximum(lo.neg(), hi));
    const torch::Tensor scale = range.div(levels).clamp_min(kMinScale);
    const torch::Tensor lower = torch::where(is_unsigned, torch::zeros_like(lo), levels.neg());
    q = torch::clamp(x.div(scale).round_(), lower, levels).mul_(scale);
  }
  return StraightThrough(x, q);
}

ActivationGrid ActivationGridFor(int bits, double lo, double hi) {
  CheckBits(bits);
  TORCH_CHECK(bits <= 31, "a static activation grid holds at most 31 bits, got ", bits);
  ActivationGrid g;
  g.is_unsigned = lo >= 0;
  if (g.is_unsigned) {
    g.qmax = (int64_t{1} << bits) - 1;
    g.qmin = 0;
    g.scale = std::max(hi, 0.0) / static_cast<double>(g.qmax);
  } else {
    g.qmax = (int64_t{1} << (bits - 1)) - 1;
    g.qmin = -g.qmax;
    g.scale = std::max(-lo, hi) / static_cast<double>(g.qmax);
  }
  g.scale = std::max(g.scale, kMinScale);
  return g;
}

torch::Tensor FakeQuantizeActivationStatic(const torch::Tensor& x, const ActivationGrid& grid) {
  torch::Tensor q;
  {
    torch::NoGradGuard no_grad;
    q = x.div(grid.scale).round_().clamp_(static_cast<double>(grid.qmin), static_cast<double>(grid.qmax)).mul_(grid.scale);
  }
  return StraightThrough(x, q);
}

}  // namespace nas::kernels
