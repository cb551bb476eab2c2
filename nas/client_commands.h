#ifndef NAS_NAS_CLIENT_COMMANDS_H_
#define NAS_NAS_CLIENT_COMMANDS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "nas/search_commands.h"
#include "nas/train_commands.h"

namespace nas::service {

// How the CLI reaches a server (`--server host:port`).
struct ClientOptions {
  std::string server;
  std::string token;   // Sent as "authorization: Bearer TOKEN".
  std::string tls_ca;  // PEM of the server's CA: use TLS.
};

// `nas jobs`, `nas watch JOB`, `nas cancel JOB` against a server.
absl::Status RunListJobs(const ClientOptions& client, bool json, std::ostream& out);
// Streams progress lines until the job ends; prints the result (search) or summary.
absl::Status RunWatchJob(const ClientOptions& client, const std::string& id, std::ostream& out, std::ostream& log);
absl::Status RunCancelJob(const ClientOptions& client, const std::string& id, std::ostream& out);
// `nas search --server`: submits the search (paths as the server sees them), then watches
// it; `request_id` makes a retried submission idempotent.
absl::Status RunRemoteSearch(const ClientOptions& client, const SearchCommandOptions& options,
                             const std::string& request_id, std::ostream& out, std::ostream& log);
// `nas train --server`: `config` is a training config file name in the server's config directory.
absl::Status RunRemoteTrain(const ClientOptions& client, const TrainCommandOptions& options,
                            const std::string& request_id, std::ostream& out, std::ostream& log);

// `nas export --server`: the server exports from a checkpoint it can read into
// DATA_DIR/exports/NAME, where NAME is --out (a bare name).
absl::Status RunRemoteExport(const ClientOptions& client, const ExportCommandOptions& options, std::ostream& out);

}  // namespace nas::service

#endif  // NAS_NAS_CLIENT_COMMANDS_H_
