// Every row of NAS-Bench-201's table maps to a distinct architecture of the nb201 space.
#include "supernet/nb201_table.h"

#include <gtest/gtest.h>

#include "tests/test_paths.h"

namespace nas::supernet {
namespace {

TEST(Nb201TableTest, EveryCellMapsToItsRow) {
  auto loaded = LoadSearchSpace("configs/nb201.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto& space = dynamic_cast<const Nb201Space&>(**loaded);
  const std::string path = nas::testing::SharedDataDir() + "/nb201_test_acc_200ep.csv";
  auto table = Nb201Table::Load(space, path);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows().size(), 15625u);
  // Every architecture of the space has exactly one row.
  Architecture arch{std::vector<int>(6, 0)};
  for (int code = 0; code < 15625; ++code) {
    int rest = code;
    for (int& g : arch.genes) {
      g = rest % 5;
      rest /= 5;
    }
    const int index = table->IndexOf(arch);
    ASSERT_GE(index, 0) << space.Format(arch);
    EXPECT_EQ(table->rows()[index].arch, arch);
  }
  // Row 1 of the published table, and the published optimum of 94.37.
  EXPECT_EQ(space.Format(table->rows()[1].arch),
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
            "skip_connect~2|");
  double best = 0;
  for (const auto& row : table->rows()) best = std::max(best, row.cifar10_test);
  EXPECT_NEAR(best, 94.37, 0.005);
}

TEST(Nb201TableTest, BadFileNamesTheLine) {
  auto loaded = LoadSearchSpace("configs/nb201.yaml");
  const auto& space = dynamic_cast<const Nb201Space&>(**loaded);
  EXPECT_EQ(Nb201Table::Load(space, "no/such/file.csv").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace nas::supernet
