#ifndef NAS_SUPERNET_NETWORK_PLAN_H_
#define NAS_SUPERNET_NETWORK_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

namespace nas::supernet {

// The weighted primitives of a concrete (stand-alone) network, with their shapes. The
// analytic cost model counts these; the LibTorch modules of a path must contain exactly
// the same primitives, which is what the supernet cross-check test asserts.
struct Primitive {
  enum class Kind { kConv2d, kLinear, kBatchNorm };
  Kind kind = Kind::kConv2d;
  // Conv2d: input/output channels; Linear: input/output features; BatchNorm: both are
  // the number of channels.
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t kernel_size = 1;  // Conv2d only (square kernels).
  int64_t stride = 1;       // Conv2d only.
  int64_t groups = 1;       // Conv2d only; in_channels for depthwise.
  int64_t out_height = 1;   // Conv2d only: spatial size of the output.
  int64_t out_width = 1;
  bool bias = false;        // Conv2d and Linear.
  bool affine = true;       // BatchNorm: learnable scale and shift.
  // Conv2d and Linear: bit-width of the weights and of the input activations (32:
  // float). Biases and BatchNorm stay 32-bit.
  int weight_bits = 32;
  int activation_bits = 32;

  // Multiply-accumulates for one input (batch 1), plus one add per output element for a
  // bias. BatchNorm counts 0 (it folds into the preceding convolution).
  int64_t Flops() const;
  // Learnable parameters: weights, biases, BatchNorm scale and shift (not running stats).
  int64_t Params() const;
  // Multiply-accumulates of the weights for one input (Flops() without bias adds).
  int64_t Macs() const;
  // Macs() x weight_bits x activation_bits.
  int64_t BitOps() const;
  // Bytes of the learnable parameters at their bit-widths: weights ceil(count x
  // weight_bits / 8), biases and BatchNorm scale and shift 4 bytes each.
  int64_t SizeBytes() const;
};

// A named part of the network (stem, one searchable layer, a cell, the head).
struct PlanBlock {
  std::string name;
  // Index of the space's cost group whose genes decide this block, or -1 for a fixed
  // part of the skeleton.
  int group = -1;
  std::vector<Primitive> primitives;

  int64_t Flops() const;
  int64_t Params() const;
  int64_t BitOps() const;
  int64_t SizeBytes() const;
};

struct NetworkPlan {
  std::vector<PlanBlock> blocks;

  int64_t Flops() const;
  int64_t Params() const;
  int64_t BitOps() const;
  int64_t SizeBytes() const;
};

// Builders for the primitives the spaces use.
Primitive Conv(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
               int64_t stride, int64_t groups, int64_t out_size, bool bias = false);
Primitive BatchNorm(int64_t channels, bool affine = true);
Primitive Linear(int64_t in_features, int64_t out_features, bool bias);

// Spatial output size of a convolution or pooling with padding kernel_size / 2.
int64_t ConvOutputSize(int64_t in_size, int64_t kernel_size, int64_t stride);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_NETWORK_PLAN_H_
