#ifndef NAS_SUPERNET_NB201_TABLE_H_
#define NAS_SUPERNET_NB201_TABLE_H_

#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "supernet/nb201_space.h"

namespace nas::supernet {

// NAS-Bench-201's table of stand-alone accuracies (../shared/data/nb201_test_acc_200ep.csv),
// with every row mapped to its architecture in an nb201 space. Row i is benchmark
// index i. Immutable after loading.
class Nb201Table {
 public:
  struct Row {
    Architecture arch;
    double cifar10_test = 0;   // Percent, 200 epochs.
    double cifar100_test = 0;
    double imagenet16_test = 0;
  };

  // Loads and checks the CSV: header, numeric columns, every arch string parses in
  // `space`, no architecture twice. Errors name the file and line.
  static absl::StatusOr<Nb201Table> Load(const Nb201Space& space, const std::string& path);

  const std::vector<Row>& rows() const { return rows_; }
  // Benchmark index of `arch`, or -1 when the table lacks it.
  int IndexOf(const Architecture& arch) const;

 private:
  std::vector<Row> rows_;
  std::unordered_map<Architecture, int, ArchitectureHash> index_;
};

// NAS-Bench-201's CSV in the shared data folder: $NAS_SHARED_DATA, else ../shared/data
// (relative to the working directory, the repository root for bench/ tools).
std::string DefaultNb201TablePath();

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_NB201_TABLE_H_
