// Supernet modules: shapes, exact agreement with the cost model, thread safety,
// BN recalibration and subnet extraction.
#include "supernet/supernet.h"

#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "supernet/nb201_space.h"
#include "supernet/search_space.h"

namespace nas::supernet {
namespace {

constexpr char kTinyChannels[] = R"(name: tiny_channels
type: shufflenet_oneshot
input: {size: 16, channels: 3}
num_classes: 7
stem: {channels: 8, kernel_size: 3, stride: 1}
stages:
  - {layers: 2, channels: 16, stride: 2}
  - {layers: 2, channels: 32, stride: 2}
head: {channels: 64}
channel_scales: [0.5, 1.0, 1.5]
)";

// The same with per-layer bit-width genes after the channel genes.
const std::string kTinyMixed =
    absl::StrReplaceAll(kTinyChannels, {{"name: tiny_channels", "name: tiny_mixed"}}) +
    "precision: {weight_bits: [4, 8, 32], activation_bits: [8, 32]}\n";

std::shared_ptr<const SearchSpace> Load(const std::string& path) {
  auto space = path.front() == 'n'   ? ParseSearchSpace(kTinyChannels, "tiny_channels.yaml")
               : path.front() == 'q' ? ParseSearchSpace(kTinyMixed, "tiny_mixed.yaml")
                                     : LoadSearchSpace(path);
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

// Small-input spaces that are cheap enough to run many paths of.
const char* const kSmallSpaces[] = {"configs/spos_shufflenet_small.yaml",
                                    "configs/spos_shufflenet_fmnist.yaml",
                                    "configs/mbv2_macro.yaml", "configs/mbv2_macro_mixed.yaml",
                                    "configs/nb201.yaml", "n:tiny_channels", "q:tiny_mixed"};

torch::Tensor Input(const SearchSpace& space, int64_t batch, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn({batch, space.input_channels(), space.input_size(), space.input_size()});
}

TEST(SupernetTest, EveryChoiceOfEveryLayerRunsWithTheRightShape) {
  for (const char* path : kSmallSpaces) {
    auto space = Load(path);
    torch::manual_seed(0);
    Supernet net = CreateSupernet(space, {});
    net->eval();
    torch::NoGradGuard no_grad;
    size_t max_options = 0;
    for (const Gene& g : space->genes()) max_options = std::max(max_options, g.options.size());
    for (size_t k = 0; k < max_options; ++k) {
      Architecture arch;
      for (const Gene& g : space->genes()) arch.genes.push_back(static_cast<int>(k % g.options.size()));
      torch::Tensor y = net->forward(Input(*space, 2, k), arch);
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, space->num_classes()})) << path;
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << path << " " << space->Format(arch);
    }
  }
}

// Counts FLOPs and params of the modules a path really runs, block by block, and
// compares with the analytic cost model.
void ExpectTraceMatchesPlan(SupernetImpl& net, const SearchSpace& space, const Architecture& arch) {
  std::vector<TracedOp> trace;
  ForwardContext ctx;
  ctx.mode = BnMode::kEval;
  ctx.trace = &trace;
  torch::NoGradGuard no_grad;
  net.Forward(Input(space, 1, 3), arch, ctx);
  std::map<std::string, std::pair<int64_t, int64_t>> traced, planned;
  for (const TracedOp& op : trace) {
    traced[op.block].first += op.flops;
    traced[op.block].second += op.params;
  }
  for (const PlanBlock& block : space.BuildPlan(arch).blocks) {
    if (block.Flops() > 0 || block.Params() > 0) planned[block.name] = {block.Flops(), block.Params()};
  }
  EXPECT_EQ(traced, planned) << space.name() << " " << space.Format(arch);
  const CostSummary cost = space.Cost(arch);
  int64_t flops = 0, params = 0;
  for (const auto& [name, fp] : traced) {
    flops += fp.first;
    params += fp.second;
  }
  EXPECT_EQ(flops, cost.flops);
  EXPECT_EQ(params, cost.params);
}

TEST(SupernetTest, ModulesCountExactlyWhatTheCostModelSays) {
  for (const char* path : kSmallSpaces) {
    auto space = Load(path);
    Supernet net = CreateSupernet(space, {});
    net->eval();
    Rng rng(31);
    for (int i = 0; i < 25; ++i) ExpectTraceMatchesPlan(*net, *space, space->Sample(rng));
    ExpectTraceMatchesPlan(*net, *space, space->MinFlops().arch);
    ExpectTraceMatchesPlan(*net, *space, space->MaxFlops().arch);
  }
}

