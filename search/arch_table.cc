#include "search/arch_table.h"

#include <cmath>
#include <unordered_set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "supernet/file_util.h"

namespace nas::search {

absl::StatusOr<size_t> ArchTable::ColumnIndex(const std::string& path, const std::string& column) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == column) return i;
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ":1: no column '", column, "' (columns: ",
                                                 absl::StrJoin(columns, ", "), ")"));
}

absl::StatusOr<ArchTable> LoadArchTableCsv(const supernet::SearchSpace& space, const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileBytes(path);
  if (!text.ok()) return text.status();
  const std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
  if (lines.empty() || absl::StripAsciiWhitespace(lines[0]).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty table"));
  }
  ArchTable table;
  const std::vector<std::string> header = absl::StrSplit(absl::StripAsciiWhitespace(lines[0]), ',');
  if (header.size() < 2 || header[0] != "arch") {
    return absl::InvalidArgumentError(absl::StrCat(path, ":1: the header must be arch,COLUMN[,...]"));
  }
  for (size_t i = 1; i < header.size(); ++i) table.columns.push_back(std::string(absl::StripAsciiWhitespace(header[i])));
  const size_t n = table.columns.size();
  std::unordered_set<supernet::Architecture, supernet::ArchitectureHash> seen;
  for (size_t l = 1; l < lines.size(); ++l) {
    const absl::string_view line = absl::StripAsciiWhitespace(lines[l]);
    if (line.empty()) continue;
    const std::string where = absl::StrCat(path, ":", l + 1, ": ");
    const std::vector<absl::string_view> cells = absl::StrSplit(line, ',');
    if (cells.size() < n + 1) return absl::InvalidArgumentError(absl::StrCat(where, "too few columns"));
    const size_t arch_cells = cells.size() - n;
    std::string arch_text;
    for (size_t c = 0; c < arch_cells; ++c) absl::StrAppend(&arch_text, c ? "," : "", cells[c]);
    absl::StatusOr<supernet::Architecture> arch = space.Parse(arch_text);
    if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat(where, arch.status().message()));
    if (!seen.insert(*arch).second) return absl::InvalidArgumentError(absl::StrCat(where, "architecture listed twice"));
    std::vector<double> values(n);
    for (size_t c = 0; c < n; ++c) {
      const absl::string_view cell = absl::StripAsciiWhitespace(cells[arch_cells + c]);
      if (cell.empty()) {
        values[c] = NAN;
      } else if (!absl::SimpleAtod(cell, &values[c])) {
        return absl::InvalidArgumentError(absl::StrCat(where, table.columns[c], ": '", cell, "' is not a number"));
      }
    }
    table.rows.emplace_back(*std::move(arch), std::move(values));
  }
  return table;
}

}  // namespace nas::search
