#ifndef NAS_NAS_CLI_H_
#define NAS_NAS_CLI_H_

// What the `nas` subcommands share: each command file declares its own flags on the
// application and says what runs when its subcommand is given; main() only dispatches.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace nas::service {

class Commands {
 public:
  Commands(CLI::App& app, std::vector<std::string> argv) : app_(app), argv_(std::move(argv)) {}
  CLI::App& app() { return app_; }
  // This program's command line (for commands that start copies of themselves: --nproc).
  const std::vector<std::string>& argv() const { return argv_; }
  // Runs `run` when `command` was the subcommand given.
  void On(CLI::App* command, std::function<absl::Status()> run) { runs_.emplace_back(command, std::move(run)); }
  // Runs the parsed subcommand's function.
  absl::Status RunParsed() const;

 private:
  CLI::App& app_;
  std::vector<std::string> argv_;
  std::vector<std::pair<CLI::App*, std::function<absl::Status()>>> runs_;
};

// Ctrl-C / SIGTERM for long commands: a running training checkpoints and stops after its
// step (through the function given to SetTrainingStop), a search or profile after its
// generation (polling StopRequested).
void InstallStopSignals();
bool StopRequested();
// The running training's stop function (null when none); must outlive the training.
void SetTrainingStop(std::function<void()>* stop);

}  // namespace nas::service

#endif  // NAS_NAS_CLI_H_
