#include "search/svg_plot.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace nas::search {
namespace {

constexpr double kWidth = 720, kHeight = 480, kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;

std::string Escape(const std::string& s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// Plot coordinates of an evaluation on an axis: FLOPs and params in millions, BitOPs in
// billions, size in kilobytes.
double AxisValue(const Evaluation& e, const std::string& metric) {
  const double v = e.Value(metric);
  if (metric == "flops" || metric == "params") return v / 1e6;
  if (metric == "bitops") return v / 1e9;
  if (metric == "size") return v / 1e3;
  return v;
}

std::string AxisLabel(const std::string& metric) {
  if (metric == "flops") return "MFLOPs";
  if (metric == "params") return "parameters (M)";
  if (metric == "bitops") return "GBitOPs";
  if (metric == "size") return "model size (KB)";
  if (metric == "accuracy") return "accuracy (%)";
  return metric + " (ms)";
}

// One plot's elements, drawn `top` pixels down the document.
std::string ScatterPanel(const ScatterPlot& plot, double top) {
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const auto& [x, y] : plot.points) {
    if (std::isnan(x) || std::isnan(y)) continue;
    x_min = std::min(x_min, x);
    x_max = std::max(x_max, x);
    y_min = std::min(y_min, y);
    y_max = std::max(y_max, y);
  }
  if (!std::isfinite(x_min) || !std::isfinite(y_min)) x_min = x_max = y_min = y_max = 0;
  if (x_max - x_min < 1e-9) x_max = x_min + 1;
  if (y_max - y_min < 1e-9) y_max = y_min + 1;
  const auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * (kWidth - kLeft - kRight); };
  const auto py = [&](double y) { return kHeight - kBottom - (y - y_min) / (y_max - y_min) * (kHeight - kTop - kBottom); };

  std::string svg = absl::StrFormat("<g transform=\"translate(0 %.0f)\">\n", top);
  absl::StrAppendFormat(&svg, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">%s</text>\n", kLeft, Escape(plot.title));
  // Axes with five ticks each.
  absl::StrAppendFormat(&svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", kLeft,
                        kHeight - kBottom, kWidth - kRight, kHeight - kBottom);
  absl::StrAppendFormat(&svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", kLeft,
                        kTop, kLeft, kHeight - kBottom);
  for (int i = 0; i <= 4; ++i) {
    const double x = x_min + (x_max - x_min) * i / 4, y = y_min + (y_max - y_min) * i / 4;
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.1f</text>\n", px(x),
                          kHeight - kBottom + 18, x);
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", kLeft - 6,
                          py(y) + 4, y);
  }
  absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                        (kLeft + kWidth - kRight) / 2, kHeight - 10, Escape(plot.x_label));
  absl::StrAppendFormat(&svg,
                        "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" "
                        "text-anchor=\"middle\">%s</text>\n",
                        (kTop + kHeight - kBottom) / 2, (kTop + kHeight - kBottom) / 2, Escape(plot.y_label));
  for (const auto& [x, y] : plot.points) {
    if (std::isnan(x) || std::isnan(y)) continue;
    absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#7a9cc6\" fill-opacity=\"0.6\"/>\n",
                          px(x), py(y));
  }
  if (!plot.line.empty()) {
    std::vector<std::pair<double, double>> line = plot.line;
    std::sort(line.begin(), line.end());
    std::string points;
    for (const auto& [x, y] : line) absl::StrAppendFormat(&points, "%.1f,%.1f ", px(x), py(y));
    absl::StrAppendFormat(&svg, "<polyline points=\"%s\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\"/>\n",
                          points);
    for (const auto& [x, y] : line) {
      absl::StrAppendFormat(&svg, "<circle class=\"front\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#c0392b\"/>\n",
                            px(x), py(y));
    }
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c0392b\">%s (%d)</text>\n", kWidth - 190,
                          kTop + 10, Escape(plot.line_label), line.size());
  }
  absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#7a9cc6\">%s (%d)</text>\n</g>\n",
                        kWidth - 190, kTop + 26, Escape(plot.points_label), plot.points.size());
  return svg;
}

// Plots stacked top to bottom in one document.
std::string StackedSvg(const std::vector<ScatterPlot>& plots) {
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, kHeight * plots.size());
  for (size_t i = 0; i < plots.size(); ++i) absl::StrAppend(&svg, ScatterPanel(plots[i], kHeight * i));
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace

std::string ScatterSvg(const ScatterPlot& plot) { return StackedSvg({plot}); }

std::string PlotSearchSvg(const SearchResult& result, const std::string& title) {
  const std::string ym = result.y_objective.metric;
  std::vector<ScatterPlot> plots;
  const auto add = [&](const Objective& x, const std::vector<int>& front) {
    ScatterPlot plot;
    plot.title = plots.empty() ? title : absl::StrCat(AxisLabel(ym), " against ", AxisLabel(x.metric));
    plot.x_label = AxisLabel(x.metric);
    plot.y_label = AxisLabel(ym);
    plot.points_label = "evaluated";
    plot.line_label = "Pareto front";
    for (const Evaluation& e : result.history) plot.points.emplace_back(AxisValue(e, x.metric), AxisValue(e, ym));
    for (int i : front) plot.line.emplace_back(AxisValue(result.history[i], x.metric), AxisValue(result.history[i], ym));
    plots.push_back(std::move(plot));
  };
  add(result.x_objective, result.front);
  for (const Objective& x : result.more_axes) add(x, ParetoFront(result.history, result.y_objective, x));
  return StackedSvg(plots);
}

}  // namespace nas::search
