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

// Plot coordinates of an evaluation on an axis: FLOPs and params in millions.
double AxisValue(const Evaluation& e, const std::string& metric) {
  const double v = e.Value(metric);
  return metric == "flops" || metric == "params" ? v / 1e6 : v;
}

std::string AxisLabel(const std::string& metric) {
  if (metric == "flops") return "MFLOPs";
  if (metric == "params") return "parameters (M)";
  if (metric == "accuracy") return "accuracy (%)";
  return metric + " (ms)";
}

}  // namespace

std::string PlotSearchSvg(const SearchResult& result, const std::string& title) {
  const std::string xm = result.x_objective.metric, ym = result.y_objective.metric;
  const auto X = [&](const Evaluation& e) { return AxisValue(e, xm); };
  const auto Y = [&](const Evaluation& e) { return AxisValue(e, ym); };
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const Evaluation& e : result.history) {
    if (std::isnan(X(e)) || std::isnan(Y(e))) continue;
    x_min = std::min(x_min, X(e));
    x_max = std::max(x_max, X(e));
    y_min = std::min(y_min, Y(e));
    y_max = std::max(y_max, Y(e));
  }
  if (!std::isfinite(x_min) || !std::isfinite(y_min)) x_min = x_max = y_min = y_max = 0;
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
  absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                        (kLeft + kWidth - kRight) / 2, kHeight - 10, AxisLabel(xm));
  absl::StrAppendFormat(&svg,
                        "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" "
                        "text-anchor=\"middle\">%s</text>\n",
                        (kTop + kHeight - kBottom) / 2, (kTop + kHeight - kBottom) / 2, AxisLabel(ym));
  for (const Evaluation& e : result.history) {
    absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#7a9cc6\" fill-opacity=\"0.6\"/>\n",
                          px(X(e)), py(Y(e)));
  }
  std::vector<int> front = result.front;
  std::sort(front.begin(), front.end(), [&](int a, int b) {
    return X(result.history[a]) < X(result.history[b]);
  });
  std::string points;
  for (int i : front) {
    absl::StrAppendFormat(&points, "%.1f,%.1f ", px(X(result.history[i])), py(Y(result.history[i])));
  }
  absl::StrAppendFormat(&svg, "<polyline points=\"%s\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\"/>\n",
                        points);
  for (int i : front) {
    absl::StrAppendFormat(&svg, "<circle class=\"front\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#c0392b\"/>\n",
                          px(X(result.history[i])), py(Y(result.history[i])));
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c0392b\">Pareto front (%d)</text>\n"
                        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#7a9cc6\">evaluated (%d)</text>\n</svg>\n",
                        kWidth - 190, kTop + 10, front.size(), kWidth - 190, kTop + 26,
                        result.history.size());
  return svg;
}

}  // namespace nas::search
