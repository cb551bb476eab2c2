#ifndef NAS_SUPERNET_SHRINKING_H_
#define NAS_SUPERNET_SHRINKING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "supernet/architecture.h"
#include "supernet/search_space.h"

namespace nas::supernet {

// Search-space shrinking during training (TrainConfig::shrink, docs/training.md): after a
// share of the steps, random architectures are scored by the supernet itself, the options
// whose architectures rank worst leave the space, and training goes on over the rest.
struct ShrinkConfig {
  double at = 0;  // Share of the training steps after which the space shrinks, in (0, 1); 0: never.
  int64_t drop = 1;                  // Options removed (by name, in every gene that has them).
  std::string score = "q90";         // How options are scored: see ScoreOptions.
  int64_t archs = 100;               // Random architectures scored.
  int64_t images = 500;              // Validation images per architecture (0: all).
  int64_t calibration_batches = 2;   // Training batches re-estimating BN per architecture.
  bool enabled() const { return at > 0; }
};

// OK for "mean" and "qNN" (NN in 1..99); else an error naming `field`.
absl::Status ValidateScoreMethod(const std::string& method, const std::string& field);

struct OptionScore {
  std::string option;
  double score = 0;  // In [0, 1]; higher is better.
  int64_t uses = 0;  // Genes of the scored architectures that take the option.
};

// Ranks `archs` by `values` (higher is better; rank 0 the worst, 1 the best, ties in the
// given order) and scores each option name over the architectures that take it, once per
// gene that takes it: "mean" their mean rank; "qNN" the NN-th percentile of their ranks
// (linear interpolation), i.e. how well the best architectures with the option do, which
// spares an option that many poor architectures but also the good ones take. Worst first;
// equal scores by name. Options no architecture takes are not listed.
absl::StatusOr<std::vector<OptionScore>> ScoreOptions(const SearchSpace& space,
                                                      const std::vector<Architecture>& archs,
                                                      const std::vector<double>& values, const std::string& method);

// The (at most) `drop` worst of `scores` that can leave `space` together with the options
// in `excluded`: each gene keeps at least one option.
std::vector<std::string> ChooseDropped(const SearchSpace& space, const std::vector<OptionScore>& scores,
                                       const std::vector<std::string>& excluded, int64_t drop);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_SHRINKING_H_
