#ifndef NAS_SEARCH_EVALUATOR_SPEC_H_
#define NAS_SEARCH_EVALUATOR_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nas::search {

// Most independent draws a zero-cost proxy may be averaged over (ZeroCostOptions::repeats).
inline constexpr int kMaxZeroCostRepeats = 16;

// One signal of an evaluator spec (no LibTorch: request validation parses specs too).
struct EvaluatorItem {
  enum class Kind { kSupernet, kSupernetLoss, kZeroCost, kFlops, kParams };
  Kind kind = Kind::kSupernet;
  std::string path;   // Checkpoint (supernet*), training config (zc; may be empty).
  std::string proxy;  // zc: synflow | naswot | jacob_cov | grad_norm | snip | swap | meco | zico.
  double weight = 1;
  int cells_per_stage = 0;  // supernet*: evaluated with its cells repeated to this many per stage; 0: as trained.
};

// A parsed `zc:` or `combo:` evaluator spec:
//   zc:PROXY:CONFIG          one training-free proxy; CONFIG is a training config (space
//                            and data) whose untrained supernet is scored
//   combo:ITEM+ITEM+...      weighted mean percentile of the items (CombinedEvaluator):
//     supernet:CHECKPOINT        inherited validation accuracy
//     supernet_loss:CHECKPOINT   minus inherited validation loss
//     supernet@K:CHECKPOINT, supernet_loss@K:CHECKPOINT
//                                the same with the cells repeated to K per stage (cell-based
//                                spaces: a cell scored stacked deeper; supernet::RepeatCells)
//     zc:PROXY[:CONFIG]          a proxy; CONFIG defaults to the combo's checkpoint's
//     flops | params             the cost model's counts
//     ref=N                      reference sample size (default 100)
//   each item but ref= may end in *WEIGHT (default 1).
struct EvaluatorSpec {
  bool combo = false;
  std::vector<EvaluatorItem> items;
  int reference = 100;
  std::string Format() const;
};

bool IsModelEvaluatorSpec(const std::string& spec);  // zc: or combo:
// Errors start with `field` ("--evaluator", "spec.evaluator") and name the bad item.
absl::StatusOr<EvaluatorSpec> ParseEvaluatorSpec(const std::string& spec, const std::string& field);

}  // namespace nas::search

#endif  // NAS_SEARCH_EVALUATOR_SPEC_H_
