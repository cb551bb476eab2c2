#include "nas/space_commands.h"

#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "supernet/layered_space.h"
#include "supernet/search_space.h"

namespace nas::service {
namespace {

using supernet::Architecture;
using supernet::CostSummary;
using supernet::SearchSpace;

std::string Millions(int64_t n) { return absl::StrFormat("%.3f M", n / 1e6); }

nlohmann::json CostJson(const SearchSpace& space, const Architecture& arch,
                        const CostSummary& cost) {
  return {{"arch", space.Format(arch)},
          {"flops", cost.flops},
          {"params", cost.params},
          {"mflops", cost.flops / 1e6},
          {"mparams", cost.params / 1e6},
          {"bitops", cost.bitops},
          {"size_bytes", cost.size_bytes}};
}

std::string SizeText(const SearchSpace& space) {
  if (auto exact = space.ExactSize()) {
    return absl::StrFormat("%d architectures (10^%.2f)", *exact, space.Log10Size());
  }
  return absl::StrFormat("10^%.2f architectures", space.Log10Size());
}

nlohmann::json DescribeJson(const SearchSpace& space) {
  nlohmann::json genes = nlohmann::json::array();
  for (const supernet::Gene& gene : space.genes()) {
    genes.push_back({{"name", gene.name}, {"options", gene.options}});
  }
  nlohmann::json j = {{"name", space.name()},
                      {"type", std::string(supernet::SpaceKindName(space.kind()))},
                      {"source", space.source()},
                      {"input_size", space.input_size()},
                      {"input_channels", space.input_channels()},
                      {"num_classes", space.num_classes()},
                      {"genes", genes},
                      {"log10_size", space.Log10Size()},
                      {"min_flops", CostJson(space, space.MinFlops().arch, space.MinFlops().cost)},
                      {"max_flops", CostJson(space, space.MaxFlops().arch, space.MaxFlops().cost)},
                      {"min_params", CostJson(space, space.MinParams().arch, space.MinParams().cost)},
                      {"max_params", CostJson(space, space.MaxParams().arch, space.MaxParams().cost)}};
  if (auto exact = space.ExactSize()) j["size"] = *exact;
  if (const auto* layered = dynamic_cast<const supernet::LayeredSpace*>(&space)) {
    nlohmann::json layers = nlohmann::json::array();
    for (const supernet::LayerShape& l : layered->layers()) {
      layers.push_back({{"stage", l.stage},
                        {"in_channels", l.in_channels},
                        {"out_channels", l.out_channels},
                        {"stride", l.stride},
                        {"in_size", l.in_size},
                        {"out_size", l.out_size}});
    }
    j["layers"] = layers;
  }
  return j;
}

void DescribeText(const SearchSpace& space, std::ostream& out) {
  out << "space " << space.name() << " (" << supernet::SpaceKindName(space.kind()) << ") from "
      << space.source() << "\n";
  out << absl::StrFormat("  input %dx%dx%d, %d classes; %d genes; %s\n", space.input_channels(),
                         space.input_size(), space.input_size(), space.num_classes(),
                         space.genes().size(), SizeText(space));
  if (const auto* layered = dynamic_cast<const supernet::LayeredSpace*>(&space)) {
    out << absl::StrFormat("  %-6s %-5s %-11s %-6s %-9s %s\n", "layer", "stage", "channels",
                           "stride", "size", "choices");
    const int dims = static_cast<int>(layered->dimensions().size());
    for (size_t l = 0; l < layered->layers().size(); ++l) {
      const supernet::LayerShape& s = layered->layers()[l];
      std::vector<std::string> choices;
      for (int d = 0; d < dims; ++d) {
        const supernet::Gene& gene = space.genes()[layered->GeneIndex(static_cast<int>(l), d)];
        choices.push_back(absl::StrCat(layered->dimensions()[d], "={",
                                       absl::StrJoin(gene.options, ","), "}"));
      }
      out << absl::StrFormat("  %-6d %-5d %-11s %-6d %-9s %s\n", l, s.stage,
                             absl::StrCat(s.in_channels, "->", s.out_channels), s.stride,
                             absl::StrCat(s.in_size, "->", s.out_size),
                             absl::StrJoin(choices, " "));
    }
  } else {
    for (const supernet::Gene& gene : space.genes()) {
      out << "  " << gene.name << ": {" << absl::StrJoin(gene.options, ",") << "}\n";
    }
  }
  const auto line = [&](const char* label, const SearchSpace::Extreme& e) {
    out << absl::StrFormat("  %-10s %s FLOPs, %s params: %s\n", label, Millions(e.cost.flops),
                           Millions(e.cost.params), space.Format(e.arch));
  };
  line("min FLOPs", space.MinFlops());
  line("max FLOPs", space.MaxFlops());
  line("min params", space.MinParams());
  line("max params", space.MaxParams());
}

absl::StatusOr<std::shared_ptr<const SearchSpace>> Load(const std::string& config) {
  if (config.empty()) return absl::InvalidArgumentError("--config: a search space YAML file is required");
  return supernet::LoadSearchSpace(config);
}

}  // namespace

absl::Status RunSpaceDescribe(const DescribeOptions& options, std::ostream& out) {
  if (options.configs.empty()) {
    return absl::InvalidArgumentError("--config: give at least one search space YAML file");
  }
  std::vector<std::shared_ptr<const SearchSpace>> spaces;
  for (const std::string& config : options.configs) {
    auto space = Load(config);
    if (!space.ok()) return space.status();
    spaces.push_back(*space);
  }
  if (options.json) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& space : spaces) all.push_back(DescribeJson(*space));
    out << all.dump(2) << "\n";
    return absl::OkStatus();
  }
  for (size_t i = 0; i < spaces.size(); ++i) {
    if (i > 0) out << "\n";
    DescribeText(*spaces[i], out);
  }
  return absl::OkStatus();
}

