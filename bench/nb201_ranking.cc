// Ranking quality of a trained NB201 supernet: inherited accuracies (BN recalibrated,
// validation split) of N random cells against NAS-Bench-201's 200-epoch stand-alone test
// accuracies. The table is read only after every supernet evaluation is done: it scores,
// it never informs.
//
//   bazel-bin/bench/nb201_ranking --checkpoint runs/X/checkpoint.nasckpt --n 200 --seed 7 \
//       --out runs/X/ranking [--eval-images 1000] [--calibration-batches 4] [--workers 2]
#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include "absl/strings/str_format.h"
#include "search/predictor.h"
#include "search/supernet_evaluator.h"
#include "search/svg_plot.h"
#include "supernet/file_util.h"
#include "supernet/nb201_space.h"
#include "supernet/nb201_table.h"

namespace {

struct Scores {
  double tau = 0, rho = 0, top10 = 0;
  size_t n = 0;
};

// Kendall tau, Spearman rho and the precision of the supernet's top 10 %.
Scores Score(const std::vector<double>& inherited, const std::vector<double>& truth) {
  Scores s;
  s.n = inherited.size();
  if (s.n < 3) return s;
  s.tau = nas::search::KendallTau(inherited, truth);
  s.rho = nas::search::SpearmanRho(inherited, truth);
  s.top10 = nas::search::TopPrecision(inherited, truth, 0.1);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Kendall tau of a trained NB201 supernet against NAS-Bench-201"};
  std::string checkpoint, out, table_path;
  int n = 200, workers = 2;
  uint64_t seed = 7;
  nas::search::SupernetEvaluator::Options eo;
  eo.max_images = 1000;
  eo.calibration_batches = 4;
  app.add_option("--checkpoint", checkpoint, "NB201 supernet checkpoint")->required();
  app.add_option("--n", n, "Random cells to evaluate")->capture_default_str();
  app.add_option("--seed", seed, "Seed of the cell sample")->capture_default_str();
  app.add_option("--eval-images", eo.max_images, "Validation images per cell")->capture_default_str();
  app.add_option("--calibration-batches", eo.calibration_batches, "BN recalibration batches")->capture_default_str();
  app.add_option("--workers", workers, "Cells evaluated at once (one thread each)")->capture_default_str();
  app.add_option("--table", table_path, "NB201 CSV (default: $NAS_SHARED_DATA or ../shared/data)");
  app.add_option("--out", out, "Directory for ranking.json and scatter.svg");
  bool rescore = false;
  app.add_flag("--rescore", rescore, "Reuse the inherited accuracies of OUT/ranking.json (same cells) instead of evaluating");
  CLI11_PARSE(app, argc, argv);
  if (table_path.empty()) table_path = nas::supernet::DefaultNb201TablePath();
  torch::set_num_threads(1);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::max(1, workers));

