#include "search/pareto.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace nas::search {
namespace {

TEST(ParetoTest, NonDominatedSortOnAHandCase) {
  // (error, flops): 0,1,2 are a front; 3 is dominated by 1; 4 by 3; 5 equals 2.
  const std::vector<Point> p = {{1, 5}, {2, 3}, {4, 1}, {3, 4}, {5, 5}, {4, 1}};
  const auto fronts = NonDominatedSort(p);
  ASSERT_EQ(fronts.size(), 3u);
  EXPECT_EQ(fronts[0], (std::vector<int>{0, 1, 2, 5}));
  EXPECT_EQ(fronts[1], (std::vector<int>{3}));
  EXPECT_EQ(fronts[2], (std::vector<int>{4}));
  EXPECT_TRUE(Dominates({1, 1}, {1, 2}));
  EXPECT_FALSE(Dominates({1, 2}, {1, 2}));
  EXPECT_FALSE(Dominates({0, 3}, {1, 2}));
}

TEST(ParetoTest, FrontIn2DEqualsTheFirstFrontOfTheSort) {
  const std::vector<Point> hand = {{1, 5}, {2, 3}, {4, 1}, {3, 4}, {5, 5}, {4, 1}, {2, 3}, {2, 7}, {0, 9}};
  EXPECT_EQ(NonDominatedFront2D(hand), NonDominatedSort(hand).front());
  EXPECT_TRUE(NonDominatedFront2D({}).empty());
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<Point> p(1 + rng() % 60);
    for (Point& q : p) q = {static_cast<double>(rng() % 8), static_cast<double>(rng() % 8)};  // Many ties.
    ASSERT_EQ(NonDominatedFront2D(p), NonDominatedSort(p).front()) << "trial " << trial;
  }
}

TEST(ParetoTest, FrontOfManyPointsNeedsLinearMemory) {
  // 300,000 points on a chain (each dominates all later ones): the sort's dominated
  // lists would hold 4.5e10 indices. Under a 1 GiB address-space cap the front must
  // still come out.
  struct rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
  struct rlimit cap = old;
  cap.rlim_cur = std::min<rlim_t>(old.rlim_max, rlim_t{1} << 30);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &cap), 0);
  std::vector<Point> p;
  for (int i = 0; i < 300000; ++i) p.push_back({static_cast<double>(i), static_cast<double>(i)});
  p.push_back({-1, 1e9});
  const std::vector<int> front = NonDominatedFront2D(p);
  setrlimit(RLIMIT_AS, &old);
  EXPECT_EQ(front, (std::vector<int>{0, 300000}));
}

TEST(ParetoTest, CrowdingDistanceOnAHandCase) {
  const std::vector<Point> p = {{0, 4}, {1, 2}, {2, 1}, {4, 0}};
  const auto d = CrowdingDistance(p, {0, 1, 2, 3});
  EXPECT_TRUE(std::isinf(d[0]));
  EXPECT_TRUE(std::isinf(d[3]));
  // Point 1: neighbours (0,4) and (2,1): 2/4 + 3/4; point 2: (1,2) and (4,0): 3/4 + 2/4.
  EXPECT_DOUBLE_EQ(d[1], 1.25);
  EXPECT_DOUBLE_EQ(d[2], 1.25);
}

TEST(ParetoTest, HypervolumeOfKnownFronts) {
  EXPECT_DOUBLE_EQ(Hypervolume2D({{1, 1}}, {3, 3}), 4.0);
  // A staircase: (1,3), (2,2), (3,1) with reference (4,4): 3 + 2 + 1 = 6.
  EXPECT_DOUBLE_EQ(Hypervolume2D({{1, 3}, {2, 2}, {3, 1}}, {4, 4}), 6.0);
  // Dominated and outside points change nothing.
  EXPECT_DOUBLE_EQ(Hypervolume2D({{1, 3}, {2, 2}, {3, 1}, {3, 3}, {5, 0}}, {4, 4}), 6.0);
  EXPECT_DOUBLE_EQ(Hypervolume2D({}, {4, 4}), 0.0);
}

}  // namespace
}  // namespace nas::search
