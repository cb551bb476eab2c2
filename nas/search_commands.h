#ifndef NAS_NAS_SEARCH_COMMANDS_H_
#define NAS_NAS_SEARCH_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nas/cli.h"
#include "nas/engine/search_job.h"
#include "proto/nas.pb.h"

namespace nas::service {

using engine::kDefaultCellProxyCombination;
using engine::kDefaultCombination;

// `nas search`: an architecture search over a space (the flags; the search itself is the
// engine's search job, the same one `nas serve` runs).
struct SearchCommandOptions {
  std::string space;      // Search space YAML; optional with a supernet evaluator.
  // table:PATH[:COLUMN] (NAS-Bench-201 CSV or a general table), supernet:CHECKPOINT, cost.
  std::string evaluator;
  std::string algorithm;  // Empty: the engine's default.
  std::vector<std::string> objectives;  // Default: accuracy (cost evaluator: none; required).
  std::vector<std::string> constraints;
  std::string latency;  // table:PATH: per-architecture latency CSV (arch,DEVICE,...).
  int64_t budget = 100;
  uint64_t seed = 0;
  int population = 50;
  int parents = 10;
  double mutation_probability = 0.1;
  std::string predictor = "mlp_ensemble";
  // Evaluation archive (SQLite); "none" disables it. Default: <cache>/evaluations.sqlite.
  std::string archive;
  // Supernet evaluator: overrides of the checkpoint's evaluation settings (-1: keep).
  int64_t calibration_batches = -1;
  int64_t eval_images = -1;
  // zc: and combo: evaluators: images per proxy evaluation, and the seed of the untrained
  // weights, of those images and of a combination's reference sample.
  int64_t zc_batch = 64;
  // supernet:CHECKPOINT is combined with these label-free signals (combo: items joined
  // by '+', docs/search.md); "none": the inherited accuracy alone; empty: the default for
  // the checkpoint's space (engine::DefaultCombinationFor).
  std::string combine;
  uint64_t zc_seed = 0;
  // zc: and combo: evaluators: independent draws (initialisation and batch, seeds
  // zc_seed, zc_seed + 1, ...) each proxy is averaged over.
  int zc_repeats = 1;
  std::vector<std::string> initial_archs;
  int rerank_top = -1;         // -1: unset (the engine's default).
  int64_t rerank_images = -1;  // -1: unset.
  bool no_reference_start = false;
  bool evaluate_equivalent = false;
  int threads = 0;  // Intra-op threads (0: one per core).
  std::string out;  // When set, result.json and plot.svg are written here.
  bool json = false;
  // Polled after every generation; true stops the search there (resumable).
  std::function<bool()> should_stop;
  // Distributed evaluation: --nproc N starts N local ranks that split each generation's
  // evaluations; with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set this process is one rank.
  int nproc = 1;
  int dist_timeout_s = 60;
  std::vector<std::string> args;  // This program's command line, for --nproc.
};
// The search the flags describe, as the API's SearchSpec (space: the YAML path as given).
v1::SearchSpec ToSearchSpec(const SearchCommandOptions& options);

// Declares `nas search` (local, or with --server submitted to a server and watched).
void AddSearchCommand(Commands& commands);

// Progress lines (one per generation) go to `log`.
absl::Status RunSearchCommand(const SearchCommandOptions& options, std::ostream& out,
                              std::ostream& log);

}  // namespace nas::service

#endif  // NAS_NAS_SEARCH_COMMANDS_H_
