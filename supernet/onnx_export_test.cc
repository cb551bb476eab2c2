// Inference graphs of stand-alone subnets: any batch size, BatchNorm folding, and ONNX
// export checked by the ONNX checker and by an independent runtime (OpenCV DNN).
#include "supernet/onnx_export.h"

#include <gtest/gtest.h>

#include "supernet/inference_graph.h"
#include "supernet/search_space.h"
#include "supernet/supernet.h"

namespace nas::supernet {
namespace {

// Every space type, with every kind of block: ShuffleNet (channel split and shuffle,
// projections, Xception blocks), MobileNetV2 (identity, residuals, ReLU6), NB201 (none,
// pooling, skips, reductions, a BatchNorm after no convolution).
const char* const kSpaces[] = {"configs/spos_shufflenet_fmnist.yaml", "configs/mbv2_macro.yaml", "configs/nb201.yaml"};

// A supernet with random weights and random (not identity) BN parameters and statistics,
// so that folding is really exercised.
Supernet RandomSupernet(std::shared_ptr<const SearchSpace> space, uint64_t seed) {
  torch::manual_seed(seed);
  Supernet net = CreateSupernet(space, {});
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) item.value().normal_(0, 0.2);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
  }
  for (auto& item : net->named_parameters()) {
    const std::string& name = item.key();
    if (name.find(".bn") != std::string::npos && name.find(".weight") != std::string::npos) item.value().uniform_(0.5, 1.5);
    if (name.find(".bn") != std::string::npos && name.find(".bias") != std::string::npos) item.value().normal_(0, 0.1);
  }
  return net;
}

std::vector<Architecture> SomeArchitectures(const SearchSpace& space) {
  std::vector<Architecture> archs = {space.MaxFlops().arch, space.MinFlops().arch};
  Rng rng(11);
  for (int i = 0; i < 3; ++i) archs.push_back(space.Sample(rng));
  return archs;
}

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(InferenceGraphTest, RunsAtAnyBatchSizeFoldsEveryConvBatchNormAndMatchesInOnnx) {
  for (const char* path : kSpaces) {
    absl::StatusOr<std::shared_ptr<const SearchSpace>> space = LoadSearchSpace(path);
    ASSERT_TRUE(space.ok()) << space.status();
    Supernet supernet = RandomSupernet(*space, 3);
    for (const Architecture& arch : SomeArchitectures(**space)) {
      const std::string name = std::string(path) + " " + (*space)->Format(arch);
      absl::StatusOr<Supernet> subnet = ExtractSubnet(*supernet, arch, nullptr);
      ASSERT_TRUE(subnet.ok()) << subnet.status();
      (*subnet)->eval();
      const int64_t c = (*space)->input_channels(), hw = (*space)->input_size();
      // Traced at batch 2; run at 1, 7 and 64 below.
      absl::StatusOr<std::shared_ptr<torch::jit::Graph>> graph =
          TraceInference(**subnet, arch, torch::zeros({2, c, hw, hw}));
      ASSERT_TRUE(graph.ok()) << graph.status();
      const int norms = CountNodes(*graph, c10::Symbol::aten("batch_norm"));
      torch::jit::Module unfolded = ModuleFromGraph(*graph);
      const int folded = FoldBatchNorm(*graph);
      EXPECT_GT(folded, 0) << name;
      // Only NB201's last BatchNorm follows something other than a convolution.
      const int left = CountNodes(*graph, c10::Symbol::aten("batch_norm"));
      EXPECT_EQ(left, (*space)->kind() == SpaceKind::kNb201 ? 1 : 0) << name;
      EXPECT_EQ(folded + left, norms) << name;
      torch::jit::Module module = ModuleFromGraph(*graph);
      absl::StatusOr<std::string> onnx = GraphToOnnx(*graph, {1, c, hw, hw}, OnnxExportOptions{});
      ASSERT_TRUE(onnx.ok()) << name << ": " << onnx.status();
      absl::StatusOr<std::unique_ptr<OpenCvOnnxRunner>> runner = OpenCvOnnxRunner::Load(*onnx);
      ASSERT_TRUE(runner.ok()) << runner.status();
      torch::NoGradGuard no_grad;
      for (int64_t batch : {1, 7, 64}) {
        torch::manual_seed(batch);
        const torch::Tensor x = torch::randn({batch, c, hw, hw});
        ForwardContext ctx;
        ctx.mode = BnMode::kEval;
        const torch::Tensor expected = (*subnet)->Forward(x, arch, ctx);
        ASSERT_EQ(expected.sizes(), (std::vector<int64_t>{batch, (*space)->num_classes()}));
        EXPECT_EQ(MaxDiff(unfolded.forward({x}).toTensor(), expected), 0) << name << " batch " << batch;
        const torch::Tensor got = module.forward({x}).toTensor();
        ASSERT_EQ(got.sizes(), expected.sizes()) << name;
        const double scale = std::max(1.0, expected.abs().max().item<double>());
        EXPECT_LE(MaxDiff(got, expected), 1e-5 * scale) << name << " batch " << batch;
        absl::StatusOr<torch::Tensor> cv = (*runner)->Run(x);
        ASSERT_TRUE(cv.ok()) << cv.status();
        ASSERT_EQ(cv->sizes(), expected.sizes()) << name << " batch " << batch;
        EXPECT_LE(MaxDiff(*cv, expected), 1e-4 * scale) << name << " batch " << batch;
      }
    }
  }
}

TEST(OnnxExportTest, NamesTheNodeItCannotExpress) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::Value* x = graph->addInput("x");
  x->setType(c10::TensorType::get());
  torch::jit::Node* n = graph->create(c10::Symbol::aten("sigmoid"), {x});
  graph->insertNode(n);
  graph->registerOutput(n->output());
  absl::StatusOr<std::string> onnx = GraphToOnnx(graph, {1, 3, 8, 8}, OnnxExportOptions{});
  ASSERT_FALSE(onnx.ok());
  EXPECT_NE(onnx.status().message().find("aten::sigmoid"), std::string::npos) << onnx.status();
}

TEST(OpenCvOnnxRunnerTest, RejectsBytesThatAreNoModel) {
  EXPECT_FALSE(OpenCvOnnxRunner::Load("not an onnx model").ok());
}

}  // namespace
}  // namespace nas::supernet
