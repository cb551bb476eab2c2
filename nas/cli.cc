#include "nas/cli.h"

#include <atomic>
#include <csignal>

namespace nas::service {
namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<std::function<void()>*> g_training_stop{nullptr};

void OnSignal(int) {
  g_stop_requested = true;
  if (std::function<void()>* stop = g_training_stop.load()) (*stop)();
}

}  // namespace

absl::Status Commands::RunParsed() const {
  for (const auto& [command, run] : runs_) {
    if (command->parsed()) return run();
  }
  return absl::OkStatus();
}

void InstallStopSignals() {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
}

bool StopRequested() { return g_stop_requested.load(); }

void SetTrainingStop(std::function<void()>* stop) { g_training_stop.store(stop); }

}  // namespace nas::service
