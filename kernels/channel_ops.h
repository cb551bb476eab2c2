#ifndef NAS_KERNELS_CHANNEL_OPS_H_
#define NAS_KERNELS_CHANNEL_OPS_H_

#include <torch/torch.h>

#include <utility>

namespace nas::kernels {

// ShuffleNet's channel split and concatenation with backward passes that keep the
// gradients in the activations' memory format.
//
// With LibTorch's own autograd, a strided channel slice's backward allocates a zero
// tensor of the whole input (contiguous NCHW whatever the input's format) and copies the
// slice's gradient into it, once per slice, and the two results are then added; and a
// channel concatenation's backward hands each input a channel-narrowed view of the
// gradient, which in channels-last is contiguous in neither format. Elementwise backward
// kernels (ReLU, BN) given operands of mixed formats take LibTorch's slow strided path:
// measured on the 224x224 SPOS supernet, ReLU's backward took 5x its forward
// (docs/benchmarks.md, `bench/train_step_bench --profile`). Here every gradient is one
// dense tensor in the input's suggested memory format.
//
// Without grad mode (evaluation, export, tracing) both are the plain LibTorch ops.

// (x[:, 0::2], x[:, 1::2]): even and odd channels of x [N, C, H, W] (C even), each a
// dense tensor in x's suggested memory format.
std::pair<torch::Tensor, torch::Tensor> SplitEvenOddChannels(const torch::Tensor& x);

// torch::cat({a, b}, 1) in a's suggested memory format; the gradients of a and b are
// dense tensors in that format.
torch::Tensor ConcatChannels(const torch::Tensor& a, const torch::Tensor& b);

// SplitEvenOddChannels(ConcatChannels(a, b)) without the concatenation: with a's and b's
// channel counts even, the even channels of [a, b] are [a[:, 0::2], b[:, 0::2]] and the
// odd ones [a[:, 1::2], b[:, 1::2]]. Consecutive ShuffleNet blocks of a stage chain
// through it, so a block's output is never written as one tensor only to be split again.
// Odd channel counts and no grad mode: the two ops above.
std::pair<torch::Tensor, torch::Tensor> SplitEvenOddOfConcat(const torch::Tensor& a,
                                                             const torch::Tensor& b);

}  // namespace nas::kernels

#endif  // NAS_KERNELS_CHANNEL_OPS_H_
