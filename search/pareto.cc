#include "search/pareto.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace nas::search {

bool Dominates(const Point& a, const Point& b) {
  bool better = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) better = true;
  }
  return better;
}

std::vector<std::vector<int>> NonDominatedSort(const std::vector<Point>& points) {
  const int n = static_cast<int>(points.size());
  std::vector<std::vector<int>> dominated(n);
  std::vector<int> domination_count(n, 0);
  std::vector<std::vector<int>> fronts(1);
  for (int p = 0; p < n; ++p) {
    for (int q = 0; q < n; ++q) {
      if (Dominates(points[p], points[q])) {
        dominated[p].push_back(q);
      } else if (Dominates(points[q], points[p])) {
        ++domination_count[p];
      }
    }
    if (domination_count[p] == 0) fronts[0].push_back(p);
  }
  for (size_t i = 0; i < fronts.size() && !fronts[i].empty(); ++i) {
    std::vector<int> next;
    for (int p : fronts[i]) {
      for (int q : dominated[p]) {
        if (--domination_count[q] == 0) next.push_back(q);
      }
    }
    if (!next.empty()) fronts.push_back(std::move(next));
  }
  if (fronts.back().empty()) fronts.pop_back();
  return fronts;
}

std::vector<int> NonDominatedFront2D(const std::vector<Point>& points) {
  const int n = static_cast<int>(points.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return points[a][0] != points[b][0] ? points[a][0] < points[b][0] : points[a][1] < points[b][1];
  });
  // A point is dominated by a point of strictly smaller x with y no larger, or by a point
  // of equal x with strictly smaller y (the first of its x group, after sorting).
  std::vector<int> front;
  double best_y_before = std::numeric_limits<double>::infinity();  // Over strictly smaller x.
  for (int i = 0; i < n;) {
    int end = i;
    while (end < n && points[order[end]][0] == points[order[i]][0]) ++end;
    const double group_min_y = points[order[i]][1];
    if (group_min_y < best_y_before) {
      for (int k = i; k < end && points[order[k]][1] == group_min_y; ++k) front.push_back(order[k]);
      best_y_before = group_min_y;
    }
    i = end;
  }
  std::sort(front.begin(), front.end());
  return front;
}

std::vector<double> CrowdingDistance(const std::vector<Point>& points, const std::vector<int>& front) {
  const size_t m = front.size();
  std::vector<double> distance(m, 0.0);
  if (m == 0) return distance;
  const size_t objectives = points[front[0]].size();
  std::vector<size_t> order(m);
  for (size_t k = 0; k < objectives; ++k) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return points[front[a]][k] < points[front[b]][k]; });
    const double lo = points[front[order.front()]][k], hi = points[front[order.back()]][k];
    distance[order.front()] = distance[order.back()] = std::numeric_limits<double>::infinity();
    if (hi == lo) continue;
    for (size_t i = 1; i + 1 < m; ++i) {
      distance[order[i]] +=
          (points[front[order[i + 1]]][k] - points[front[order[i - 1]]][k]) / (hi - lo);
    }
  }
  return distance;
}

double Hypervolume2D(const std::vector<Point>& points, const std::array<double, 2>& reference) {
  std::vector<std::pair<double, double>> inside;
  for (const Point& p : points) {
    if (p[0] < reference[0] && p[1] < reference[1]) inside.emplace_back(p[0], p[1]);
  }
  std::sort(inside.begin(), inside.end());
  double volume = 0, best_y = reference[1];
  for (const auto& [x, y] : inside) {
    if (y < best_y) {
      volume += (reference[0] - x) * (best_y - y);
      best_y = y;
    }
  }
  return volume;
}

}  // namespace nas::search
