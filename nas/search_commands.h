#ifndef NAS_NAS_SEARCH_COMMANDS_H_
#define NAS_NAS_SEARCH_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace nas::service {

// `nas search`: an architecture search over a space with a benchmark-table evaluator.
struct SearchCommandOptions {
  std::string space;
  std::string evaluator;  // table:PATH[:COLUMN] (NAS-Bench-201 CSV; column cifar10 by default)
  std::string algorithm = "evolution";
  std::vector<std::string> constraints;
  int64_t budget = 100;
  uint64_t seed = 0;
  int population = 50;
  int parents = 10;
  double mutation_probability = 0.1;
  std::string predictor = "mlp_ensemble";
  std::string out;  // When set, result.json (best + full history) is written here.
  bool json = false;
};
// Progress lines (one per generation) go to `log`.
absl::Status RunSearchCommand(const SearchCommandOptions& options, std::ostream& out,
                              std::ostream& log);

}  // namespace nas::service

#endif  // NAS_NAS_SEARCH_COMMANDS_H_
