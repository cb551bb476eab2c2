#ifndef NAS_NAS_SPACE_COMMANDS_H_
#define NAS_NAS_SPACE_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nas/cli.h"

namespace nas::service {

// `nas space describe`: layers, choices, size, cost extremes of each space.
struct DescribeOptions {
  std::vector<std::string> configs;
  bool json = false;
};
absl::Status RunSpaceDescribe(const DescribeOptions& options, std::ostream& out);

// `nas space cost`: totals and per-layer FLOPs/params of one architecture.
struct CostOptions {
  std::string config;
  std::string arch;
  bool json = false;
};
absl::Status RunSpaceCost(const CostOptions& options, std::ostream& out);

// `nas space sample`: n uniformly sampled architectures with their costs.
struct SampleOptions {
  std::string config;
  int64_t n = 10;
  uint64_t seed = 0;
  bool json = false;
};
absl::Status RunSpaceSample(const SampleOptions& options, std::ostream& out);

// Declares `nas space describe|cost|sample`.
void AddSpaceCommands(Commands& commands);

}  // namespace nas::service

#endif  // NAS_NAS_SPACE_COMMANDS_H_
