// The rewritten depthwise backward equals LibTorch's own autograd gradients.
#include "kernels/depthwise_conv.h"

#include <gtest/gtest.h>

namespace nas::kernels {
namespace {

// Contiguous (NCHW) and channels-last inputs: the two formats take different backward
// paths (the channels-last one computes the weight gradient in NHWC, any stride).
TEST(DepthwiseConvTest, GradientsMatchLibTorch) {
  torch::manual_seed(0);
  for (torch::MemoryFormat format :
       {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
    for (int64_t k : {1, 3, 5, 7}) {
      for (int64_t stride : {1, 2}) {
        for (int64_t size : {1, 4, 7, 9, 16}) {
          const int64_t c = format == torch::MemoryFormat::ChannelsLast ? 11 : 6;
          torch::Tensor big = torch::randn({c + 2, 1, k, k}).contiguous(format);
          // A slice of a larger weight, as the supernet passes.
          torch::Tensor w_ours = big.narrow(0, 0, c).detach().requires_grad_(true);
          torch::Tensor w_ref = w_ours.detach().clone().requires_grad_(true);
          torch::Tensor x_ours =
              torch::randn({3, c, size, size}).contiguous(format).requires_grad_(true);
          torch::Tensor x_ref = x_ours.detach().clone().requires_grad_(true);
          torch::Tensor y_ours = DepthwiseConv2d(x_ours, w_ours, stride);
          torch::Tensor y_ref = torch::conv2d(x_ref, w_ref, {}, stride, k / 2, 1, c);
          ASSERT_EQ(y_ours.sizes(), y_ref.sizes());
          const torch::Tensor g = torch::randn_like(y_ref);
          y_ours.backward(g);
          y_ref.backward(g);
          EXPECT_TRUE(torch::allclose(x_ours.grad(), x_ref.grad(), 1e-4, 1e-4))
              << "k=" << k << " stride=" << stride << " size=" << size;
          EXPECT_TRUE(torch::allclose(w_ours.grad(), w_ref.grad(), 1e-4, 1e-3))
              << "k=" << k << " stride=" << stride << " size=" << size;
        }
      }
    }
  }
}

TEST(DepthwiseConvTest, WithoutGradModeItIsPlainConvolution) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 4, 9, 9}), w = torch::randn({4, 1, 3, 3});
  EXPECT_TRUE(torch::equal(DepthwiseConv2d(x, w, 2), torch::conv2d(x, w, {}, 2, 1, 1, 4)));
}

}  // namespace
}  // namespace nas::kernels
