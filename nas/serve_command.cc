#include "nas/serve_command.h"

#include <pthread.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nas/service.h"
#include "supernet/file_util.h"

namespace nas::service {
namespace {

// `nas serve`: runs until SIGINT/SIGTERM, then shuts down gracefully.
absl::Status RunServe(const ServerOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Worker threads inherit the mask.
  auto server = NasServer::Start(options);
  if (!server.ok()) return server.status();
  std::cout << "nas server listening on " << options.host << ":" << (*server)->port() << " (data: " << options.data_dir
            << ")" << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "signal " << signal << ": stopping; running jobs checkpoint and resume on the next start\n";
  (*server)->Shutdown();
  return absl::OkStatus();
}

// The token from --token or --token-file (its first line).
absl::Status ResolveToken(ServerOptions* serve, const std::string& token_file) {
  if (token_file.empty()) return absl::OkStatus();
  if (!serve->token.empty()) return absl::InvalidArgumentError("--token and --token-file: give one");
  absl::StatusOr<std::string> text = ReadFileBytes(token_file);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("--token-file: ", text.status().message()));
  serve->token = std::string(absl::StripAsciiWhitespace(text->substr(0, text->find('\n'))));
  if (serve->token.empty()) return absl::InvalidArgumentError("--token-file " + token_file + ": empty");
  return absl::OkStatus();
}

}  // namespace

void AddServeCommand(Commands& commands) {
  auto serve = std::make_shared<ServerOptions>();
  auto token_file = std::make_shared<std::string>();
  CLI::App* serve_cmd = commands.app().add_subcommand(
      "serve", "Run the gRPC server (NasService, health, reflection); SIGTERM/Ctrl-C stops it gracefully, "
               "checkpointing running jobs, which resume on the next start");
  serve_cmd->add_option("--host", serve->host, "Address to bind (non-loopback needs --tls-* and --token)")
      ->capture_default_str();
  serve_cmd->add_option("--port", serve->port, "Port (0: pick a free one and print it)")->capture_default_str();
  serve_cmd->add_option("--data-dir", serve->data_dir, "Jobs, their outputs, the job store and the evaluation archive")
      ->capture_default_str();
  serve_cmd->add_option("--config-dir", serve->config_dir, "Search spaces and training configs the server knows")
      ->capture_default_str();
  serve_cmd->add_option("--allow-dir", serve->allowed_dirs,
                        "Further directory whose files (tables, checkpoints) requests may name (repeatable)");
  serve_cmd->add_option("--token", serve->token, "Require 'authorization: Bearer TOKEN' (or $NAS_TOKEN)")
      ->envname("NAS_TOKEN");
  serve_cmd->add_option("--tls-cert", serve->tls_cert, "PEM certificate chain for TLS");
  serve_cmd->add_option("--tls-key", serve->tls_key, "PEM private key for TLS");
  serve_cmd->add_flag("--allow-insecure-remote", serve->allow_insecure_remote,
                      "Allow a non-loopback address without TLS and a token (not recommended)");
  serve_cmd->add_option("--max-jobs", serve->max_running, "Jobs run at once")->capture_default_str();
  serve_cmd->add_option("--max-queued", serve->max_queued, "Jobs waiting; beyond this RESOURCE_EXHAUSTED")
      ->capture_default_str();
  serve_cmd->add_option("--threads", serve->threads, "Intra-op threads per job (default: one per core)");
  serve_cmd->add_option("--token-file", *token_file,
                        "File whose first line is the token (keeps it out of the process list)");
  serve_cmd->add_option("--max-budget", serve->limits.max_budget,
                        "Largest search budget a request may ask for (larger: RESOURCE_EXHAUSTED)")
      ->capture_default_str();
  serve_cmd->add_option("--max-constraints", serve->limits.max_constraints, "Most constraints per search request")
      ->capture_default_str();
  serve_cmd->add_option("--max-batch-size", serve->limits.max_batch_size, "Largest training batch size a request may set")
      ->capture_default_str();
  serve_cmd->add_option("--max-watchers", serve->max_watchers, "Concurrent WatchJob streams (each holds a thread)")
      ->capture_default_str();
  serve_cmd->add_option("--max-result-bytes", serve->max_result_bytes,
                        "Results larger than this are stored in the job without their history (the full "
                        "result.json stays in the job's directory)")
      ->capture_default_str();
  serve_cmd->add_option("--max-crash-restarts", serve->max_crash_restarts,
                        "Times a job that was running when the server died is restarted before it is FAILED")
      ->capture_default_str();

  commands.On(serve_cmd, [serve, token_file] {
    if (absl::Status s = ResolveToken(serve.get(), *token_file); !s.ok()) return s;
    return RunServe(*serve);
  });
}

}  // namespace nas::service
