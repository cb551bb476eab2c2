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

}  // namespace

std::string PlotSearchSvg(const SearchResult& result, const std::string& title) {
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const Evaluation& e : result.history) {
    x_min = std::min(x_min, e.cost.flops / 1e6);
    x_max = std::max(x_max, e.cost.flops / 1e6);
    y_min = std::min(y_min, e.accuracy);
    y_max = std::max(y_max, e.accuracy);
  }
  if (result.history.empty()) x_min = x_max = y_min = y_max = 0;
  if (x_max - x_min < 1e-9) x_max = x_min + 1;
  if (y_max - y_min < 1e-9) y_max = y_min + 1;
  const auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * (kWidth - kLeft - kRight); };
  const auto py = [&](double y) { return kHeight - kBottom - (y - y_min) / (y_max - y_min) * (kHeight - kTop - kBottom); };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, kHeight);
  absl::StrAppendFormat(&svg, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">%s</text>\n", kLeft, Escape(title));
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
  absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">MFLOPs</text>\n",
                        (kLeft + kWidth - kRight) / 2, kHeight - 10);
  absl::StrAppendFormat(&svg,
                        "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" "
                        "text-anchor=\"middle\">accuracy (%%)</text>\n",
                        (kTop + kHeight - kBottom) / 2, (kTop + kHeight - kBottom) / 2);
  for (const Evaluation& e : result.history) {
    absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#7a9cc6\" fill-opacity=\"0.6\"/>\n",
                          px(e.cost.flops / 1e6), py(e.accuracy));
  }
  std::vector<int> front = result.front;
  std::sort(front.begin(), front.end(), [&](int a, int b) {
    return result.history[a].cost.flops < result.history[b].cost.flops;
  });
  std::string points;
  for (int i : front) {
    absl::StrAppendFormat(&points, "%.1f,%.1f ", px(result.history[i].cost.flops / 1e6),
                          py(result.history[i].accuracy));
  }
  absl::StrAppendFormat(&svg, "<polyline points=\"%s\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\"/>\n",
                        points);
  for (int i : front) {
    absl::StrAppendFormat(&svg, "<circle class=\"front\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#c0392b\"/>\n",
                          px(result.history[i].cost.flops / 1e6), py(result.history[i].accuracy));
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c0392b\">Pareto front (%d)</text>\n"
                        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#7a9cc6\">evaluated (%d)</text>\n</svg>\n",
                        kWidth - 190, kTop + 10, front.size(), kWidth - 190, kTop + 26,
                        result.history.size());
  return svg;
}

}  // namespace nas::search
