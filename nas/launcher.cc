#include "nas/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace nas::service {
namespace {

constexpr int kMaxRanks = 256;
pid_t g_children[kMaxRanks];
std::atomic<int> g_num_children{0};

void ForwardSignal(int signal) {
  for (int i = 0; i < g_num_children.load(); ++i) {
    if (g_children[i] > 0) kill(g_children[i], signal);
  }
}

// A port that was free a moment ago on 127.0.0.1.
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot find a free loopback port: ", std::strerror(errno)));
  }
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status));
  return "ended";
}

}  // namespace

std::vector<std::string> WithoutNproc(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;  // And its value.
      continue;
    }
    if (absl::StartsWith(args[i], "--nproc=")) continue;
    out.push_back(args[i]);
  }
  return out;
}

absl::Status LaunchLocalRanks(int nproc, const std::vector<std::string>& args, std::chrono::seconds grace,
                              std::ostream& log) {
  if (nproc < 1 || nproc > kMaxRanks) {
    return absl::InvalidArgumentError(absl::StrCat("--nproc: must be in [1, ", kMaxRanks, "]"));
  }
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  // The environment of every rank: ours, without the variables we set.
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var = *e;
    if (absl::StartsWith(var, "RANK=") || absl::StartsWith(var, "WORLD_SIZE=") ||
        absl::StartsWith(var, "MASTER_ADDR=") || absl::StartsWith(var, "MASTER_PORT=") ||
        absl::StartsWith(var, "LOCAL_RANK=")) {
      continue;
    }
    base_env.push_back(var);
  }
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  std::signal(SIGINT, ForwardSignal);
  std::signal(SIGTERM, ForwardSignal);
  log << "launching " << nproc << " ranks on 127.0.0.1:" << *port << "\n" << std::flush;
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> env = base_env;
    env.push_back(absl::StrCat("RANK=", r));
    env.push_back(absl::StrCat("LOCAL_RANK=", r));
    env.push_back(absl::StrCat("WORLD_SIZE=", nproc));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back(absl::StrCat("MASTER_PORT=", *port));
    std::vector<char*> envp;
    for (const std::string& v : env) envp.push_back(const_cast<char*>(v.c_str()));
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0) {
      ForwardSignal(SIGTERM);
      return absl::InternalError(absl::StrCat("cannot start rank ", r, ": ", std::strerror(rc)));
    }
    g_children[r] = pid;
    g_num_children.store(r + 1);
  }

  // Wait for all; after the first failure, stop the rest.
  std::vector<int> statuses(nproc, -1);
  int running = nproc, first_failed = -1;
  std::chrono::steady_clock::time_point kill_at{};
  while (running > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r) {
        if (g_children[r] != pid) continue;
        statuses[r] = status;
        g_children[r] = -1;
        --running;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && first_failed < 0) {
          first_failed = r;
          log << "rank " << r << " " << Describe(status) << "; stopping the other ranks\n" << std::flush;
          ForwardSignal(SIGTERM);
          kill_at = std::chrono::steady_clock::now() + grace;
        }
      }
      continue;
    }
    if (first_failed >= 0 && std::chrono::steady_clock::now() > kill_at) ForwardSignal(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  g_num_children.store(0);
  if (first_failed >= 0) {
    return absl::AbortedError(
        absl::StrCat("rank ", first_failed, " of ", nproc, " ", Describe(statuses[first_failed]),
                     "; training stopped (resume from the last checkpoint with --resume)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<DistributedStart> StartDistributed(int nproc, int timeout_s, const std::vector<std::string>& args,
                                                  std::ostream& log) {
  if (timeout_s < 1) return absl::InvalidArgumentError("--dist-timeout: must be >= 1 second");
  absl::StatusOr<supernet::DistributedOptions> options = supernet::DistributedOptionsFromEnvironment();
  if (!options.ok()) return options.status();
  DistributedStart start;
  if (nproc > 1) {
    if (std::getenv("WORLD_SIZE") != nullptr) {
      return absl::InvalidArgumentError("--nproc: WORLD_SIZE is set; use either --nproc or the environment");
    }
    start.launched = true;
    start.launch_status = LaunchLocalRanks(nproc, WithoutNproc(args), std::chrono::seconds(timeout_s + 10), log);
    return start;
  }
  options->timeout = std::chrono::seconds(timeout_s);
  if (options->world_size > 1) {
    absl::StatusOr<std::unique_ptr<supernet::Distributed>> connected = supernet::Distributed::Connect(*options);
    if (!connected.ok()) return connected.status();
    start.dist = *std::move(connected);
  }
  return start;
}

}  // namespace nas::service
