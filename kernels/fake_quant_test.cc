#include "kernels/fake_quant.h"

#include <gtest/gtest.h>

#include <vector>

namespace nas::kernels {
namespace {

void ExpectValues(const torch::Tensor& t, const std::vector<double>& expected) {
  const torch::Tensor flat = t.flatten().contiguous();
  ASSERT_EQ(flat.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(flat[i].item<double>(), expected[i], 1e-6) << "element " << i;
  }
}

TEST(FakeQuantTest, WeightsUseOneSymmetricScalePerOutputChannel) {
  // 3 bits: integers -3..3; channel 0 scale 0.9 / 3, channel 1 scale 2 / 3.
  torch::Tensor w = torch::tensor({0.9, -0.3, 0.4, -2.0, 1.1, 0.2}).reshape({2, 3, 1, 1});
  ExpectValues(FakeQuantizeWeight(w, 3), {0.9, -0.3, 0.3, -2.0, 4.0 / 3, 0.0});
  // 8 bits: integers -127..127; -0.3 / (0.9 / 127) = -42.33 -> -42.
  ExpectValues(FakeQuantizeWeight(w, 8).select(0, 0).flatten(),
               {0.9, -42 * 0.9 / 127, 56 * 0.9 / 127});
}

TEST(FakeQuantTest, AZeroChannelStaysZero) {
  // 4 bits: integers -7..7; channel 1 scale 0.5 / 7, -0.3 / scale = -4.2 -> -4.
  torch::Tensor w = torch::tensor({0.0, 0.0, 0.5, -0.3}).reshape({2, 2});
  ExpectValues(FakeQuantizeWeight(w, 4), {0.0, 0.0, 0.5, -4 * 0.5 / 7});
}

TEST(FakeQuantTest, NonNegativeActivationsUseTheUnsignedGrid) {
  // 2 bits unsigned: integers 0..3, scale 2 / 3.
  torch::Tensor x = torch::tensor({0.0, 0.5, 1.1, 2.0}).reshape({1, 4, 1, 1});
  ExpectValues(FakeQuantizeActivation(x, 2), {0.0, 2.0 / 3, 4.0 / 3, 2.0});
}

TEST(FakeQuantTest, SignedActivationsUseTheSymmetricGrid) {
  // 3 bits signed: integers -3..3, scale max|x| / 3 = 1 / 3.
  torch::Tensor x = torch::tensor({-1.0, 0.2, 0.45, 0.7});
  ExpectValues(FakeQuantizeActivation(x, 3), {-1.0, 1.0 / 3, 1.0 / 3, 2.0 / 3});
}

TEST(FakeQuantTest, GradientIsStraightThrough) {
  torch::manual_seed(0);
  for (bool weight : {true, false}) {
    torch::Tensor x = torch::randn({4, 3, 5, 5}, torch::requires_grad());
    torch::Tensor g = torch::randn({4, 3, 5, 5});
    torch::Tensor y = weight ? FakeQuantizeWeight(x, 4) : FakeQuantizeActivation(x, 4);
    EXPECT_FALSE(torch::equal(y, x));
    (y * g).sum().backward();
    EXPECT_TRUE(torch::equal(x.grad(), g)) << (weight ? "weight" : "activation");
  }
}

TEST(FakeQuantTest, ThirtyTwoBitsIsTheIdentityAndOneBitIsAnError) {
  torch::Tensor x = torch::randn({2, 3});
  EXPECT_TRUE(FakeQuantizeWeight(x, 32).is_same(x));
  EXPECT_TRUE(FakeQuantizeActivation(x, 32).is_same(x));
  EXPECT_THROW(FakeQuantizeWeight(x, 1), c10::Error);
  EXPECT_THROW(FakeQuantizeActivation(x, 1), c10::Error);
}

TEST(FakeQuantTest, ValuesLieOnTheGridAndWithinHalfAStep) {
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({8, 16, 3, 3});
  for (int bits : {2, 4, 8}) {
    torch::Tensor q = FakeQuantizeWeight(x, bits);
    torch::Tensor scale = x.abs().amax({1, 2, 3}, true) / ((1 << (bits - 1)) - 1);
    torch::Tensor ints = q / scale;
    EXPECT_LT((ints - ints.round()).abs().max().item<double>(), 1e-3) << bits;
    EXPECT_LE(((q - x).abs() / scale).max().item<double>(), 0.5 + 1e-5) << bits;
  }
}

}  // namespace
}  // namespace nas::kernels
