#ifndef NAS_SEARCH_ARCHIVE_H_
#define NAS_SEARCH_ARCHIVE_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct sqlite3;

namespace nas::search {

// Every real (expensive) evaluation, kept in an embedded SQLite database so that a
// repeated or resumed search never pays for the same architecture twice. Keyed by the
// evaluator's identity (for the supernet evaluator this includes a hash of the checkpoint
// file and the evaluation settings), the space and the canonical architecture string.
// Safe to share between threads and between processes (WAL journal, busy timeout).
class EvaluationArchive {
 public:
  struct Record {
    std::string evaluator;
    std::string space;
    std::string arch;
    double accuracy = 0;
    double seconds = 0;  // Time the evaluation took.
  };

  // Creates the file (and its tables) when missing.
  static absl::StatusOr<std::unique_ptr<EvaluationArchive>> Open(const std::string& path);
  ~EvaluationArchive();
  EvaluationArchive(const EvaluationArchive&) = delete;
  EvaluationArchive& operator=(const EvaluationArchive&) = delete;

  const std::string& path() const { return path_; }
  // The recorded accuracy, or nullopt.
  absl::StatusOr<std::optional<double>> Lookup(const std::string& evaluator, const std::string& space,
                                               const std::string& arch) const;
  // Adds (or replaces) records in one transaction: all or none are stored.
  absl::Status Insert(const std::vector<Record>& records);
  // Number of records for `evaluator` (all when empty).
  absl::StatusOr<int64_t> Count(const std::string& evaluator = "") const;

 private:
  EvaluationArchive(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::Status Exec(const char* sql) const;
  std::string path_;
  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace nas::search

#endif  // NAS_SEARCH_ARCHIVE_H_
