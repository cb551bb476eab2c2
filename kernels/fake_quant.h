#ifndef NAS_KERNELS_FAKE_QUANT_H_
#define NAS_KERNELS_FAKE_QUANT_H_

#include <torch/torch.h>

namespace nas::kernels {

// Fake quantization for quantization-aware training: the values are rounded to a
// `bits`-bit integer grid and mapped back to float, so the forward pass sees exactly the
// values an integer kernel would, while the backward pass is the straight-through
// estimator (the gradient goes through unchanged). `bits` is 2 to 16; 32 or more returns
// the input itself.

// Weights [out, ...]: symmetric, one scale per output channel, scale_c = max|w_c| /
// (2^(bits-1) - 1), integers in [-(2^(bits-1) - 1), 2^(bits-1) - 1] (the grid int8
// per-channel kernels use). A channel of zeros stays zero.
torch::Tensor FakeQuantizeWeight(const torch::Tensor& weight, int bits);

// Activations: one scale for the whole tensor, taken from the tensor itself (dynamic
// range). Non-negative tensors (after ReLU) use the unsigned grid [0, 2^bits - 1] with
// scale max / (2^bits - 1); others the symmetric signed grid of FakeQuantizeWeight with
// scale max|x| / (2^(bits-1) - 1).
torch::Tensor FakeQuantizeActivation(const torch::Tensor& x, int bits);

// The integer grid of a static (calibrated) activation quantization: values are
// round(x / scale) clamped to [qmin, qmax], times scale. A range with lo >= 0 uses the
// unsigned grid [0, 2^bits - 1] with scale hi / (2^bits - 1); others the symmetric grid
// [-(2^(bits-1) - 1), 2^(bits-1) - 1] with scale max(-lo, hi) / (2^(bits-1) - 1) (the
// grids of FakeQuantizeActivation, with the range fixed).
struct ActivationGrid {
  double scale = 1;
  int64_t qmin = 0;
  int64_t qmax = 0;
  bool is_unsigned = true;
};
ActivationGrid ActivationGridFor(int bits, double lo, double hi);

// FakeQuantizeActivation on a fixed grid (straight-through gradient).
torch::Tensor FakeQuantizeActivationStatic(const torch::Tensor& x, const ActivationGrid& grid);

}  // namespace nas::kernels

#endif  // NAS_KERNELS_FAKE_QUANT_H_
