#include "nas/engine/progress.h"

#include <algorithm>
#include <cstdint>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace nas::engine {

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dm%02ds", s / 60, s % 60);
}

std::string DescribeBundle(const v1::ExportSubnetResponse& r) {
  std::string out;
  if (r.quantized()) {
    absl::StrAppendFormat(&out,
                          "  quantized (%s engine): %d integer convolutions; vs the fake-quantized supernet path: "
                          "top-1 agreement %.1f %%; %.1f KB, %.3g GBitOPs\n",
                          r.quantized_engine(), r.integer_convolutions(), 100.0 * r.fake_quant_top1_agreement(),
                          r.size_bytes() / 1e3, r.bitops() / 1e9);
  }
  absl::StrAppendFormat(&out, "  checks: vs the %s max |diff| %.2g, BN folding %.2g, batch sizes %s%s\n",
                                    r.quantized() ? "fake-quantized path" : "supernet path", r.max_abs_diff(), r.bn_fold_max_abs_diff(),
                                    absl::StrJoin(r.batch_sizes_checked(), "/"),
                                    r.onnx() ? absl::StrFormat(", ONNX in OpenCV DNN vs TorchScript %.2g",
                                                               r.onnx_max_abs_diff())
                                             : "");
  absl::StrAppendFormat(&out, "  test accuracy %.2f %% on %d images (TorchScript)", r.test_accuracy(), r.test_images());
  if (r.onnx()) absl::StrAppendFormat(&out, ", %.2f %% (ONNX in OpenCV DNN)", r.onnx_test_accuracy());
  out += "\n";
  if (r.latency_ms() > 0) {
    absl::StrAppendFormat(&out, "  latency at batch 1 (median): %.3f ms TorchScript", r.latency_ms());
    if (r.onnx_latency_ms() > 0) absl::StrAppendFormat(&out, ", %.3f ms ONNX in OpenCV DNN", r.onnx_latency_ms());
    if (r.float32_latency_ms() > 0) absl::StrAppendFormat(&out, ", %.3f ms the float32 network", r.float32_latency_ms());
    out += "\n";
  }
  if (r.quantized()) {
    absl::StrAppendFormat(&out, "  the same network in float32: %.2f %% test accuracy\n", r.float32_test_accuracy());
  }
  return out;
}

std::string DescribeEvaluation(const v1::Evaluation& e, const std::string& primary_metric) {
  std::string s = absl::StrFormat("%.3f MFLOPs, %.4f M params", e.flops() / 1e6, e.params() / 1e6);
  if (e.has_accuracy()) s = absl::StrFormat("%.2f %% at %s", e.accuracy(), s);
  if (e.has_rerank_accuracy()) s = absl::StrFormat("%.2f %% re-ranked (%s)", e.rerank_accuracy(), s);
  // Devices in name order, as the map of the search core gives them.
  std::map<std::string, double> latency(e.latency_ms().begin(), e.latency_ms().end());
  for (const auto& [device, ms] : latency) absl::StrAppendFormat(&s, ", %.4g ms on %s", ms, device);
  if (!primary_metric.empty() && primary_metric != "accuracy" && primary_metric != "flops" &&
      primary_metric != "params" && latency.empty()) {
    absl::StrAppend(&s, ", ", primary_metric, " unknown");
  }
  return s;
}

std::string FormatSearchProgress(const v1::SearchProgress& p) {
  return absl::StrFormat("generation %d: %d/%d evaluated%s, best %s", p.generation(), p.evaluated(), p.budget(),
                         p.prescored() > 0 ? absl::StrCat(" (and ", p.prescored(), " free from the reference sample)")
                                           : "",
                         DescribeEvaluation(p.best(), p.metric()));
}

std::string FormatTrainingProgress(const v1::TrainingProgress& p) {
  return absl::StrFormat("step %d/%d  epoch %.2f  loss %.4f  acc %.3f  %.0f img/s  ETA %s%s", p.step(),
                         p.total_steps(), p.epoch(), p.loss(), p.accuracy(), p.images_per_second(),
                         FormatDuration(p.eta_seconds()),
                         p.has_validation_accuracy()
                             ? absl::StrFormat("  validation accuracy %.2f %%", 100 * p.validation_accuracy())
                             : "");
}

StreamProgress::~StreamProgress() { EndBar(); }

void StreamProgress::EndBar() {
  if (!bar_open_) return;
  out_ << "\n" << std::flush;
  bar_open_ = false;
}

void StreamProgress::Message(const std::string& line) {
  EndBar();
  out_ << line << "\n" << std::flush;
}

void StreamProgress::Search(const v1::SearchProgress& progress) {
  EndBar();
  out_ << FormatSearchProgress(progress) << "\n" << std::flush;
}

void StreamProgress::Training(const v1::TrainingProgress& progress, bool log_line) {
  const std::string text = FormatTrainingProgress(progress);
  if (!tty_) {
    if (log_line) out_ << text << "\n" << std::flush;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const bool last = progress.step() >= progress.total_steps();
  if (!last && bar_open_ && std::chrono::duration<double>(now - last_draw_).count() <= 0.2) return;
  constexpr int kWidth = 24;
  const int filled =
      static_cast<int>(kWidth * progress.step() / std::max<int64_t>(1, progress.total_steps()));
  out_ << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << text << "   "
       << std::flush;
  bar_open_ = true;
  last_draw_ = now;
}

}  // namespace nas::engine
