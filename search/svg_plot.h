#ifndef NAS_SEARCH_SVG_PLOT_H_
#define NAS_SEARCH_SVG_PLOT_H_

#include <string>
#include <utility>
#include <vector>

#include "search/algorithms.h"

namespace nas::search {

// A scatter of points with an optional highlighted line of points (e.g. a Pareto front),
// as a standalone SVG document that a browser opens. Hand-written: a few lines of SVG
// need no library. NaN points are skipped.
struct ScatterPlot {
  std::string title, x_label, y_label;
  std::vector<std::pair<double, double>> points;
  std::string points_label;
  std::vector<std::pair<double, double>> line;  // Drawn sorted by x.
  std::string line_label;
};
std::string ScatterSvg(const ScatterPlot& plot);

// Renders every evaluated architecture as a point (x: the result's second objective, e.g.
// MFLOPs or latency; y: its first, e.g. accuracy %) with the
// Pareto front drawn as a line of highlighted points, as a standalone SVG document
// that a browser opens; below it one such plot per axis in `result.more_axes` (e.g.
// model size and int8 latency), each with its own front. Hand-written: a few lines of
// SVG need no library.
std::string PlotSearchSvg(const SearchResult& result, const std::string& title);

}  // namespace nas::search

#endif  // NAS_SEARCH_SVG_PLOT_H_
