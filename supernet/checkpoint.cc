#include "supernet/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "supernet/few_shot.h"
#include "supernet/file_util.h"

namespace nas::supernet {
namespace {

constexpr char kMagic[] = "NASCKPT1";
constexpr size_t kMagicSize = 8;

void AppendSection(std::string& out, const std::string& section) {
  const uint64_t size = section.size();
  out.append(reinterpret_cast<const char*>(&size), 8);
  out += section;
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& path, const nlohmann::json& meta,
                             torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                             const std::vector<std::pair<std::string, torch::Tensor>>& extra) {
  std::string model_bytes, optimizer_bytes;
  try {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    std::ostringstream os;
    archive.save_to(os);
    model_bytes = os.str();
    if (optimizer != nullptr) {
      torch::serialize::OutputArchive opt_archive;
      optimizer->save(opt_archive);
      for (const auto& [name, tensor] : extra) {
        if (tensor.defined()) opt_archive.write(name, tensor, /*is_buffer=*/true);
      }
      std::ostringstream opt_os;
      opt_archive.save_to(opt_os);
      optimizer_bytes = opt_os.str();
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot serialize: ", e.what_without_backtrace()));
  }
  std::string out(kMagic, kMagicSize);
  AppendSection(out, meta.dump());
  AppendSection(out, model_bytes);
  AppendSection(out, optimizer_bytes);
  const uint32_t crc = Crc32(out);
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return WriteFileAtomically(path, out);
}

absl::StatusOr<CheckpointContents> ReadCheckpoint(const std::string& path) {
  if (std::error_code ec; std::filesystem::is_directory(path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": ", DescribeNonCheckpointFolder(path)));
  }
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  auto bad = [&path](const std::string& why) {
    return absl::DataLossError(absl::StrCat(path, ": not a usable checkpoint: ", why));
  };
  if (bytes->size() < kMagicSize + 3 * 8 + 4) {
    return bad(absl::StrCat("truncated (", bytes->size(), " bytes)"));
  }
  if (bytes->compare(0, kMagicSize, kMagic) != 0)
    return bad("wrong magic bytes (not a NASCKPT1 file)");
  size_t pos = kMagicSize;
  std::string sections[3];
  for (std::string& section : sections) {
    if (pos + 8 > bytes->size() - 4) return bad("truncated (section header past the end)");
    uint64_t size;
    std::memcpy(&size, bytes->data() + pos, 8);
    pos += 8;
    if (size > bytes->size() - 4 - pos) {
      return bad(absl::StrCat("truncated (a section of ", size, " bytes runs past the end)"));
    }
    section = bytes->substr(pos, size);
    pos += size;
  }
  if (pos + 4 != bytes->size()) return bad("trailing bytes after the last section");
  uint32_t crc;
  std::memcpy(&crc, bytes->data() + pos, 4);
  if (Crc32(absl::string_view(bytes->data(), pos)) != crc) {
    return bad("checksum mismatch (the file is corrupted)");
  }
  CheckpointContents contents;
  try {
    contents.meta = nlohmann::json::parse(sections[0]);
  } catch (const std::exception& e) {
    return bad(absl::StrCat("metadata is not JSON: ", e.what()));
  }
  contents.model = std::move(sections[1]);
  contents.optimizer = std::move(sections[2]);
  return contents;
}

absl::Status RestoreModule(const std::string& bytes, torch::nn::Module& model,
                           const std::string& path) {
  try {
    torch::serialize::InputArchive archive;
    std::istringstream is(bytes);
    archive.load_from(is);
    model.load(archive);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": weights do not fit this supernet: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status RestoreOptimizer(const std::string& bytes, torch::optim::Optimizer& optimizer,
                              const std::string& path,
                              const std::vector<std::pair<std::string, torch::Tensor*>>& extra) {
  try {
    torch::serialize::InputArchive archive;
    std::istringstream is(bytes);
    archive.load_from(is);
    optimizer.load(archive);
    for (const auto& [name, tensor] : extra) {
      torch::Tensor read;
      if (archive.try_read(name, read, /*is_buffer=*/true)) *tensor = read;
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": optimizer state does not fit: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace nas::supernet
