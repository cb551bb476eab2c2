#ifndef NAS_NAS_LATENCY_COMMANDS_H_
#define NAS_NAS_LATENCY_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nas/cli.h"

namespace nas::service {

// `nas profile`: a block latency lookup table of a search space on this machine, with the
// learned correction fitted on end-to-end measurements of extracted subnets and an
// optional held-out check (docs/latency.md).
struct ProfileCommandOptions {
  std::string space;          // Search space YAML.
  std::string out;            // Lookup table (JSON), written atomically.
  bool force = false;         // Overwrite an existing --out.
  std::string device_name = "cpu";  // The name searches use: latency@NAME.
  std::string statistic = "p10";  // p10 | median | min | mean (kernels::StatisticValue).
  int64_t batch_size = 0;     // Also profile this batch size (besides 1) when > 1.
  int warmup = 5;
  int runs = 50;              // Timed passes of every network.
  int rounds = 3;
  int threads = 1;
  uint64_t seed = 0;
  int calibrate = 60;         // Subnets measured end to end to fit the correction (0: none).
  int holdout = 0;            // Further subnets measured to report the predictor's error.
  bool json = false;
  std::function<bool()> should_stop;
};
absl::Status RunProfile(const ProfileCommandOptions& options, std::ostream& out, std::ostream& log);

// `nas latency`: predicted latency of architectures from a lookup table, optionally
// measured on this machine too.
struct LatencyCommandOptions {
  std::string table;               // Lookup table from nas profile.
  std::string space;               // Default: the space file the table records.
  std::vector<std::string> archs;  // Strings, or "largest" / "smallest".
  int64_t random = 0;
  uint64_t seed = 0;
  bool measure = false;
  int runs = 30;
  int warmup = 5;
  bool json = false;
};
absl::Status RunLatency(const LatencyCommandOptions& options, std::ostream& out);

// Declares `nas profile` and `nas latency`.
void AddLatencyCommands(Commands& commands);

}  // namespace nas::service

#endif  // NAS_NAS_LATENCY_COMMANDS_H_
