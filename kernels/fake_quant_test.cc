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

TEST(FakeQuantTest, StaticGridsByHand) {
  // Unsigned: [0, 15] steps of 3 / 15 = 0.2.
  ActivationGrid u = ActivationGridFor(4, 0.0, 3.0);
  EXPECT_TRUE(u.is_unsigned);
  EXPECT_EQ(u.qmin, 0);
  EXPECT_EQ(u.qmax, 15);
  EXPECT_DOUBLE_EQ(u.scale, 0.2);
  // Signed: symmetric [-7, 7], scale max(2, 1.4) / 7.
  ActivationGrid s = ActivationGridFor(4, -2.0, 1.4);
  EXPECT_FALSE(s.is_unsigned);
  EXPECT_EQ(s.qmin, -7);
  EXPECT_EQ(s.qmax, 7);
  EXPECT_DOUBLE_EQ(s.scale, 2.0 / 7);
  // Values beyond the calibrated range saturate; inside they round to the nearest step.
  torch::Tensor x = torch::tensor({-1.0f, 0.0f, 0.29f, 0.31f, 2.95f, 3.5f});
  torch::Tensor q = FakeQuantizeActivationStatic(x, u);
  torch::Tensor want = torch::tensor({0.0f, 0.0f, 0.2f, 0.4f, 3.0f, 3.0f});
  EXPECT_TRUE(torch::allclose(q, want, 0, 1e-6)) << q;
  torch::Tensor y = torch::tensor({-3.0f, -0.15f, 0.15f, 1.0f});
  torch::Tensor qs = FakeQuantizeActivationStatic(y, s);
  const double step = 2.0 / 7;
  torch::Tensor want_s = torch::tensor({-7 * step, -1 * step, 1 * step, 3 * step}).to(torch::kFloat);
  EXPECT_TRUE(torch::allclose(qs, want_s, 0, 1e-6)) << qs;
  // The dynamic grid of a tensor whose range is the calibrated one is the same grid.
  torch::Tensor z = torch::rand({64}) * 3.0;
  z[0] = 0;
  z[1] = 3.0;
  EXPECT_TRUE(torch::allclose(FakeQuantizeActivation(z, 4), FakeQuantizeActivationStatic(z, u), 0, 1e-6));
  // Gradient: straight through.
  torch::Tensor g = torch::rand({6}).requires_grad_(true);
  FakeQuantizeActivationStatic(g, u).sum().backward();
  EXPECT_TRUE(torch::equal(g.grad(), torch::ones({6})));
}

}  // namespace
}  // namespace nas::kernels
