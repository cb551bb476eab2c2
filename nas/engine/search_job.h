#ifndef NAS_NAS_ENGINE_SEARCH_JOB_H_
#define NAS_NAS_ENGINE_SEARCH_JOB_H_

#include <functional>
#include <ostream>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nas/engine/progress.h"
#include "proto/nas.pb.h"
#include "supernet/distributed.h"
#include "supernet/search_space.h"

namespace nas::engine {

// What `supernet:CHECKPOINT` is combined with unless the spec says otherwise: the
// combination that ranked best per CPU-minute on NAS-Bench-201 (docs/benchmarks.md): the
// inherited validation loss at double weight, three zero-cost proxies and FLOPs at half
// weight, as percentiles among 100 random architectures.
inline constexpr char kDefaultCombination[] =
    "supernet_loss*2+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5+ref=100";
// The default for a cell-based supernet trained with one cell per stage (a proxy of a
// deeper network, e.g. configs/nb201_proxy.yaml): the same plus the inherited accuracy
// with the cells repeated to three per stage at weight 1.5, which ranks residual cells as
// the deeper network does (docs/benchmarks.md).
inline constexpr char kDefaultCellProxyCombination[] =
    "supernet_loss*2+supernet@3*1.5+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5+ref=100";

// A supernet: search that sets neither rerank_top nor rerank_images re-evaluates its 5
// best on 2,000 validation images after the search and returns the best of those (on
// NAS-Bench-201 it turned the one pick of twelve outside the top 1 % into one inside, for
// well under a CPU-minute per search; docs/benchmarks.md).
inline constexpr int kDefaultSupernetRerankTop = 5;
inline constexpr int64_t kDefaultSupernetRerankImages = 2000;

// The default combination for the supernet `space`: kDefaultCellProxyCombination for a
// cell-based space with one cell per stage, else kDefaultCombination.
std::string DefaultCombinationFor(const supernet::SearchSpace& space);

// The evaluator a `supernet:CHECKPOINT` search runs on when combined with `combine`
// (combo: items joined by '+'): a bare `supernet` or `supernet_loss` item (optionally
// `@CELLS`, `*WEIGHT`) takes the checkpoint; without one, the inherited accuracy is added in front
// with weight 1. "combo:" + the items.
std::string CombineWithSupernet(const std::string& checkpoint, const std::string& combine);

// Where a search job runs; the spec says what it searches.
struct SearchJobEnv {
  // Evaluation archive (SQLite): "" the default cache's, "none" no archive.
  std::string archive;
  // result.json and plot.svg are written here when set.
  std::string out_dir;
  // Also receives result.json's text (the CLI's --json).
  std::ostream* json_out = nullptr;
  // Polled after every generation; true stops the search there (resumable).
  std::function<bool()> should_stop;
  // One rank of a data-parallel evaluation (not owned; null: one process). Every rank runs
  // the same search; only rank 0 writes files and reports progress.
  supernet::Distributed* distributed = nullptr;
  torch::Device device = torch::kCPU;
};

// Runs the search `spec` describes (spec.space: a search space YAML path). Unset fields
// take their documented defaults. Errors name the spec's fields.
absl::StatusOr<v1::SearchResult> RunSearchJob(const v1::SearchSpec& spec, const SearchJobEnv& env,
                                              ProgressSink& progress);

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_SEARCH_JOB_H_
