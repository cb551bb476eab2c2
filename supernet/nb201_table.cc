#include "supernet/nb201_table.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "supernet/yaml_config.h"

namespace nas::supernet {

absl::StatusOr<Nb201Table> Nb201Table::Load(const Nb201Space& space, const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  Nb201Table table;
  const std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  constexpr absl::string_view kHeader =
      "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,"
      "ImageNetTestAccuracy200Epochs,ArchitectureString";
  if (lines.empty() || !absl::StartsWith(absl::StripAsciiWhitespace(lines[0]), kHeader)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1: expected the header '", kHeader, ",...'"));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<absl::string_view> cols =
        absl::StrSplit(absl::StripAsciiWhitespace(lines[i]), ',');
    const std::string where = absl::StrCat(path, ":", i + 1, ": ");
    if (cols.size() < 4) {
      return absl::InvalidArgumentError(absl::StrCat(where, "expected at least 4 columns"));
    }
    Row row;
    if (!absl::SimpleAtod(cols[0], &row.cifar10_test) ||
        !absl::SimpleAtod(cols[1], &row.cifar100_test) ||
        !absl::SimpleAtod(cols[2], &row.imagenet16_test)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "accuracy columns must be numbers"));
    }
    absl::StatusOr<Architecture> arch = space.Parse(cols[3]);
    if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat(where, arch.status().message()));
    row.arch = *arch;
    const int index = static_cast<int>(table.rows_.size());
    if (!table.index_.emplace(row.arch, index).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "architecture ", cols[3], " appears twice"));
    }
    table.rows_.push_back(std::move(row));
  }
  return table;
}

int Nb201Table::IndexOf(const Architecture& arch) const {
  auto it = index_.find(arch);
  return it == index_.end() ? -1 : it->second;
}

std::string DefaultNb201TablePath() {
  const char* shared = std::getenv("NAS_SHARED_DATA");
  return std::string(shared != nullptr ? shared : "../shared/data") + "/nb201_test_acc_200ep.csv";
}

}  // namespace nas::supernet
