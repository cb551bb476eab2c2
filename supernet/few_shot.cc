#include "supernet/few_shot.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "supernet/file_util.h"

namespace nas::supernet {
namespace fs = std::filesystem;

namespace {
std::string ManifestFile(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) ? (fs::path(path) / kFewShotManifestName).string() : path;
}
}  // namespace

bool IsFewShotPath(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fs::exists(fs::path(path) / kFewShotManifestName, ec);
  return fs::path(path).filename() == kFewShotManifestName;
}

std::string DescribeNonCheckpointFolder(const std::string& folder) {
  std::error_code ec;
  const fs::path dir(folder);
  if (fs::exists(dir / kFewShotRequestName, ec) && !fs::exists(dir / kFewShotManifestName, ec)) {
    return absl::StrCat("an unfinished few-shot split (", kFewShotRequestName, " but no ",
                        kFewShotManifestName, " yet): run `nas fewshot` again with --out ", folder,
                        " to finish it");
  }
  if (fs::exists(dir / "checkpoint.nasckpt", ec)) {
    return absl::StrCat("a folder, not a checkpoint file; its training run's checkpoint is ",
                        (dir / "checkpoint.nasckpt").string());
  }
  return "a folder, not a checkpoint file";
}

absl::StatusOr<FewShotManifest> ReadFewShotManifest(const std::string& path) {
  const std::string file = ManifestFile(path);
  absl::StatusOr<std::string> text = ReadFileBytes(file);
  if (!text.ok()) return text.status();
  FewShotManifest m;
  const fs::path folder = fs::absolute(fs::path(file)).parent_path();
  try {
    const nlohmann::json j = nlohmann::json::parse(*text);
    m.parent = j.at("parent").get<std::string>();
    m.gene = j.at("gene").get<int>();
    m.gene_name = j.at("gene_name").get<std::string>();
    m.steps = j.at("steps").get<int64_t>();
    m.lr = j.at("lr").get<double>();
    for (const nlohmann::json& c : j.at("children")) {
      FewShotManifest::Child child;
      child.option = c.at("option").get<int>();
      child.option_name = c.at("option_name").get<std::string>();
      const fs::path ckpt = c.at("checkpoint").get<std::string>();
      child.checkpoint = (ckpt.is_absolute() ? ckpt : folder / ckpt).lexically_normal().string();
      m.children.push_back(std::move(child));
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(file, ": not a few-shot manifest: ", e.what()));
  }
  if (m.children.empty()) return absl::DataLossError(absl::StrCat(file, ": children: none"));
  for (size_t k = 0; k < m.children.size(); ++k) {
    if (m.children[k].option != static_cast<int>(k)) {
      return absl::DataLossError(absl::StrCat(file, ": children[", k, "].option: expected ", k,
                                              ", got ", m.children[k].option));
    }
    std::error_code ec;
    if (!fs::exists(m.children[k].checkpoint, ec)) {
      return absl::NotFoundError(absl::StrCat(
          file, ": children[", k, "].checkpoint: ", m.children[k].checkpoint, " does not exist"));
    }
  }
  return m;
}

absl::Status WriteFewShotManifest(const std::string& folder, const FewShotManifest& manifest) {
  nlohmann::json j;
  j["kind"] = "few_shot_supernet";
  j["parent"] = manifest.parent;
  j["gene"] = manifest.gene;
  j["gene_name"] = manifest.gene_name;
  j["steps"] = manifest.steps;
  j["lr"] = manifest.lr;
  nlohmann::json children = nlohmann::json::array();
  const fs::path base = fs::absolute(folder).lexically_normal();
  for (const FewShotManifest::Child& c : manifest.children) {
    const fs::path ckpt = fs::absolute(c.checkpoint).lexically_normal();
    const fs::path relative = ckpt.lexically_relative(base);
    const bool inside = !relative.empty() && *relative.begin() != "..";
    children.push_back({{"option", c.option},
                        {"option_name", c.option_name},
                        {"checkpoint", inside ? relative.string() : ckpt.string()}});
  }
  j["children"] = children;
  return WriteFileAtomically((fs::path(folder) / kFewShotManifestName).string(), j.dump(2) + "\n");
}

}  // namespace nas::supernet
