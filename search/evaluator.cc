#include "search/evaluator.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "supernet/file_util.h"

namespace nas::search {

absl::StatusOr<std::unique_ptr<Nb201TableEvaluator>> Nb201TableEvaluator::Create(
    std::shared_ptr<const supernet::Nb201Table> table, const std::string& column) {
  if (column != "cifar10" && column != "cifar100" && column != "imagenet16") {
    return absl::InvalidArgumentError(
        absl::StrCat("table column '", column, "' is not one of cifar10, cifar100, imagenet16"));
  }
  return std::unique_ptr<Nb201TableEvaluator>(new Nb201TableEvaluator(std::move(table), column));
}

absl::StatusOr<double> Nb201TableEvaluator::Accuracy(const supernet::Architecture& arch) const {
  const int index = table_->IndexOf(arch);
  if (index < 0) return absl::NotFoundError("architecture is not in the NAS-Bench-201 table");
  const supernet::Nb201Table::Row& row = table_->rows()[index];
  if (column_ == "cifar10") return row.cifar10_test;
  if (column_ == "cifar100") return row.cifar100_test;
  return row.imagenet16_test;
}

absl::StatusOr<std::unique_ptr<TableEvaluator>> TableEvaluator::Load(
    const supernet::SearchSpace& space, const std::string& path, const std::string& column) {
  absl::StatusOr<std::string> text = ReadFileBytes(path);
  if (!text.ok()) return text.status();
  auto table = std::make_unique<TableEvaluator>();
  table->path_ = path;
  table->column_ = column;
  auto add = [&](const std::string& where, absl::string_view arch_text, double value) -> absl::Status {
    absl::StatusOr<supernet::Architecture> arch = space.Parse(arch_text);
    if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat(where, arch.status().message()));
    if (!table->values_.emplace(*arch, value).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "architecture listed twice"));
    }
    return absl::OkStatus();
  };
  if (absl::EndsWith(path, ".json")) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(*text);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON: ", e.what()));
    }
    if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
    for (const auto& [arch_text, metrics] : j.items()) {
      const std::string where = absl::StrCat(path, ": \"", arch_text, "\": ");
      if (!metrics.is_object() || !metrics.contains(column) || !metrics[column].is_number()) {
        return absl::InvalidArgumentError(absl::StrCat(where, "no numeric '", column, "'"));
      }
      if (absl::Status s = add(where, arch_text, metrics[column].get<double>()); !s.ok()) return s;
    }
  } else {
    const std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n', absl::SkipWhitespace());
    if (lines.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty table"));
    // The architecture strings of layered spaces contain commas, so the metric columns
    // are taken from the right: the header says how many there are.
    const std::vector<std::string> header = absl::StrSplit(absl::StripAsciiWhitespace(lines[0]), ',');
    if (header.size() < 2 || header[0] != "arch") {
      return absl::InvalidArgumentError(absl::StrCat(path, ":1: the header must be arch,METRIC[,...]"));
    }
    int index = -1;
    for (size_t i = 1; i < header.size(); ++i) {
      if (header[i] == column) index = static_cast<int>(i);
    }
    if (index < 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":1: no column '", column, "'"));
    }
    const size_t metrics = header.size() - 1;
    for (size_t l = 1; l < lines.size(); ++l) {
      const std::string where = absl::StrCat(path, ":", l + 1, ": ");
      const std::vector<absl::string_view> cells =
          absl::StrSplit(absl::StripAsciiWhitespace(lines[l]), ',');
      if (cells.size() < metrics + 1) return absl::InvalidArgumentError(absl::StrCat(where, "too few columns"));
      const size_t arch_cells = cells.size() - metrics;
      std::string arch_text;
      for (size_t c = 0; c < arch_cells; ++c) absl::StrAppend(&arch_text, c ? "," : "", cells[c]);
      double value = 0;
      if (!absl::SimpleAtod(cells[arch_cells + index - 1], &value)) {
        return absl::InvalidArgumentError(absl::StrCat(where, column, " is not a number"));
      }
      if (absl::Status s = add(where, arch_text, value); !s.ok()) return s;
    }
  }
  return table;
}

absl::StatusOr<double> TableEvaluator::Accuracy(const supernet::Architecture& arch) const {
  auto it = values_.find(arch);
  if (it == values_.end()) return absl::NotFoundError(absl::StrCat("architecture is not in ", path_));
  return it->second;
}

}  // namespace nas::search
