#ifndef NAS_NAS_LAUNCHER_H_
#define NAS_NAS_LAUNCHER_H_

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace nas::service {

// `nas train --nproc N` on one machine: starts N copies of this program (`args`, the
// original command line without --nproc) as ranks 0..N-1 of a process group on a free
// loopback port, with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set as PyTorch's
// launcher sets them. SIGINT/SIGTERM are forwarded (the ranks checkpoint and stop
// together). When a rank fails, the others are sent SIGTERM and, after `grace`, SIGKILL;
// the error names the rank and how it ended.
absl::Status LaunchLocalRanks(int nproc, const std::vector<std::string>& args,
                              std::chrono::seconds grace, std::ostream& log);

// `args` without "--nproc N" / "--nproc=N".
std::vector<std::string> WithoutNproc(const std::vector<std::string>& args);

}  // namespace nas::service

#endif  // NAS_NAS_LAUNCHER_H_
