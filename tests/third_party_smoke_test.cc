// Checks that the wrapped Debian libraries link and behave as the project expects.
#include <atomic>

#include <gtest/gtest.h>
#include <tbb/parallel_for.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

TEST(ThirdPartySmokeTest, TorchConvolutionRuns) {
  torch::manual_seed(1);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).padding(1).bias(false));
  torch::Tensor y = conv->forward(torch::ones({2, 3, 8, 8}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 8, 8, 8}));
}

TEST(ThirdPartySmokeTest, TbbParallelForVisitsEveryIndex) {
  std::atomic<int> sum{0};
  tbb::parallel_for(0, 1000, [&](int i) { sum += i; });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

TEST(ThirdPartySmokeTest, YamlCppParses) {
  YAML::Node node = YAML::Load("a: [1, 2, 3]");
  EXPECT_EQ(node["a"].size(), 3u);
}
