#ifndef NAS_NAS_LAUNCHER_H_
#define NAS_NAS_LAUNCHER_H_

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "supernet/distributed.h"

namespace nas::service {

// `nas train --nproc N` on one machine: starts N copies of this program (`args`, the
// original command line without --nproc) as ranks 0..N-1 of a process group on a free
// loopback port, with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set as PyTorch's
// launcher sets them. SIGINT/SIGTERM are forwarded (the ranks checkpoint and stop
// together). When a rank fails, the others are sent SIGTERM and, after `grace`, SIGKILL;
// the error names the rank and how it ended.
absl::Status LaunchLocalRanks(int nproc, const std::vector<std::string>& args,
                              std::chrono::seconds grace, std::ostream& log);

// What a command that can run distributed does first. With nproc > 1 it launches the
// local ranks and waits for them (launched, with their combined status); otherwise it
// joins the process group the environment names (RANK, WORLD_SIZE, ...; `dist` stays
// null for one process). `timeout_s` bounds the rendezvous and every collective.
struct DistributedStart {
  bool launched = false;
  absl::Status launch_status;
  std::unique_ptr<supernet::Distributed> dist;
};
absl::StatusOr<DistributedStart> StartDistributed(int nproc, int timeout_s, const std::vector<std::string>& args,
                                                  std::ostream& log);

// `args` without "--nproc N" / "--nproc=N".
std::vector<std::string> WithoutNproc(const std::vector<std::string>& args);

}  // namespace nas::service

#endif  // NAS_NAS_LAUNCHER_H_
