// Deepens a trained NB201 supernet by repeating its cells (diagnostic for issue 14):
// writes a checkpoint of the same space with `--cells-per-stage K`, whose cell i of a
// stage takes the weights of the trained cell i * K_trained / K of that stage (so a
// one-cell-per-stage proxy's cell is repeated K times); every other weight is copied.
// BN statistics are recalibrated by the evaluator as for any architecture, so `nas search
// --evaluator supernet:OUT` scores a cell by its loss when stacked K times deep.
//
//   bazel-bin/bench/nb201_deepen --checkpoint runs/x/supernet/checkpoint.nasckpt
//       --cells-per-stage 2 --out runs/x/deep2.nasckpt
#include <iostream>
#include <regex>
#include <string>

#include <yaml-cpp/yaml.h>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "supernet/checkpoint.h"
#include "supernet/trained_supernet.h"

namespace {

int Fail(const absl::Status& s) {
  std::cerr << "nb201_deepen: " << s.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint, out;
  int cells = 2;
  CLI::App app("Repeat a trained NB201 supernet's cells to a deeper network (diagnostic)");
  app.add_option("--checkpoint", checkpoint, "Trained NB201 supernet checkpoint")->required();
  app.add_option("--cells-per-stage", cells, "Cells per stage of the deepened network")->check(CLI::Range(1, 64));
  app.add_option("--out", out, "Checkpoint to write")->required();
  CLI11_PARSE(app, argc, argv);
  using namespace nas::supernet;

  absl::StatusOr<CheckpointContents> contents = ReadCheckpoint(checkpoint);
  if (!contents.ok()) return Fail(contents.status());
  nlohmann::json meta = contents->meta;
  YAML::Node space = YAML::Load(meta.at("space_yaml").get<std::string>());
  if (!space["type"] || space["type"].as<std::string>() != "nb201") {
    return Fail(absl::InvalidArgumentError(absl::StrCat(checkpoint, ": not an NB201 supernet")));
  }
  const int trained_cells = space["cells_per_stage"] ? space["cells_per_stage"].as<int>() : 5;
  space["cells_per_stage"] = cells;
  YAML::Emitter emitter;
  emitter << space;
  const std::string deep_space = emitter.c_str();

  absl::StatusOr<TrainConfig> source_config =
      ParseTrainConfig(meta.at("config_yaml").get<std::string>(), meta.at("config_source").get<std::string>(), ".",
                       &meta.at("space_yaml").get_ref<const std::string&>());
  if (!source_config.ok()) return Fail(source_config.status());
  absl::StatusOr<TrainConfig> deep_config = ParseTrainConfig(
      meta.at("config_yaml").get<std::string>(), meta.at("config_source").get<std::string>(), ".", &deep_space);
  if (!deep_config.ok()) return Fail(deep_config.status());

  Supernet source = CreateSupernet(source_config->space, source_config->supernet);
  if (absl::Status s = RestoreModule(contents->model, *source, checkpoint); !s.ok()) return Fail(s);
  Supernet deep = CreateSupernet(deep_config->space, deep_config->supernet);

  const auto source_params = source->named_parameters(/*recurse=*/true);
  const auto source_buffers = source->named_buffers(/*recurse=*/true);
  const std::regex cell_name("^cells_([0-9]+)_(.*)$");
  auto source_name = [&](const std::string& name) {
    std::smatch m;
    if (!std::regex_match(name, m, cell_name)) return name;
    const int j = std::stoi(m[1].str()), stage = j / cells, i = j % cells;
    return absl::StrCat("cells_", stage * trained_cells + i * trained_cells / cells, "_", m[2].str());
  };
  torch::NoGradGuard no_grad;
  int copied = 0;
  for (auto& p : deep->named_parameters(true)) {
    const torch::Tensor* from = source_params.find(source_name(p.key()));
    if (from == nullptr) return Fail(absl::NotFoundError(absl::StrCat("no source for ", p.key())));
    p.value().copy_(*from);
    ++copied;
  }
  for (auto& b : deep->named_buffers(true)) {
    const torch::Tensor* from = source_buffers.find(source_name(b.key()));
    if (from == nullptr) return Fail(absl::NotFoundError(absl::StrCat("no source for ", b.key())));
    b.value().copy_(*from);
    ++copied;
  }
  meta["space_yaml"] = deep_space;
  meta["deepened_from"] = {{"checkpoint", checkpoint}, {"cells_per_stage", trained_cells}};
  if (absl::Status s = WriteCheckpoint(out, meta, *deep, nullptr); !s.ok()) return Fail(s);
  std::cout << "wrote " << out << ": " << copied << " tensors, " << trained_cells << " -> " << cells
            << " cells per stage\n";
  return 0;
}