TEST(SupernetTest, ImageNetSpacesCountExactlyWhatTheCostModelSays) {
  for (const char* path : {"configs/spos_shufflenet.yaml", "configs/spos_shufflenet_channels.yaml"}) {
    auto space = Load(path);
    Supernet net = CreateSupernet(space, {});
    net->eval();
    Rng rng(32);
    for (int i = 0; i < 3; ++i) ExpectTraceMatchesPlan(*net, *space, space->Sample(rng));
  }
}

TEST(SupernetTest, TwoThreadsGiveTheSameOutputsAsOneAfterTheOther) {
  auto space = Load("configs/nb201.yaml");
  torch::manual_seed(1);
  Supernet net = CreateSupernet(space, {});
  Rng rng(4);
  const Architecture a = space->Sample(rng), b = space->Sample(rng);
  const torch::Tensor x = Input(*space, 8, 5);
  auto run = [&](const Architecture& arch, torch::Tensor* out) {
    torch::NoGradGuard no_grad;
    BnStatistics stats;
    ForwardContext calibrate{BnMode::kCalibrate, &stats};
    net->Forward(x, arch, calibrate);
    ForwardContext eval{BnMode::kEval, &stats};
    *out = net->Forward(x, arch, eval);
  };
  torch::Tensor seq_a, seq_b, par_a, par_b;
  run(a, &seq_a);
  run(b, &seq_b);
  std::thread ta(run, std::cref(a), &par_a), tb(run, std::cref(b), &par_b);
  ta.join();
  tb.join();
  EXPECT_TRUE(torch::equal(seq_a, par_a));
  EXPECT_TRUE(torch::equal(seq_b, par_b));
  EXPECT_FALSE(torch::allclose(seq_a, seq_b));
}

TEST(SupernetTest, CalibrationLeavesSharedRunningStatisticsUntouched) {
  auto space = Load("configs/mbv2_macro.yaml");
  Supernet net = CreateSupernet(space, {});
  std::vector<torch::Tensor> before;
  for (const auto& buffer : net->buffers()) before.push_back(buffer.clone());
  BnStatistics stats;
  ForwardContext ctx{BnMode::kCalibrate, &stats};
  torch::NoGradGuard no_grad;
  net->Forward(Input(*space, 4, 6), space->MaxFlops().arch, ctx);
  EXPECT_GT(stats.size(), 0u);
  const auto after = net->buffers();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));
}

TEST(SupernetTest, CalibrationAccumulatesEachBatchsMeanAndUnbiasedVariance) {
  // Per channel, over N, H and W: the mean of the batches' means and of their unbiased
  // variances, computed here by hand in double precision; the output stays differentiable.
  torch::manual_seed(3);
  ContextBatchNorm bn(3, /*affine=*/true, 0.1, 1e-5);
  BnStatistics stats;
  ForwardContext ctx{BnMode::kCalibrate, &stats};
  const torch::Tensor a = torch::randn({4, 3, 5, 5}) * 2 + 1;
  const torch::Tensor b = torch::randn({4, 3, 5, 5}).contiguous(torch::MemoryFormat::ChannelsLast);
  for (const torch::Tensor& x : {a, b}) {
    const torch::Tensor leaf = x.clone().requires_grad_(true);
    bn->forward(leaf, ctx).square().sum().backward();
    EXPECT_TRUE(leaf.grad().defined());
  }
  torch::Tensor mean, var;
  ASSERT_TRUE(stats.Get(bn.get(), &mean, &var));
  for (int64_t c = 0; c < 3; ++c) {
    double mean_sum = 0, var_sum = 0;
    for (const torch::Tensor& x : {a, b}) {
      const torch::Tensor v = x.select(1, c).to(torch::kDouble).flatten();
      const double m = v.mean().item<double>();
      mean_sum += m;
      var_sum += (v - m).square().sum().item<double>() / (v.numel() - 1);
    }
    EXPECT_NEAR(mean[c].item<double>(), mean_sum / 2, 1e-5) << c;
    EXPECT_NEAR(var[c].item<double>(), var_sum / 2, 1e-5 * var_sum) << c;
  }
}

