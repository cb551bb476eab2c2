#ifndef NAS_KERNELS_DEPTHWISE_CONV_H_
#define NAS_KERNELS_DEPTHWISE_CONV_H_

#include <torch/torch.h>

namespace nas::kernels {

// Depthwise 2-D convolution (groups = channels, no bias, padding kernel_size / 2) whose
// backward pass for stride 1 is rewritten in terms of LibTorch's fast (oneDNN) forward
// convolution. LibTorch 1.13's own CPU backward for stride-1 depthwise convolutions is
// 5-30x slower than its forward on the feature maps of these supernets
// (docs/benchmarks.md):
//   grad_input  = depthwise conv of grad_output with the spatially flipped kernel;
//   grad_weight = a grouped convolution with images and channels swapped: the input
//                 seen as one image of C*N channels, grad_output as C*N kernels, summed
//                 over the batch.
// x: [N, C, H, W]; weight: [C, 1, K, K] with K odd (it may be a slice of a larger tensor).
// Channels-last inputs with 5x5 or 7x7 kernels, any stride, take another path: LibTorch's
// forward and input gradient, and the weight gradient computed in NHWC (oneDNN's is slow
// for kernels above 3x3 in that format; docs/benchmarks.md). Otherwise stride 2, kernels
// smaller than 5x5 (where LibTorch's backward is already as fast), non-CPU or non-float32
// tensors use LibTorch's convolution and autograd.
torch::Tensor DepthwiseConv2d(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride);

}  // namespace nas::kernels

#endif  // NAS_KERNELS_DEPTHWISE_CONV_H_
