// The `nas` command-line tool: each command file declares its subcommands and flags
// (Add*Commands); main parses and runs the one given.
#include <iostream>

#include <CLI/CLI.hpp>

#include "nas/cli.h"
#include "nas/client_commands.h"
#include "nas/latency_commands.h"
#include "nas/search_commands.h"
#include "nas/serve_command.h"
#include "nas/space_commands.h"
#include "nas/train_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"nas: weight-sharing supernet neural architecture search engine"};
  app.require_subcommand(1);
  nas::service::Commands commands(app, std::vector<std::string>(argv, argv + argc));
  nas::service::AddSpaceCommands(commands);
  nas::service::AddTrainCommands(commands);
  nas::service::AddLatencyCommands(commands);
  nas::service::AddSearchCommand(commands);
  nas::service::AddClientCommands(commands);
  nas::service::AddServeCommand(commands);
  CLI11_PARSE(app, argc, argv);
  const absl::Status status = commands.RunParsed();
  if (!status.ok()) {
    std::cerr << "error: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
