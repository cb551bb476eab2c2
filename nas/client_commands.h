#ifndef NAS_NAS_CLIENT_COMMANDS_H_
#define NAS_NAS_CLIENT_COMMANDS_H_

#include <ostream>
#include <string>

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nas/cli.h"
#include "proto/nas.grpc.pb.h"

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
// `--server`, `--token`, `--tls-ca` on a command that talks to a server.
void AddClientFlags(CLI::App* command, ClientOptions* client, bool required);
// Declares `nas jobs`, `nas watch`, `nas cancel`.
void AddClientCommands(Commands& commands);

// A stub for the server, and a call context carrying the token.
absl::StatusOr<std::unique_ptr<v1::NasService::Stub>> Connect(const ClientOptions& client);
std::unique_ptr<grpc::ClientContext> Context(const ClientOptions& client);
// A gRPC status as an absl one, its message marked as the server's.
absl::Status FromGrpc(const grpc::Status& s);

}  // namespace nas::service

#endif  // NAS_NAS_CLIENT_COMMANDS_H_
