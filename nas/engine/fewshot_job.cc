#include "nas/engine/fewshot_job.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nas/engine/export_job.h"
#include "nas/engine/training_job.h"
#include "supernet/checkpoint.h"
#include "supernet/few_shot.h"
#include "supernet/file_util.h"
#include "supernet/train_config.h"

namespace nas::engine {
namespace fs = std::filesystem;

namespace {

struct StoredConfig {
  std::string yaml, source, space_yaml;
};

absl::StatusOr<StoredConfig> ConfigOf(const std::string& checkpoint) {
  absl::StatusOr<supernet::CheckpointContents> contents = supernet::ReadCheckpoint(checkpoint);
  if (!contents.ok()) return contents.status();
  StoredConfig c;
  try {
    c.yaml = contents->meta.at("config_yaml").get<std::string>();
    c.source = contents->meta.at("config_source").get<std::string>();
    c.space_yaml = contents->meta.at("space_yaml").get<std::string>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(checkpoint, ": bad metadata: ", e.what()));
  }
  return c;
}

bool Finished(const std::string& dir) {
  absl::StatusOr<std::string> text = ReadFileBytes(dir + "/summary.json");
  if (!text.ok()) return false;
  try {
    return nlohmann::json::parse(*text).value("finished", false);
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

absl::StatusOr<FewShotResult> RunFewShotJob(const FewShotJob& job, ProgressSink& progress) {
  if (job.checkpoint.empty())
    return absl::InvalidArgumentError("checkpoint: the trained supernet is required");
  if (job.out_dir.empty())
    return absl::InvalidArgumentError("out_dir: an output directory is required");
  if (job.steps < 1)
    return absl::InvalidArgumentError(absl::StrCat("steps: must be at least 1, got ", job.steps));
  if (supernet::IsFewShotPath(job.checkpoint)) {
    return absl::InvalidArgumentError(
        "checkpoint: already a few-shot supernet; split a one-shot checkpoint");
  }
  absl::StatusOr<StoredConfig> stored = ConfigOf(job.checkpoint);
  if (!stored.ok())
    return absl::Status(stored.status().code(),
                        absl::StrCat("checkpoint: ", stored.status().message()));
  absl::StatusOr<supernet::TrainConfig> base =
      supernet::ParseTrainConfig(stored->yaml, stored->source, ".", &stored->space_yaml);
  if (!base.ok()) return base.status();
  const supernet::SearchSpace& space = *base->space;
  const int genes = static_cast<int>(space.genes().size());
  if (job.gene < 0 || job.gene >= genes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gene: must be in [0, ", genes - 1, "] (the genes of ", space.name(), "), got ", job.gene));
  }
  const supernet::Gene& gene = space.genes()[job.gene];
  if (gene.options.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("gene: ", job.gene, " (", gene.name, ") has one option: nothing to split"));
  }
  if (base->sampler.kind == "fixed") {
    return absl::InvalidArgumentError(
        "checkpoint: a fine-tuned subnet (fixed sampler), not a supernet");
  }
  const double lr = job.lr > 0 ? job.lr : base->optimizer.lr;
  // What this folder is for: a rerun must ask for the same split.
  const nlohmann::json request = {
      {"parent", fs::absolute(job.checkpoint).lexically_normal().string()},
      {"gene", job.gene},
      {"steps", job.steps},
      {"lr", lr}};
  const std::string request_file = (fs::path(job.out_dir) / supernet::kFewShotRequestName).string();
  if (absl::StatusOr<std::string> previous = ReadFileBytes(request_file); previous.ok()) {
    nlohmann::json before;
    try {
      before = nlohmann::json::parse(*previous);
    } catch (const std::exception&) {
    }
    if (before != request) {
      return absl::FailedPreconditionError(absl::StrCat("out_dir: ", job.out_dir,
                                                        " holds another split (", before.dump(),
                                                        "); choose another folder"));
    }
  } else {
    std::error_code ec;
    if (fs::exists(job.out_dir, ec) && !fs::is_empty(job.out_dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "out_dir: ", job.out_dir, " exists and is not a few-shot folder; choose another"));
    }
    fs::create_directories(job.out_dir, ec);
    if (absl::Status s = WriteFileAtomically(request_file, request.dump(2) + "\n"); !s.ok())
      return s;
  }

  FewShotResult result;
  supernet::FewShotManifest manifest;
  manifest.parent = request["parent"];
  manifest.gene = job.gene;
  manifest.gene_name = gene.name;
  manifest.steps = job.steps;
  manifest.lr = lr;
  int64_t steps_left = job.stop_after;
  for (int option = 0; option < static_cast<int>(gene.options.size()); ++option) {
    const std::string dir = absl::StrCat(job.out_dir, "/option_", option);
    manifest.children.push_back({option, gene.options[option], dir + "/checkpoint.nasckpt"});
    if (Finished(dir)) continue;
    if (steps_left == 0) return result;
    absl::StatusOr<supernet::TrainConfig> config = supernet::MakeSubSupernetConfig(
        stored->yaml, stored->source, stored->space_yaml, job.gene, option, job.steps, lr);
    if (!config.ok()) return config.status();
    progress.Message(absl::StrFormat("few-shot sub-supernet %d/%d: %s = %s", option + 1,
                                     gene.options.size(), gene.name, gene.options[option]));
    TrainingJob training;
    training.config = *std::move(config);
    training.init_from = job.checkpoint;
    training.out_dir = dir;
    std::error_code ec;
    training.resume = fs::exists(dir + "/checkpoint.nasckpt", ec);
    training.stop_after = steps_left;
    training.device = job.device;
    training.register_stop = job.register_stop;
    absl::StatusOr<v1::TrainingResult> trained = RunTrainingJob(training, progress);
    if (!trained.ok()) return trained.status();
    result.children.push_back(*trained);
    if (steps_left > 0) steps_left = std::max<int64_t>(0, steps_left - trained->steps_this_run());
    if (!trained->finished()) return result;  // Stopped: rerun to resume.
  }
  if (absl::Status s = supernet::WriteFewShotManifest(job.out_dir, manifest); !s.ok()) return s;
  result.finished = true;
  result.manifest = job.out_dir + "/" + supernet::kFewShotManifestName;
  return result;
}

absl::StatusOr<std::string> CheckpointFor(const std::string& path, const std::string& arch_text,
                                          const std::string& field) {
  if (!supernet::IsFewShotPath(path)) return path;
  absl::StatusOr<supernet::FewShotManifest> manifest = supernet::ReadFewShotManifest(path);
  if (!manifest.ok()) return manifest.status();
  absl::StatusOr<StoredConfig> stored = ConfigOf(manifest->children.front().checkpoint);
  if (!stored.ok()) return stored.status();
  absl::StatusOr<supernet::TrainConfig> config =
      supernet::ParseTrainConfig(stored->yaml, stored->source, ".", &stored->space_yaml);
  if (!config.ok()) return config.status();
  absl::StatusOr<supernet::Architecture> arch =
      ParseArchOrExtreme(*config->space, arch_text, field);
  if (!arch.ok()) return arch.status();
  const int option = arch->genes.at(manifest->gene);
  if (option < 0 || option >= static_cast<int>(manifest->children.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": option ", option, " of gene ", manifest->gene, " has no sub-supernet in ", path));
  }
  return manifest->children[option].checkpoint;
}

}  // namespace nas::engine
