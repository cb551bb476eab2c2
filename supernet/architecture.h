#ifndef NAS_SUPERNET_ARCHITECTURE_H_
#define NAS_SUPERNET_ARCHITECTURE_H_

#include <cstddef>
#include <functional>
#include <vector>

namespace nas::supernet {

// One architecture of a search space: the index of the chosen option for every gene
// (searchable dimension) of the space, in the space's gene order. A plain value: it
// does not know its space; SearchSpace validates, formats and parses it.
struct Architecture {
  std::vector<int> genes;

  bool operator==(const Architecture& other) const { return genes == other.genes; }
  bool operator!=(const Architecture& other) const { return genes != other.genes; }
  bool operator<(const Architecture& other) const { return genes < other.genes; }

  template <typename H>
  friend H AbslHashValue(H h, const Architecture& arch) {
    return H::combine(std::move(h), arch.genes);
  }
};

// Hash functor for std::unordered_map / std::unordered_set (FNV-1a over the genes).
struct ArchitectureHash {
  size_t operator()(const Architecture& arch) const {
    uint64_t h = 1469598103934665603ULL;
    for (int g : arch.genes) {
      h ^= static_cast<uint64_t>(g) + 0x9e3779b97f4a7c15ULL;
      h *= 1099511628211ULL;
    }
    return static_cast<size_t>(h);
  }
};

}  // namespace nas::supernet

template <>
struct std::hash<nas::supernet::Architecture> : nas::supernet::ArchitectureHash {};

#endif  // NAS_SUPERNET_ARCHITECTURE_H_
