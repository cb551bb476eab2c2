// The `nas space` commands, called in-process.
#include "nas/space_commands.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace nas::service {
namespace {

using ::testing::HasSubstr;

TEST(SpaceCommandsTest, DescribePrintsEveryShippedSpace) {
  std::ostringstream out;
  DescribeOptions options;
  options.configs = {"configs/spos_shufflenet.yaml", "configs/mbv2_macro.yaml",
                     "configs/nb201.yaml"};
  ASSERT_TRUE(RunSpaceDescribe(options, out).ok());
  EXPECT_THAT(out.str(), HasSubstr("space spos_shufflenet (shufflenet_oneshot)"));
  EXPECT_THAT(out.str(), HasSubstr("1099511627776 architectures"));
  EXPECT_THAT(out.str(), HasSubstr("space mbv2_macro (mobilenetv2_macro)"));
  EXPECT_THAT(out.str(), HasSubstr("15625 architectures"));
  EXPECT_THAT(out.str(), HasSubstr("min FLOPs  7.783 M FLOPs, 0.073 M params: |none~0|"));
}

TEST(SpaceCommandsTest, DescribeJsonHasExtremesThatReachTheirCost) {
  std::ostringstream out;
  DescribeOptions options;
  options.configs = {"configs/nb201.yaml"};
  options.json = true;
  ASSERT_TRUE(RunSpaceDescribe(options, out).ok());
  const nlohmann::json j = nlohmann::json::parse(out.str());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["size"], 15625);
  EXPECT_EQ(j[0]["genes"].size(), 6u);
  EXPECT_EQ(j[0]["max_params"]["params"], 1531546);

  std::ostringstream cost_out;
  CostOptions cost{"configs/nb201.yaml", j[0]["max_params"]["arch"], /*json=*/true};
  ASSERT_TRUE(RunSpaceCost(cost, cost_out).ok());
  const nlohmann::json c = nlohmann::json::parse(cost_out.str());
  EXPECT_EQ(c["params"], 1531546);
  int64_t sum = 0;
  for (const auto& layer : c["layers"]) sum += layer["flops"].get<int64_t>();
  EXPECT_EQ(sum, c["flops"].get<int64_t>());
}

TEST(SpaceCommandsTest, CostTablePrintsPerLayerRowsAndTotal) {
  std::ostringstream out;
  CostOptions options{"configs/mbv2_macro.yaml", "0,1,2,0,1,2,0,1", false};
  ASSERT_TRUE(RunSpaceCost(options, out).ok());
  EXPECT_THAT(out.str(), HasSubstr("layers[7]"));
  EXPECT_THAT(out.str(), HasSubstr("total"));
}

TEST(SpaceCommandsTest, SampleIsReproducible) {
  SampleOptions options{"configs/spos_shufflenet_small.yaml", 5, 17, false};
  std::ostringstream a, b;
  ASSERT_TRUE(RunSpaceSample(options, a).ok());
  ASSERT_TRUE(RunSpaceSample(options, b).ok());
  EXPECT_EQ(a.str(), b.str());
  options.seed = 18;
  std::ostringstream c;
  ASSERT_TRUE(RunSpaceSample(options, c).ok());
  EXPECT_NE(a.str(), c.str());
}

TEST(SpaceCommandsTest, BadInputGivesClearErrors) {
  std::ostringstream out;
  EXPECT_THAT(std::string(RunSpaceCost({"configs/nb201.yaml", "|bogus~0|", false}, out).message()),
              HasSubstr("arch:"));
  EXPECT_EQ(RunSpaceCost({"configs/missing.yaml", "x", false}, out).code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(RunSpaceSample({"configs/nb201.yaml", 0, 1, false}, out).message()),
              HasSubstr("--n: must be between 1 and"));
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace nas::service
