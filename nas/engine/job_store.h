#ifndef NAS_NAS_ENGINE_JOB_STORE_H_
#define NAS_NAS_ENGINE_JOB_STORE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"

struct sqlite3;

namespace nas::engine {

// Jobs persisted in an embedded SQLite database, so that a restarted server lists its
// earlier jobs and resumes the unfinished ones. Thread-safe.
class JobStore {
 public:
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Stores a new job under a fresh id, "job-%06d" of its row number, assigned inside the
  // insert's transaction (ids never repeat, even after a failed insert); returns the job
  // with its id set by `set_id` (which may fill fields derived from the id).
  absl::StatusOr<v1::Job> Insert(v1::Job job, const std::function<void(v1::Job&, const std::string&)>& set_id);
  // Replaces a stored job's record (keyed by id); durable when it returns.
  absl::Status Put(const v1::Job& job);
  absl::StatusOr<std::optional<v1::Job>> Get(const std::string& id) const;
  absl::StatusOr<std::optional<v1::Job>> FindByRequestId(const std::string& request_id) const;
  // In creation order.
  absl::StatusOr<std::vector<v1::Job>> List() const;
  // Up to `limit` jobs created after the job with row number `after` (0: from the
  // first), in creation order; `*last` is the row number of the last one returned.
  absl::StatusOr<std::vector<v1::Job>> ListPage(int64_t after, int limit, int64_t* last) const;
  // Up to `limit` jobs created after row number `after` that `keep` accepts (all when
  // null), in creation order, reading the table a bounded chunk at a time; `*more` tells
  // whether an accepted job follows; `*last` is the row number of the last one returned.
  absl::StatusOr<std::vector<v1::Job>> ListMatching(int64_t after, int limit,
                                                    const std::function<bool(const v1::Job&)>& keep,
                                                    int64_t* last, bool* more) const;

 private:
  JobStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::StatusOr<std::vector<v1::Job>> Query(const char* sql, const std::string& arg, int64_t a = 0, int64_t b = 0,
                                             std::vector<int64_t>* seqs = nullptr) const;
  std::string path_;
  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_JOB_STORE_H_