TEST(SupernetTest, Nb201ArchitecturesWithOneFunctionKeyComputeTheSameOutputs) {
  auto space = Load("configs/nb201_proxy.yaml");
  auto key = [&](const char* text) { return space->Format(space->FunctionKey(*space->Parse(text))); };
  // Node 2 feeds nothing (edge 3<-2 is none): the edges into it do not matter.
  EXPECT_EQ(key("|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"),
            "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|");
  // Node 2 is all zeros: pooling or skipping it adds nothing; a convolution of it does (its BN).
  EXPECT_EQ(key("|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"),
            "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|");
  EXPECT_EQ(key("|none~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"),
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|");
  // Nothing reaches the output: every cell like that is one function.
  EXPECT_EQ(key("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"),
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|");
  EXPECT_EQ(key("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");

  // Every class of many sampled cells: calibrated, evaluated outputs equal bit for bit.
  torch::manual_seed(6);
  Supernet net = CreateSupernet(space, {});
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  const torch::Tensor x = Input(*space, 8, 30);
  auto output = [&](const Architecture& arch) {
    torch::NoGradGuard no_grad;
    BnStatistics stats;
    ForwardContext calibrate{BnMode::kCalibrate, &stats};
    net->Forward(x, arch, calibrate);
    ForwardContext eval{BnMode::kEval, &stats};
    return net->Forward(x, arch, eval);
  };
  std::map<Architecture, torch::Tensor> first;
  Rng rng(9);
  int shared = 0, differ = 0;
  for (int i = 0; i < 300; ++i) {
    const Architecture arch = space->Sample(rng);
    const Architecture k = space->FunctionKey(arch);
    auto [it, inserted] = first.emplace(k, torch::Tensor());
    if (inserted) {
      it->second = output(arch);
      continue;
    }
    ++shared;
    EXPECT_TRUE(torch::equal(output(arch), it->second)) << space->Format(arch) << " vs key " << space->Format(k);
  }
  for (auto a = first.begin(), b = std::next(a); b != first.end() && differ < 20; ++a, ++b) {
    differ += torch::equal(a->second, b->second) ? 0 : 1;
  }
  EXPECT_GT(shared, 10);
  EXPECT_EQ(differ, 20);
}

TEST(SupernetTest, ExtractedSubnetEqualsTheSupernetPath) {
  for (const char* path : kSmallSpaces) {
    auto space = Load(path);
    torch::manual_seed(2);
    Supernet net = CreateSupernet(space, {});
    Rng rng(8);
    // A few training-mode passes so BN weights and statistics are not trivial.
    {
      torch::NoGradGuard no_grad;
      for (int i = 0; i < 2; ++i) net->forward(Input(*space, 4, 10 + i), space->Sample(rng));
      for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
    }
    for (int i = 0; i < 4; ++i) {
      const Architecture arch = space->Sample(rng);
      torch::NoGradGuard no_grad;
      BnStatistics stats;
      ForwardContext calibrate{BnMode::kCalibrate, &stats};
      net->Forward(Input(*space, 16, 20), arch, calibrate);
      ForwardContext eval{BnMode::kEval, &stats};
      const torch::Tensor x = Input(*space, 4, 21);
      const torch::Tensor expected = net->Forward(x, arch, eval);

      absl::StatusOr<Supernet> subnet = ExtractSubnet(*net, arch, &stats);
      ASSERT_TRUE(subnet.ok()) << subnet.status();
      (*subnet)->eval();
      const torch::Tensor got = (*subnet)->forward(x, arch);
      EXPECT_LE((got - expected).abs().max().item<double>(), 1e-5) << path << " " << space->Format(arch);
      int64_t params = 0;
      for (const auto& p : (*subnet)->parameters()) params += p.numel();
      EXPECT_EQ(params, space->Cost(arch).params) << path << " " << space->Format(arch);
      ExpectTraceMatchesPlan(**subnet, *space, arch);
    }
  }
}

TEST(SupernetTest, ChannelsLastComputesWhatContiguousComputes) {
  // The same weights in NHWC (the default) and NCHW: outputs and gradients agree up to
  // float rounding, and a load of NCHW weights into an NHWC network keeps it NHWC.
  for (const char* path : kSmallSpaces) {
    // Fake quantization rounds: a value on a rounding boundary may land one step apart
    // in the two layouts, so the quantized space is compared in its own test below.
    if (path[0] == 'q') continue;
    auto space = Load(path);
    SupernetOptions nchw;
    nchw.channels_last = false;
    torch::manual_seed(3);
    Supernet a = CreateSupernet(space, {});
    torch::manual_seed(3);
    Supernet b = CreateSupernet(space, nchw);
    for (const auto& p : a->parameters()) {
      if (p.dim() == 4) EXPECT_TRUE(p.is_contiguous(torch::MemoryFormat::ChannelsLast)) << path;
    }
    Rng rng(5);
    for (int i = 0; i < 3; ++i) {
      const Architecture arch = space->Sample(rng);
      const torch::Tensor x = Input(*space, 4, 30 + i);
      a->zero_grad();
      b->zero_grad();
      // BN with fixed statistics: the comparison of gradients is then well conditioned
      // (batch statistics of 4 images on 1x1 maps amplify rounding without bound).
      ForwardContext ca{BnMode::kEval}, cb{BnMode::kEval};
      const torch::Tensor ya = a->Forward(x, arch, ca), yb = b->Forward(x, arch, cb);
      EXPECT_LE((ya - yb).abs().max().item<double>(), 1e-5 * (1 + yb.abs().max().item<double>()))
          << path << " " << space->Format(arch);
      ya.square().sum().backward();
      yb.square().sum().backward();
      auto gb = b->named_parameters();
      for (const auto& p : a->named_parameters()) {
        if (!p.value().grad().defined()) continue;
        const torch::Tensor g = gb[p.key()].grad();
        ASSERT_TRUE(g.defined()) << p.key();
        EXPECT_LE((p.value().grad() - g).abs().max().item<double>(),
                  1e-3 * (1 + g.abs().max().item<double>())) << path << " " << p.key();
      }
    }
    {
      torch::NoGradGuard no_grad;
      auto pa = a->named_parameters();
      for (const auto& p : b->named_parameters()) pa[p.key()].set_(p.value().clone());  // As a load does.
    }
    a->ApplyMemoryFormat();
    for (const auto& p : a->parameters()) {
      if (p.dim() == 4) EXPECT_TRUE(p.is_contiguous(torch::MemoryFormat::ChannelsLast)) << path;
    }
  }
}

TEST(SupernetTest, BitWidthGenesFakeQuantizeThePath) {
  auto space = Load("q:tiny_mixed");
  torch::manual_seed(4);
  Supernet net = CreateSupernet(space, {});
  net->eval();
  const torch::Tensor x = Input(*space, 4, 40);
  // The same blocks and widths at three precisions.
  auto at = [&](const std::string& bits) {
    std::string text;
    for (int l = 0; l < 4; ++l) text += std::string(l ? "," : "") + "shuffle3x3:1.0:" + bits;
    auto arch = space->Parse(text);
    EXPECT_TRUE(arch.ok()) << arch.status();
    return *arch;
  };
  torch::NoGradGuard no_grad;
  const torch::Tensor full = net->forward(x, at("w32:a32"));
  const double scale = full.abs().max().item<double>();
  const double err8 = (net->forward(x, at("w8:a8")) - full).abs().max().item<double>();
  const double err4 = (net->forward(x, at("w4:a8")) - full).abs().max().item<double>();
  EXPECT_GT(err8, 0.0);
  EXPECT_LT(err8, 0.05 * scale);  // 8 bits: close to float
  EXPECT_GT(err4, err8);          // 4-bit weights: further
}

TEST(SupernetTest, QuantizedPathsTrainThroughTheStraightThroughEstimator) {
  auto space = Load("q:tiny_mixed");
  torch::manual_seed(5);
  Supernet net = CreateSupernet(space, {});
  auto arch = space->Parse("shuffle5x5:0.5:w4:a8,xception:1.5:w8:a8,shuffle7x7:1.0:w4:a32,shuffle3x3:1.0:w32:a8");
  ASSERT_TRUE(arch.ok()) << arch.status();
  net->forward(Input(*space, 4, 41), *arch).logsumexp(1).sum().backward();
  for (const torch::Tensor& p : net->PathParameters(*arch)) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(SupernetTest, SubnetRejectsOtherArchitectures) {
  auto space = Load("configs/nb201.yaml");
  Supernet net = CreateSupernet(space, {});
  Rng rng(9);
  const Architecture a = space->Sample(rng);
  Architecture b = space->MutateOne(a, rng);
  auto subnet = ExtractSubnet(*net, a, nullptr);
  ASSERT_TRUE(subnet.ok());
  EXPECT_THROW((*subnet)->forward(Input(*space, 1, 1), b), c10::Error);
  EXPECT_FALSE(ExtractSubnet(*net, Architecture{{9, 9}}, nullptr).ok());
}

TEST(SupernetTest, NonAffineBatchNormHasNoBnParameters) {
  auto space = Load("configs/nb201.yaml");
  SupernetOptions options;
  options.bn_affine = false;
  Supernet net = CreateSupernet(space, options);
  for (const auto& named : net->named_parameters()) {
    EXPECT_EQ(named.key().find("bn"), std::string::npos) << named.key();
  }
}

constexpr char kTinyNb201[] = R"(name: tiny201
type: nb201
input: {size: 16, channels: 3}
num_classes: 10
stem_channels: 8
cells_per_stage: 2
num_stages: 3
)";

// Every parameter and buffer, by name.
std::map<std::string, torch::Tensor> State(SupernetImpl& net) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : net.named_parameters()) state[p.key()] = p.value();
  for (const auto& b : net.named_buffers()) state[b.key()] = b.value();
  return state;
}

TEST(SupernetTest, RepeatedCellsCopyTheirStagesCells) {
  auto space = ParseSearchSpace(kTinyNb201, "tiny201.yaml");
  ASSERT_TRUE(space.ok()) << space.status();
  torch::manual_seed(3);
  Supernet net = CreateSupernet(*space, {});
  // 2 -> 4 cells per stage repeats cell i as cells 2i and 2i+1; back to 2 takes cells 0 and
  // 2 of each stage, which are the original two: everything equal to the original.
  absl::StatusOr<Supernet> four = RepeatCells(*net, 4);
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_EQ(static_cast<const Nb201Space&>((*four)->space()).cells_per_stage(), 4);
  const Architecture largest = (*space)->MaxFlops().arch;
  EXPECT_GT((*four)->space().Cost(largest).flops, (*space)->Cost(largest).flops);
  std::map<std::string, torch::Tensor> four_state = State(**four);
  int repeated = 0;  // Cells 4 and 5 (stage 1) are both the original cell 2.
  for (const auto& [name, tensor] : four_state) {
    if (name.rfind("cells_5_", 0) != 0) continue;
    EXPECT_TRUE(torch::equal(tensor, four_state.at("cells_4_" + name.substr(8)))) << name;
    ++repeated;
  }
  EXPECT_GT(repeated, 0);
  absl::StatusOr<Supernet> back = RepeatCells(**four, 2);
  ASSERT_TRUE(back.ok()) << back.status();
  std::map<std::string, torch::Tensor> original = State(*net), returned = State(**back);
  ASSERT_EQ(original.size(), returned.size());
  for (const auto& [name, tensor] : original) {
    ASSERT_TRUE(returned.count(name)) << name;
    EXPECT_TRUE(torch::equal(tensor, returned.at(name))) << name;
  }
  // A cell that is the identity (skip_connect on 3<-0, none elsewhere) computes the same
  // network at any depth: the stem, reductions and head were carried over exactly.
  absl::StatusOr<Architecture> identity =
      (*space)->Parse("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
  ASSERT_TRUE(identity.ok()) << identity.status();
  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = Input(**space, 4, 7);
  EXPECT_TRUE(torch::allclose(net->forward(x, *identity), (*four)->forward(x, *identity), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(net->forward(x, largest), (*four)->forward(x, largest)));  // Deeper: not the same.
}

TEST(SupernetTest, RepeatingCellsNeedsACellSpace) {
  auto space = Load("n:tiny_channels");
  Supernet net = CreateSupernet(space, {});
  absl::StatusOr<Supernet> deep = RepeatCells(*net, 2);
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("cell-based"), std::string::npos) << deep.status();
  auto nb201 = Load("configs/nb201.yaml");
  Supernet cells = CreateSupernet(nb201, {});
  EXPECT_FALSE(RepeatCells(*cells, 0).ok());
}

}  // namespace
}  // namespace nas::supernet
