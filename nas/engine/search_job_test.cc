// How a supernet:CHECKPOINT evaluator is combined with the label-free signals.
#include "nas/engine/search_job.h"

#include <gtest/gtest.h>

#include "search/evaluator_spec.h"

namespace nas::engine {
namespace {

TEST(CombineWithSupernetTest, BareSupernetItemsTakeTheCheckpoint) {
  EXPECT_EQ(CombineWithSupernet("runs/a.nasckpt", "supernet_loss+zc:meco+flops*0.5+ref=50"),
            "combo:supernet_loss:runs/a.nasckpt+zc:meco+flops*0.5+ref=50");
  EXPECT_EQ(CombineWithSupernet("runs/a.nasckpt", "zc:synflow+supernet*2"),
            "combo:zc:synflow+supernet:runs/a.nasckpt*2");
  EXPECT_EQ(CombineWithSupernet("f", "supernet+supernet_loss*0.5"), "combo:supernet:f+supernet_loss:f*0.5");
  EXPECT_EQ(CombineWithSupernet("f", "supernet_loss*2+supernet_loss@2+zc:meco"),
            "combo:supernet_loss:f*2+supernet_loss@2:f+zc:meco");
  EXPECT_EQ(CombineWithSupernet("f", "supernet_loss@2:g+flops"), "combo:supernet:f+supernet_loss@2:g+flops");
}

TEST(CombineWithSupernetTest, WithoutOneTheInheritedAccuracyComesFirst) {
  EXPECT_EQ(CombineWithSupernet("runs/a.nasckpt", "zc:naswot+flops"), "combo:supernet:runs/a.nasckpt+zc:naswot+flops");
  // Only whole item names count.
  EXPECT_EQ(CombineWithSupernet("c", "supernets+flops"), "combo:supernet:c+supernets+flops");
}

TEST(CombineWithSupernetTest, TheDefaultCombinationIsAValidSpecWithOneSupernetSignal) {
  const std::string spec = CombineWithSupernet("CKPT.nasckpt", kDefaultCombination);
  absl::StatusOr<search::EvaluatorSpec> parsed = search::ParseEvaluatorSpec(spec, "--evaluator");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  int supernet_items = 0;
  for (const search::EvaluatorItem& item : parsed->items) supernet_items += item.path == "CKPT.nasckpt";
  EXPECT_EQ(supernet_items, 1) << spec;
  // The cell proxies' default: the loss as trained and the accuracy with the cells
  // repeated to three.
  const std::string cells = CombineWithSupernet("CKPT.nasckpt", kDefaultCellProxyCombination);
  parsed = search::ParseEvaluatorSpec(cells, "--evaluator");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  std::vector<int> repeats;
  for (const search::EvaluatorItem& item : parsed->items) {
    if (item.path == "CKPT.nasckpt") repeats.push_back(item.cells_per_stage);
  }
  EXPECT_EQ(repeats, (std::vector<int>{0, 3})) << cells;
}

TEST(CombineWithSupernetTest, OneCellPerStageSupernetsAlsoScoreTheCellsRepeated) {
  for (const auto& [path, expected] : std::vector<std::pair<std::string, std::string>>{
           {"configs/nb201_proxy.yaml", kDefaultCellProxyCombination},
           {"configs/nb201_proxy_deep.yaml", kDefaultCombination},
           {"configs/nb201.yaml", kDefaultCombination},
           {"configs/spos_shufflenet_small.yaml", kDefaultCombination},
           {"configs/mbv2_macro.yaml", kDefaultCombination}}) {
    absl::StatusOr<std::shared_ptr<const supernet::SearchSpace>> space = supernet::LoadSearchSpace(path);
    ASSERT_TRUE(space.ok()) << space.status();
    EXPECT_EQ(DefaultCombinationFor(**space), expected) << path;
  }
}

}  // namespace
}  // namespace nas::engine
