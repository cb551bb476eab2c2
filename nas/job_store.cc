#include "nas/job_store.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "search/sqlite_db.h"

namespace nas::service {
namespace {

using Statement = SqliteStatement;

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  absl::StatusOr<sqlite3*> db = OpenSqlite(path,
                                           "CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                           " id TEXT UNIQUE NOT NULL, request_id TEXT, data BLOB NOT NULL);"
                                           "CREATE INDEX IF NOT EXISTS jobs_request ON jobs(request_id);",
                                           "job store");
  if (!db.ok()) return db.status();
  return std::unique_ptr<JobStore>(new JobStore(path, *db));
}

JobStore::~JobStore() { sqlite3_close(db_); }

absl::Status JobStore::Put(const v1::Job& job) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string data = job.SerializeAsString();
  Statement q;
  // An update keeps the row (and so the creation order); an insert appends.
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO jobs (id, request_id, data) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT(id) DO UPDATE SET request_id=excluded.request_id, data=excluded.data",
                         -1, &q.stmt, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
  }
  sqlite3_bind_text(q.stmt, 1, job.id().data(), static_cast<int>(job.id().size()), SQLITE_TRANSIENT);
  if (job.request_id().empty()) {
    sqlite3_bind_null(q.stmt, 2);
  } else {
    sqlite3_bind_text(q.stmt, 2, job.request_id().data(), static_cast<int>(job.request_id().size()), SQLITE_TRANSIENT);
  }
  sqlite3_bind_blob(q.stmt, 3, data.data(), static_cast<int>(data.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(q.stmt) != SQLITE_DONE) return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Job>> JobStore::Query(const char* sql, const std::string& arg) const {
  std::lock_guard<std::mutex> lock(mu_);
  Statement q;
  if (sqlite3_prepare_v2(db_, sql, -1, &q.stmt, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
  }
  if (sqlite3_bind_parameter_count(q.stmt) > 0) {
    sqlite3_bind_text(q.stmt, 1, arg.data(), static_cast<int>(arg.size()), SQLITE_TRANSIENT);
  }
  std::vector<v1::Job> jobs;
  int rc;
  while ((rc = sqlite3_step(q.stmt)) == SQLITE_ROW) {
    v1::Job job;
    const void* blob = sqlite3_column_blob(q.stmt, 0);
    if (!job.ParseFromArray(blob, sqlite3_column_bytes(q.stmt, 0))) {
      return absl::DataLossError(absl::StrCat(path_, ": a job record is corrupt"));
    }
    jobs.push_back(std::move(job));
  }
  if (rc != SQLITE_DONE) return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
  return jobs;
}

absl::StatusOr<std::optional<v1::Job>> JobStore::Get(const std::string& id) const {
  auto jobs = Query("SELECT data FROM jobs WHERE id=?1", id);
  if (!jobs.ok()) return jobs.status();
  if (jobs->empty()) return std::optional<v1::Job>();
  return std::optional<v1::Job>(jobs->front());
}

absl::StatusOr<std::optional<v1::Job>> JobStore::FindByRequestId(const std::string& request_id) const {
  auto jobs = Query("SELECT data FROM jobs WHERE request_id=?1", request_id);
  if (!jobs.ok()) return jobs.status();
  if (jobs->empty()) return std::optional<v1::Job>();
  return std::optional<v1::Job>(jobs->front());
}

absl::StatusOr<std::vector<v1::Job>> JobStore::List() const {
  return Query("SELECT data FROM jobs ORDER BY seq", "");
}

}  // namespace nas::service
