// The `nas` command-line tool. Parses flags, then calls one command function.
#include <iostream>

#include <CLI/CLI.hpp>

#include "nas/space_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"nas: weight-sharing supernet neural architecture search engine"};
  app.require_subcommand(1);

  CLI::App* space = app.add_subcommand("space", "Inspect search spaces (YAML in configs/)");
  space->require_subcommand(1);

  nas::service::DescribeOptions describe;
  CLI::App* describe_cmd = space->add_subcommand(
      "describe", "Show layers, choices, space size and min/max FLOPs and params");
  describe_cmd->add_option("--config", describe.configs, "Search space YAML file (repeatable)")
      ->required();
  describe_cmd->add_flag("--json", describe.json, "Print JSON instead of text");

  nas::service::CostOptions cost;
  CLI::App* cost_cmd =
      space->add_subcommand("cost", "Show total and per-layer FLOPs and params of an architecture");
  cost_cmd->add_option("--config", cost.config, "Search space YAML file")->required();
  cost_cmd->add_option("--arch", cost.arch, "Architecture string (see docs/search_spaces.md)")
      ->required();
  cost_cmd->add_flag("--json", cost.json, "Print JSON instead of text");

  nas::service::SampleOptions sample;
  CLI::App* sample_cmd =
      space->add_subcommand("sample", "Draw architectures uniformly at random, with their costs");
  sample_cmd->add_option("--config", sample.config, "Search space YAML file")->required();
  sample_cmd->add_option("--n", sample.n, "Number of architectures")->capture_default_str();
  sample_cmd->add_option("--seed", sample.seed, "Random seed")->capture_default_str();
  sample_cmd->add_flag("--json", sample.json, "Print JSON instead of text");

  CLI11_PARSE(app, argc, argv);

  absl::Status status;
  if (describe_cmd->parsed()) status = nas::service::RunSpaceDescribe(describe, std::cout);
  if (cost_cmd->parsed()) status = nas::service::RunSpaceCost(cost, std::cout);
  if (sample_cmd->parsed()) status = nas::service::RunSpaceSample(sample, std::cout);
  if (!status.ok()) {
    std::cerr << "error: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