  auto evaluator = nas::search::SupernetEvaluator::Load(checkpoint, torch::kCPU, eo);
  if (!evaluator.ok()) {
    std::cerr << "error: " << evaluator.status().message() << "\n";
    return 1;
  }
  const auto* space = dynamic_cast<const nas::supernet::Nb201Space*>(&(*evaluator)->space());
  if (space == nullptr) {
    std::cerr << "error: the checkpoint's space is not nb201\n";
    return 2;
  }
  nas::Rng rng(seed);
  std::vector<nas::supernet::Architecture> archs;
  std::set<nas::supernet::Architecture> seen;
  while (static_cast<int>(archs.size()) < n) {
    nas::supernet::Architecture a = space->Sample(rng);
    if (seen.insert(a).second) archs.push_back(a);
  }
  std::vector<double> inherited(archs.size(), NAN), loss(archs.size(), NAN);
  std::atomic<int> done{0};
  const auto start = std::chrono::steady_clock::now();
  double eval_seconds = 0;
  if (rescore) {
    absl::StatusOr<std::string> text = nas::ReadFileBytes(out + "/ranking.json");
    if (!text.ok()) {
      std::cerr << "error: --rescore: " << text.status().message() << "\n";
      return 1;
    }
    const nlohmann::json old = nlohmann::json::parse(*text);
    eval_seconds = old.value("eval_seconds", 0.0);
    for (size_t i = 0; i < archs.size() && i < old["cells"].size(); ++i) {
      if (old["cells"][i]["arch"] != space->Format(archs[i])) {
        std::cerr << "error: --rescore: " << out << "/ranking.json holds other cells (seed or n differ)\n";
        return 1;
      }
      inherited[i] = old["cells"][i]["inherited"].get<double>();
      loss[i] = old["cells"][i].value("inherited_loss", NAN);
    }
  }
  if (!rescore) tbb::parallel_for(size_t{0}, archs.size(), [&](size_t i) {
    absl::StatusOr<nas::supernet::EvalResult> r = (*evaluator)->Evaluate(archs[i]);
    inherited[i] = r.ok() ? 100.0 * r->accuracy : NAN;
    loss[i] = r.ok() ? r->loss : NAN;
    const int d = ++done;
    if (d % 20 == 0) {
      std::cerr << absl::StrFormat("%d/%d cells evaluated, %.1f s\n", d, n,
                                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  });
  if (!rescore) eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Only now: the benchmark table, for scoring.
  absl::StatusOr<nas::supernet::Nb201Table> table = nas::supernet::Nb201Table::Load(*space, table_path);
  if (!table.ok()) {
    std::cerr << "error: " << table.status().message() << "\n";
    return 1;
  }
  std::vector<double> truth(archs.size());
  std::vector<double> inherited_connected, truth_connected, flops_connected, neg_loss_connected;
  nlohmann::json cells = nlohmann::json::array();
  nas::search::ScatterPlot plot;
  for (size_t i = 0; i < archs.size(); ++i) {
    truth[i] = table->rows()[table->IndexOf(archs[i])].cifar10_test;
    const bool connected = space->IsConnected(archs[i]);
    if (connected) {
      inherited_connected.push_back(inherited[i]);
      truth_connected.push_back(truth[i]);
      flops_connected.push_back(static_cast<double>(space->Cost(archs[i]).flops));
      neg_loss_connected.push_back(-loss[i]);
    }
    plot.points.emplace_back(truth[i], inherited[i]);
    cells.push_back({{"arch", space->Format(archs[i])}, {"inherited", inherited[i]}, {"true", truth[i]},
                     {"connected", connected}, {"inherited_loss", loss[i]}});
  }
  const Scores all = Score(inherited, truth), connected = Score(inherited_connected, truth_connected);
  // References on the same connected cells: how well FLOPs alone rank them, and how the
  // supernet's ranking relates to FLOPs (a short-training bias shows as a negative tau).
  const double flops_tau = nas::search::KendallTau(flops_connected, truth_connected);
  const double inherited_flops_tau = nas::search::KendallTau(inherited_connected, flops_connected);
  // The same cells ranked by validation loss instead of top-1 accuracy (finer-grained: no
  // ties, less quantization noise on a few hundred images).
  const Scores by_loss = Score(neg_loss_connected, truth_connected);
  const auto& train = (*evaluator)->trained();
  nlohmann::json j = {{"checkpoint", checkpoint},
                      {"sampler", train.config.sampler.kind},
                      {"steps", train.step},
                      {"n", n},
                      {"seed", seed},
                      {"eval_images", eo.max_images},
                      {"calibration_batches", eo.calibration_batches},
                      {"eval_seconds", eval_seconds},
                      {"all", {{"n", all.n}, {"kendall_tau", all.tau}, {"spearman_rho", all.rho}, {"top10_precision", all.top10}}},
                      {"connected", {{"n", connected.n}, {"kendall_tau", connected.tau}, {"spearman_rho", connected.rho},
                                     {"top10_precision", connected.top10}}},
                      {"connected_by_loss", {{"n", by_loss.n}, {"kendall_tau", by_loss.tau}, {"spearman_rho", by_loss.rho},
                                             {"top10_precision", by_loss.top10}}},
                      {"reference", {{"flops_vs_true_kendall_tau", flops_tau},
                                     {"inherited_vs_flops_kendall_tau", inherited_flops_tau}}},
                      {"cells", cells}};
  std::cout << absl::StrFormat(
      "sampler %s, %d steps: all %d cells: tau %.3f rho %.3f top10 %.2f | connected %d: tau %.3f rho %.3f top10 "
      "%.2f | by loss: tau %.3f rho %.3f top10 %.2f | reference: FLOPs vs true tau %.3f, inherited vs FLOPs tau %.3f "
      "| eval %.0f s\n",
      train.config.sampler.kind, train.step, all.n, all.tau, all.rho, all.top10, connected.n, connected.tau,
      connected.rho, connected.top10, by_loss.tau, by_loss.rho, by_loss.top10, flops_tau, inherited_flops_tau, eval_seconds);
  if (!out.empty()) {
    plot.title = absl::StrFormat("NB201 supernet (%s, %d steps): Kendall tau %.3f", train.config.sampler.kind,
                                 train.step, all.tau);
    plot.x_label = "NAS-Bench-201 test accuracy, 200 epochs (%)";
    plot.y_label = "inherited validation accuracy (%)";
    plot.points_label = "random cells";
    if (!nas::WriteFileAtomically(out + "/ranking.json", j.dump(2) + "\n").ok() ||
        !nas::WriteFileAtomically(out + "/scatter.svg", nas::search::ScatterSvg(plot)).ok()) {
      std::cerr << "error: cannot write to " << out << "\n";
      return 1;
    }
  }
  return 0;
}
