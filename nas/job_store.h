#ifndef NAS_NAS_JOB_STORE_H_
#define NAS_NAS_JOB_STORE_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"

struct sqlite3;

namespace nas::service {

// Jobs persisted in an embedded SQLite database, so that a restarted server lists its
// earlier jobs and resumes the unfinished ones. Thread-safe.
class JobStore {
 public:
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts or replaces the job (keyed by id); durable when it returns.
  absl::Status Put(const v1::Job& job);
  absl::StatusOr<std::optional<v1::Job>> Get(const std::string& id) const;
  absl::StatusOr<std::optional<v1::Job>> FindByRequestId(const std::string& request_id) const;
  // In creation order.
  absl::StatusOr<std::vector<v1::Job>> List() const;

 private:
  JobStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::StatusOr<std::vector<v1::Job>> Query(const char* sql, const std::string& arg) const;
  std::string path_;
  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace nas::service

#endif  // NAS_NAS_JOB_STORE_H_
