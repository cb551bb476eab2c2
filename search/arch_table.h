#ifndef NAS_SEARCH_ARCH_TABLE_H_
#define NAS_SEARCH_ARCH_TABLE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "supernet/architecture.h"
#include "supernet/search_space.h"

namespace nas::search {

// A CSV table of numbers per architecture: header `arch,COL1,COL2,...`, then one row per
// architecture (a string of `space`, which may itself contain commas: the numeric columns
// are taken from the right). An empty cell is NaN.
struct ArchTable {
  std::vector<std::string> columns;  // Without "arch".
  std::vector<std::pair<supernet::Architecture, std::vector<double>>> rows;

  // Index of `column` or InvalidArgument "PATH:1: no column 'X'".
  absl::StatusOr<size_t> ColumnIndex(const std::string& path, const std::string& column) const;
};

// Errors name the file, the line and what is wrong; an architecture listed twice is one.
absl::StatusOr<ArchTable> LoadArchTableCsv(const supernet::SearchSpace& space, const std::string& path);

}  // namespace nas::search

#endif  // NAS_SEARCH_ARCH_TABLE_H_
