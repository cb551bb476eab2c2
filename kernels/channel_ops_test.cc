// The channel split and concatenation equal LibTorch's slice/cat in values and gradients,
// and their gradients are dense in the input's memory format.
#include "kernels/channel_ops.h"

#include <gtest/gtest.h>

namespace nas::kernels {
namespace {

const torch::MemoryFormat kFormats[] = {torch::MemoryFormat::Contiguous,
                                        torch::MemoryFormat::ChannelsLast};

TEST(ChannelOpsTest, SplitMatchesSlicesAndKeepsTheFormat) {
  torch::manual_seed(0);
  for (torch::MemoryFormat format : kFormats) {
    const torch::Tensor base = torch::randn({3, 8, 5, 4}).contiguous(format);
    torch::Tensor x_ours = base.clone().requires_grad_(true);
    torch::Tensor x_ref = base.clone().requires_grad_(true);
    auto [even, odd] = SplitEvenOddChannels(x_ours);
    const torch::Tensor even_ref = x_ref.slice(1, 0, 8, 2), odd_ref = x_ref.slice(1, 1, 8, 2);
    EXPECT_TRUE(torch::equal(even, even_ref));
    EXPECT_TRUE(torch::equal(odd, odd_ref));
    EXPECT_TRUE(even.is_contiguous(format) && odd.is_contiguous(format));
    const torch::Tensor ge = torch::randn_like(even_ref), go = torch::randn_like(odd_ref);
    ((even * ge).sum() + (odd * go).sum()).backward();
    ((even_ref * ge).sum() + (odd_ref * go).sum()).backward();
    EXPECT_TRUE(torch::equal(x_ours.grad(), x_ref.grad()));
    EXPECT_TRUE(x_ours.grad().is_contiguous(format));
  }
}

TEST(ChannelOpsTest, SplitWithOneHalfUnusedGivesZeroGradientThere) {
  torch::Tensor x = torch::randn({2, 6, 3, 3}).requires_grad_(true);
  auto [even, odd] = SplitEvenOddChannels(x);
  (odd * 2).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad().slice(1, 0, 6, 2), torch::zeros({2, 3, 3, 3})));
  EXPECT_TRUE(torch::equal(x.grad().slice(1, 1, 6, 2), torch::full({2, 3, 3, 3}, 2.0f)));
}

TEST(ChannelOpsTest, ConcatMatchesCatAndKeepsTheFormat) {
  torch::manual_seed(1);
  for (torch::MemoryFormat format : kFormats) {
    const torch::Tensor a0 = torch::randn({2, 3, 4, 5}).contiguous(format);
    const torch::Tensor b0 = torch::randn({2, 5, 4, 5}).contiguous(format);
    torch::Tensor a = a0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
    torch::Tensor a_ref = a0.clone().requires_grad_(true), b_ref = b0.clone().requires_grad_(true);
    const torch::Tensor y = ConcatChannels(a, b), y_ref = torch::cat({a_ref, b_ref}, 1);
    EXPECT_TRUE(torch::equal(y, y_ref));
    EXPECT_TRUE(y.is_contiguous(format));
    const torch::Tensor g = torch::randn_like(y_ref).contiguous(format);
    y.backward(g);
    y_ref.backward(g);
    EXPECT_TRUE(torch::equal(a.grad(), a_ref.grad()));
    EXPECT_TRUE(torch::equal(b.grad(), b_ref.grad()));
    EXPECT_TRUE(a.grad().is_contiguous(format) && b.grad().is_contiguous(format));
  }
}

TEST(ChannelOpsTest, SplitOfConcatMatchesSlicesOfCat) {
  torch::manual_seed(2);
  for (torch::MemoryFormat format : kFormats) {
    // Even counts take the fused path, an odd one (3 + 5) the two ops.
    for (auto [ca, cb] : {std::pair<int64_t, int64_t>{4, 6}, {6, 6}, {3, 5}}) {
      const torch::Tensor a0 = torch::randn({2, ca, 3, 4}).contiguous(format);
      const torch::Tensor b0 = torch::randn({2, cb, 3, 4}).contiguous(format);
      torch::Tensor a = a0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
      torch::Tensor a_ref = a0.clone().requires_grad_(true),
                    b_ref = b0.clone().requires_grad_(true);
      auto [even, odd] = SplitEvenOddOfConcat(a, b);
      const torch::Tensor cat = torch::cat({a_ref, b_ref}, 1);
      const int64_t c = ca + cb;
      const torch::Tensor even_ref = cat.slice(1, 0, c, 2), odd_ref = cat.slice(1, 1, c, 2);
      EXPECT_TRUE(torch::equal(even, even_ref)) << ca << "+" << cb;
      EXPECT_TRUE(torch::equal(odd, odd_ref)) << ca << "+" << cb;
      EXPECT_TRUE(even.is_contiguous(format) && odd.is_contiguous(format));
      const torch::Tensor ge = torch::randn_like(even_ref), go = torch::randn_like(odd_ref);
      ((even * ge).sum() + (odd * go).sum()).backward();
      ((even_ref * ge).sum() + (odd_ref * go).sum()).backward();
      EXPECT_TRUE(torch::equal(a.grad(), a_ref.grad())) << ca << "+" << cb;
      EXPECT_TRUE(torch::equal(b.grad(), b_ref.grad())) << ca << "+" << cb;
      EXPECT_TRUE(a.grad().is_contiguous(format) && b.grad().is_contiguous(format));
    }
  }
  // Only the odd half used: zero gradient on the even channels of both.
  torch::Tensor a = torch::randn({1, 2, 2, 2}).requires_grad_(true);
  torch::Tensor b = torch::randn({1, 4, 2, 2}).requires_grad_(true);
  SplitEvenOddOfConcat(a, b).second.sum().backward();
  EXPECT_TRUE(torch::equal(a.grad().slice(1, 0, 2, 2), torch::zeros({1, 1, 2, 2})));
  EXPECT_TRUE(torch::equal(b.grad().slice(1, 1, 4, 2), torch::ones({1, 2, 2, 2})));
}

TEST(ChannelOpsTest, WithoutGradModeTheyArePlainOps) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 4, 3, 3});
  auto [even, odd] = SplitEvenOddChannels(x);
  EXPECT_TRUE(torch::equal(even, x.slice(1, 0, 4, 2)));
  EXPECT_TRUE(torch::equal(odd, x.slice(1, 1, 4, 2)));
  EXPECT_TRUE(torch::equal(ConcatChannels(even, odd), torch::cat({even, odd}, 1)));
  EXPECT_THROW(SplitEvenOddChannels(torch::randn({1, 3, 2, 2})), c10::Error);
}

}  // namespace
}  // namespace nas::kernels