absl::Status RunSpaceCost(const CostOptions& options, std::ostream& out) {
  auto space = Load(options.config);
  if (!space.ok()) return space.status();
  absl::StatusOr<Architecture> arch = (*space)->Parse(options.arch);
  if (!arch.ok()) return arch.status();
  const CostSummary total = (*space)->Cost(*arch);
  const supernet::NetworkPlan plan = (*space)->BuildPlan(*arch);
  if (options.json) {
    nlohmann::json j = CostJson(**space, *arch, total);
    j["space"] = (*space)->name();
    nlohmann::json blocks = nlohmann::json::array();
    for (const supernet::PlanBlock& b : plan.blocks) {
      blocks.push_back({{"name", b.name},
                        {"flops", b.Flops()},
                        {"params", b.Params()},
                        {"bitops", b.BitOps()},
                        {"size_bytes", b.SizeBytes()}});
    }
    j["layers"] = blocks;
    out << j.dump(2) << "\n";
    return absl::OkStatus();
  }
  out << "space " << (*space)->name() << ", arch " << (*space)->Format(*arch) << "\n";
  out << absl::StrFormat("  %-16s %16s %14s %18s %12s\n", "part", "FLOPs (MACs)", "params", "BitOPs",
                         "size bytes");
  for (const supernet::PlanBlock& b : plan.blocks) {
    out << absl::StrFormat("  %-16s %16d %14d %18d %12d\n", b.name, b.Flops(), b.Params(), b.BitOps(),
                           b.SizeBytes());
  }
  out << absl::StrFormat("  %-16s %16d %14d %18d %12d\n", "total", total.flops, total.params, total.bitops,
                         total.size_bytes);
  out << absl::StrFormat("  = %.3f MFLOPs, %.4f M params, %.3f GBitOPs, %.1f KB\n", total.flops / 1e6,
                         total.params / 1e6, total.bitops / 1e9, total.size_bytes / 1e3);
  return absl::OkStatus();
}

absl::Status RunSpaceSample(const SampleOptions& options, std::ostream& out) {
  if (options.n < 1 || options.n > 10'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--n: must be between 1 and 10000000, got ", options.n));
  }
  auto space = Load(options.config);
  if (!space.ok()) return space.status();
  Rng rng(options.seed);
  nlohmann::json all = nlohmann::json::array();
  for (int64_t i = 0; i < options.n; ++i) {
    const Architecture arch = (*space)->Sample(rng);
    const CostSummary cost = (*space)->Cost(arch);
    if (options.json) {
      all.push_back(CostJson(**space, arch, cost));
    } else {
      out << absl::StrFormat("%s\t%.3f MFLOPs\t%.4f M params\n", (*space)->Format(arch),
                             cost.flops / 1e6, cost.params / 1e6);
    }
  }
  if (options.json) out << all.dump(2) << "\n";
  return absl::OkStatus();
}

void AddSpaceCommands(Commands& commands) {
  CLI::App* space = commands.app().add_subcommand("space", "Inspect search spaces (YAML in configs/)");
  space->require_subcommand(1);

  auto describe = std::make_shared<DescribeOptions>();
  CLI::App* describe_cmd = space->add_subcommand(
      "describe", "Show layers, choices, space size and min/max FLOPs and params");
  describe_cmd->add_option("--config", describe->configs, "Search space YAML file (repeatable)")
      ->required();
  describe_cmd->add_flag("--json", describe->json, "Print JSON instead of text");

  auto cost = std::make_shared<CostOptions>();
  CLI::App* cost_cmd =
      space->add_subcommand("cost", "Show total and per-layer FLOPs and params of an architecture");
  cost_cmd->add_option("--config", cost->config, "Search space YAML file")->required();
  cost_cmd->add_option("--arch", cost->arch, "Architecture string (see docs/search_spaces.md)")
      ->required();
  cost_cmd->add_flag("--json", cost->json, "Print JSON instead of text");

  auto sample = std::make_shared<SampleOptions>();
  CLI::App* sample_cmd =
      space->add_subcommand("sample", "Draw architectures uniformly at random, with their costs");
  sample_cmd->add_option("--config", sample->config, "Search space YAML file")->required();
  sample_cmd->add_option("--n", sample->n, "Number of architectures")->capture_default_str();
  sample_cmd->add_option("--seed", sample->seed, "Random seed")->capture_default_str();
  sample_cmd->add_flag("--json", sample->json, "Print JSON instead of text");

  commands.On(describe_cmd, [describe] { return RunSpaceDescribe(*describe, std::cout); });
  commands.On(cost_cmd, [cost] { return RunSpaceCost(*cost, std::cout); });
  commands.On(sample_cmd, [sample] { return RunSpaceSample(*sample, std::cout); });
}

}  // namespace nas::service
