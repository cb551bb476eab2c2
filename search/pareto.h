#ifndef NAS_SEARCH_PARETO_H_
#define NAS_SEARCH_PARETO_H_

#include <array>
#include <vector>

namespace nas::search {

// Points are objective vectors to MINIMIZE (negate what you maximize).
using Point = std::vector<double>;

// True when a is no worse than b in every objective and better in at least one.
bool Dominates(const Point& a, const Point& b);

// NSGA-II's fast non-dominated sort: fronts[0] are the indices of the non-dominated
// points, fronts[1] those dominated only by fronts[0], and so on.
std::vector<std::vector<int>> NonDominatedSort(const std::vector<Point>& points);

// Indices (ascending) of the non-dominated points among two-objective points, the same
// set as NonDominatedSort(points).front() (equal points are all kept), in O(n log n)
// time and O(n) memory whatever the number of points.
std::vector<int> NonDominatedFront2D(const std::vector<Point>& points);

// NSGA-II crowding distance of each member of `front` (same order); boundary points
// of every objective get infinity.
std::vector<double> CrowdingDistance(const std::vector<Point>& points, const std::vector<int>& front);

// Exact hypervolume of two-objective points (both minimized) dominated by and bounded by
// `reference`; points not better than the reference in both objectives add nothing.
double Hypervolume2D(const std::vector<Point>& points, const std::array<double, 2>& reference);

}  // namespace nas::search

#endif  // NAS_SEARCH_PARETO_H_
