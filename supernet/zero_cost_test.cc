// Zero-cost proxies against values computed by hand on a tiny NB201 network, and their
// thread safety and independence from .grad.
#include "supernet/zero_cost.h"

#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "supernet/search_space.h"

namespace nas::supernet {
namespace {

// One stage of one cell, 2 channels, 4x4 inputs: small enough to reason about by hand.
constexpr char kTinyNb201[] = R"(name: tiny_nb201
type: nb201
input: {size: 4, channels: 3}
num_classes: 3
stem_channels: 2
cells_per_stage: 1
num_stages: 1
ops: [none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]
)";

// Only the 0->3 edge is a skip: the network is stem conv -> (BN) -> last BN -> ReLU ->
// mean -> linear, with no ReLU inside the cell.
constexpr char kSkipOnly[] = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|";

// A cell with every kind of operation, for the proxies that need gradients.
constexpr char kMixedCell[] = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|";

struct Fixture {
  std::shared_ptr<const SearchSpace> space;
  Supernet net;
  torch::Tensor images, labels;
};

Fixture Make(int64_t batch) {
  Fixture f;
  auto space = ParseSearchSpace(kTinyNb201, "tiny_nb201.yaml");
  EXPECT_TRUE(space.ok()) << space.status();
  f.space = *space;
  torch::manual_seed(3);
  f.net = CreateSupernet(f.space, {});
  f.images = torch::randn({batch, 3, 4, 4});
  f.labels = torch::randint(0, 3, {batch}, torch::kInt64);
  return f;
}

torch::Tensor Param(Supernet& net, const std::string& name) {
  auto params = net->named_parameters(true);
  EXPECT_TRUE(params.contains(name)) << name;
  return params[name].detach();
}

TEST(ZeroCostTest, SynflowOfTheSkipOnlyCellByHand) {
  Fixture f = Make(4);
  ZeroCostScorer scorer(f.net, f.images, f.labels, torch::kCPU);
  auto arch = f.space->Parse(kSkipOnly);
  ASSERT_TRUE(arch.ok());
  // With |weights| and an all-ones input every unit is positive, so the ReLU is the
  // identity and R = sum_k sum_c |W_kc| m_c (bias 0), m_c the spatial mean of the stem's
  // output. R is linear in the stem weights and in W, so sum |θ dR/dθ| is R for each of
  // the two layers: synflow = 2 R.
  const torch::Tensor w = Param(f.net, "stem.conv0").abs().to(torch::kFloat64);
  const torch::Tensor classifier = Param(f.net, "classifier.weight").abs().to(torch::kFloat64);
  const torch::Tensor m =
      torch::conv2d(torch::ones({1, 3, 4, 4}, torch::kFloat64), w, {}, 1, 1).mean({0, 2, 3});
  const double r = (classifier * m.unsqueeze(0)).sum().item<double>();
  absl::StatusOr<double> synflow = scorer.Score(ZeroCostProxy::kSynflow, *arch);
  ASSERT_TRUE(synflow.ok()) << synflow.status();
  EXPECT_NEAR(*synflow, std::log(2 * r), 1e-9);
}

TEST(ZeroCostTest, NaswotOfTwoImagesByHand) {
  Fixture f = Make(2);
  ZeroCostScorer scorer(f.net, f.images, f.labels, torch::kCPU);
  auto arch = f.space->Parse(kSkipOnly);
  ASSERT_TRUE(arch.ok());
  // The only ReLU is the head's, after BN with batch statistics (scale 1, shift 0): a unit
  // is active when the stem output exceeds its channel's batch mean. K = [[A, A-d],
  // [A-d, A]] with A = 2*4*4 units and d the Hamming distance of the two codes.
  const torch::Tensor y = torch::conv2d(f.images, Param(f.net, "stem.conv0"), {}, 1, 1);
  const torch::Tensor codes = y.gt(y.mean({0, 2, 3}, /*keepdim=*/true));
  const double a = 32, d = codes[0].ne(codes[1]).sum().item<double>();
  ASSERT_GT(d, 0);
  absl::StatusOr<double> naswot = scorer.Score(ZeroCostProxy::kNaswot, *arch);
  ASSERT_TRUE(naswot.ok()) << naswot.status();
  EXPECT_NEAR(*naswot, std::log(a * a - (a - d) * (a - d)), 1e-9);
}

TEST(ZeroCostTest, GradNormAndSnipEqualABackwardPassOfTheStandAloneSubnet) {
  Fixture f = Make(8);
  ZeroCostScorer scorer(f.net, f.images, f.labels, torch::kCPU);
  auto arch = f.space->Parse(kMixedCell);
  ASSERT_TRUE(arch.ok());
  // The extracted subnet holds exactly the path's parameters; ordinary .backward() there.
  absl::StatusOr<Supernet> subnet = ExtractSubnet(*f.net, *arch, nullptr);
  ASSERT_TRUE(subnet.ok()) << subnet.status();
  ForwardContext ctx{BnMode::kCalibrate};
  torch::nn::functional::cross_entropy((*subnet)->Forward(f.images, *arch, ctx), f.labels).backward();
  double norm = 0, snip = 0;
  for (const auto& named : (*subnet)->named_parameters()) {
    const torch::Tensor& p = named.value();
    ASSERT_TRUE(p.grad().defined()) << named.key();
    norm += p.grad().norm().item<double>();
    snip += (p * p.grad()).abs().sum().item<double>();
  }
  absl::StatusOr<double> grad_norm = scorer.Score(ZeroCostProxy::kGradNorm, *arch);
  absl::StatusOr<double> snip_score = scorer.Score(ZeroCostProxy::kSnip, *arch);
  ASSERT_TRUE(grad_norm.ok() && snip_score.ok());
  EXPECT_NEAR(*grad_norm, std::log(norm), 1e-5);
  EXPECT_NEAR(*snip_score, std::log(snip), 1e-5);
  // The supernet's own .grad is never touched.
  for (const torch::Tensor& p : f.net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(ZeroCostTest, SwapAndMecoOfTheSkipOnlyCellByHand) {
  Fixture f = Make(5);
  ZeroCostScorer scorer(f.net, f.images, f.labels, torch::kCPU);
  auto arch = f.space->Parse(kSkipOnly);
  ASSERT_TRUE(arch.ok());
  // The only ReLU is the head's, after two BNs with batch statistics: per channel a
  // positive multiple of (stem output - its batch mean), clipped at 0.
  const torch::Tensor y = torch::conv2d(f.images, Param(f.net, "stem.conv0"), {}, 1, 1).to(torch::kFloat64);
  const torch::Tensor z = torch::relu(y - y.mean({0, 2, 3}, /*keepdim=*/true));
  // SWAP: the distinct patterns, over the 5 images, of the 2x4x4 units.
  std::set<std::vector<bool>> patterns;
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t h = 0; h < 4; ++h) {
      for (int64_t w = 0; w < 4; ++w) {
        std::vector<bool> p;
        for (int64_t i = 0; i < 5; ++i) p.push_back(z[i][c][h][w].item<double>() > 0);
        patterns.insert(p);
      }
    }
  }
  ASSERT_GT(patterns.size(), 1u);
  absl::StatusOr<double> swap = scorer.Score(ZeroCostProxy::kSwap, *arch);
  ASSERT_TRUE(swap.ok()) << swap.status();
  EXPECT_EQ(*swap, static_cast<double>(patterns.size()));
  // MeCo: two channels, so the first image's correlation matrix is [[1, r], [r, 1]] and
  // its smallest eigenvalue 1 - |r|.
  const torch::Tensor a = z[0][0].flatten() - z[0][0].mean(), b = z[0][1].flatten() - z[0][1].mean();
  const double r = (a * b).sum().item<double>() / std::sqrt((a * a).sum().item<double>() * (b * b).sum().item<double>());
  const double meco = 1 - std::abs(r);
  absl::StatusOr<double> meco_score = scorer.Score(ZeroCostProxy::kMeco, *arch);
  ASSERT_TRUE(meco_score.ok()) << meco_score.status();
  EXPECT_NEAR(*meco_score, meco, 1e-4);
  // MeCo over every module's output: the stem convolution, the stem BN, node 3 (the skip
  // of node 0) and the last BN are each the stem convolution's output up to a positive
  // scale and shift per channel, which leaves |r| unchanged; nodes 1 and 2 are zero
  // (λ_min 0); then the head's ReLU as above.
  const torch::Tensor c0 = y[0][0].flatten() - y[0][0].mean(), c1 = y[0][1].flatten() - y[0][1].mean();
  const double ry =
      (c0 * c1).sum().item<double>() / std::sqrt((c0 * c0).sum().item<double>() * (c1 * c1).sum().item<double>());
  absl::StatusOr<double> meco_all = scorer.Score(ZeroCostProxy::kMecoAll, *arch);
  ASSERT_TRUE(meco_all.ok()) << meco_all.status();
  EXPECT_NEAR(*meco_all, 4 * (1 - std::abs(ry)) + meco, 1e-4);
  EXPECT_GT(std::abs(*meco_all - *meco_score), 0.01);  // The two variants differ here.
}

TEST(ZeroCostTest, DistinctPatternsAcrossWordsAndLayers) {
  // 130 images: three 64-bit words. Units 0 and 1 differ only at image 63 (the sign bit
  // of the first word), units 2 and 3 only at image 129; unit 4 repeats unit 0, and the
  // second layer repeats unit 1 and adds one new pattern.
  torch::Tensor a = torch::zeros({130, 5}, torch::kBool);
  a.index_put_({torch::indexing::Slice(0, 10), 0}, true);
  a.index_put_({torch::indexing::Slice(0, 10), 1}, true);
  a.index_put_({63, 1}, true);
  a.index_put_({129, 3}, true);
  a.index_put_({torch::indexing::Slice(0, 10), 4}, true);
  torch::Tensor b = torch::zeros({130, 2}, torch::kBool);
  b.index_put_({torch::indexing::Slice(), 0}, a.select(1, 1));
  b.index_put_({100, 1}, true);
  EXPECT_EQ(DistinctActivationPatterns({a}), 4);  // {0, 4}, {1}, {2}, {3}
  EXPECT_EQ(DistinctActivationPatterns({a, b}), 5);
  EXPECT_EQ(DistinctActivationPatterns({}), 0);
}

TEST(ZeroCostTest, ZicoEqualsBackwardPassesOfTheStandAloneSubnetOnTheBatchHalves) {
  Fixture f = Make(8);
  ZeroCostScorer scorer(f.net, f.images, f.labels, torch::kCPU);
  auto arch = f.space->Parse(kMixedCell);
  ASSERT_TRUE(arch.ok());
  absl::StatusOr<Supernet> subnet = ExtractSubnet(*f.net, *arch, nullptr);
  ASSERT_TRUE(subnet.ok()) << subnet.status();
  std::map<std::string, std::vector<torch::Tensor>> grads;
  ASSERT_EQ(kZicoParts, 2);
  for (int k = 0; k < 2; ++k) {
    for (auto& p : (*subnet)->parameters()) p.mutable_grad() = torch::Tensor();
    ForwardContext ctx{BnMode::kCalibrate};
    torch::nn::functional::cross_entropy((*subnet)->Forward(f.images.narrow(0, 4 * k, 4), *arch, ctx),
                                         f.labels.narrow(0, 4 * k, 4))
        .backward();
    for (const auto& named : (*subnet)->named_parameters()) {
      if (named.value().dim() >= 2) grads[named.key()].push_back(named.value().grad().to(torch::kFloat64).clone());
    }
  }
  // Per weight tensor: log Σ over elements of mean|g| / std(g) (population std of the
  // two halves' gradients, |g1 - g2| / 2), summed over tensors.
  double zico = 0;
  for (const auto& [name, g] : grads) {
    const torch::Tensor mean_abs = (g[0].abs() + g[1].abs()) / 2, sd = (g[0] - g[1]).abs() / 2;
    const torch::Tensor keep = sd.gt(0);
    zico += std::log((mean_abs.masked_select(keep) / sd.masked_select(keep)).sum().item<double>());
  }
  absl::StatusOr<double> score = scorer.Score(ZeroCostProxy::kZico, *arch);
  ASSERT_TRUE(score.ok()) << score.status();
  EXPECT_NEAR(*score, zico, 1e-6);
}

TEST(ZeroCostTest, ConcurrentScoresEqualSerialOnesAndLeaveWeightsUnchanged) {
  Fixture f = Make(16);
  std::vector<torch::Tensor> before;
  for (const torch::Tensor& p : f.net->parameters()) before.push_back(p.detach().clone());
  ZeroCostScorer scorer(f.net, f.images, f.labels, torch::kCPU);
  Rng rng(5);
  std::vector<Architecture> archs;
  for (int i = 0; i < 6; ++i) archs.push_back(f.space->Sample(rng));
  const std::vector<ZeroCostProxy> proxies = AllZeroCostProxies();
  std::vector<std::vector<double>> serial(archs.size()), parallel(archs.size());
  for (size_t i = 0; i < archs.size(); ++i) {
    for (ZeroCostProxy p : proxies) {
      absl::StatusOr<double> v = scorer.Score(p, archs[i]);
      ASSERT_TRUE(v.ok()) << ZeroCostProxyName(p) << ": " << v.status();
      EXPECT_TRUE(std::isfinite(*v)) << ZeroCostProxyName(p) << " " << f.space->Format(archs[i]) << " " << *v;
      serial[i].push_back(*v);
    }
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < archs.size(); ++i) {
    threads.emplace_back([&, i] {
      for (ZeroCostProxy p : proxies) parallel[i].push_back(*scorer.Score(p, archs[i]));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(serial, parallel);
  size_t k = 0;
  for (const torch::Tensor& p : f.net->parameters()) EXPECT_TRUE(torch::equal(p, before[k++]));
}

TEST(ZeroCostTest, EverySpaceTypeGetsFiniteScoresThatDifferBetweenPaths) {
  for (const char* path : {"configs/spos_shufflenet_small.yaml", "configs/mbv2_macro.yaml",
                           "configs/spos_shufflenet_channels.yaml"}) {
    auto space = LoadSearchSpace(path);
    ASSERT_TRUE(space.ok()) << space.status();
    // The channel-scale space is 224x224: score it on a small input, as shapes allow.
    const int64_t size = (*space)->input_size() > 64 ? 64 : (*space)->input_size();
    torch::manual_seed(4);
    Supernet net = CreateSupernet(*space, {});
    ZeroCostScorer scorer(net, torch::randn({4, (*space)->input_channels(), size, size}),
                          torch::randint(0, (*space)->num_classes(), {4}, torch::kInt64), torch::kCPU);
    for (ZeroCostProxy p : AllZeroCostProxies()) {
      absl::StatusOr<double> big = scorer.Score(p, (*space)->MaxFlops().arch);
      absl::StatusOr<double> small = scorer.Score(p, (*space)->MinFlops().arch);
      ASSERT_TRUE(big.ok() && small.ok()) << path << " " << ZeroCostProxyName(p);
      EXPECT_TRUE(std::isfinite(*big) && std::isfinite(*small)) << path << " " << ZeroCostProxyName(p);
      if (p == ZeroCostProxy::kSwap) {
        // 4 images allow only 2^4 patterns, which both paths' thousands of units reach.
        EXPECT_EQ(*big, 16) << path;
        EXPECT_EQ(*small, 16) << path;
        continue;
      }
      EXPECT_NE(*big, *small) << path << " " << ZeroCostProxyName(p);
    }
  }
}

TEST(ZeroCostTest, NamesRoundTripAndUnknownNamesAreErrors) {
  for (const std::string& name : ZeroCostProxyNames()) {
    absl::StatusOr<ZeroCostProxy> p = ParseZeroCostProxy(name);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(ZeroCostProxyName(*p), name);
  }
  absl::StatusOr<ZeroCostProxy> bad = ParseZeroCostProxy("fisher");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("fisher"), std::string::npos);
}

}  // namespace
}  // namespace nas::supernet
