#include "nas/engine/job_store.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "search/sqlite_db.h"

namespace nas::engine {
namespace {

using Statement = SqliteStatement;

// Binds ?1 id, ?2 request_id (NULL when empty) and ?3 the serialized record `data`.
void BindJob(sqlite3_stmt* stmt, const v1::Job& job, const std::string& data) {
  sqlite3_bind_text(stmt, 1, job.id().data(), static_cast<int>(job.id().size()), SQLITE_TRANSIENT);
  if (job.request_id().empty()) {
    sqlite3_bind_null(stmt, 2);
  } else {
    sqlite3_bind_text(stmt, 2, job.request_id().data(), static_cast<int>(job.request_id().size()), SQLITE_TRANSIENT);
  }
  sqlite3_bind_blob(stmt, 3, data.data(), static_cast<int>(data.size()), SQLITE_TRANSIENT);
}

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

absl::StatusOr<v1::Job> JobStore::Insert(v1::Job job,
                                          const std::function<void(v1::Job&, const std::string&)>& set_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto exec = [&](const char* sql) -> absl::Status {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [&](absl::Status s) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  };
  // The row number comes from AUTOINCREMENT, which never reuses a number, and the id from
  // the row number, in one transaction.
  {
    Statement q;
    if (sqlite3_prepare_v2(db_, "INSERT INTO jobs (id, data) VALUES ('', x'')", -1, &q.stmt, nullptr) != SQLITE_OK ||
        sqlite3_step(q.stmt) != SQLITE_DONE) {
      return fail(absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_))));
    }
  }
  const int64_t seq = sqlite3_last_insert_rowid(db_);
  set_id(job, absl::StrFormat("job-%06d", seq));
  const std::string data = job.SerializeAsString();
  Statement q;
  if (sqlite3_prepare_v2(db_, "UPDATE jobs SET id=?1, request_id=?2, data=?3 WHERE seq=?4", -1, &q.stmt, nullptr) !=
      SQLITE_OK) {
    return fail(absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_))));
  }
  BindJob(q.stmt, job, data);
  sqlite3_bind_int64(q.stmt, 4, seq);
  if (sqlite3_step(q.stmt) != SQLITE_DONE) {
    return fail(absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_))));
  }
  if (absl::Status s = exec("COMMIT"); !s.ok()) return fail(s);
  return job;
}

absl::Status JobStore::Put(const v1::Job& job) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string data = job.SerializeAsString();
  Statement q;
  // Only ever an update of a row Insert created (so the creation order stays).
  if (sqlite3_prepare_v2(db_, "UPDATE jobs SET request_id=?2, data=?3 WHERE id=?1", -1, &q.stmt, nullptr) !=
      SQLITE_OK) {
    return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
  }
  BindJob(q.stmt, job, data);
  if (sqlite3_step(q.stmt) != SQLITE_DONE) return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
  if (sqlite3_changes(db_) != 1) return absl::NotFoundError(absl::StrCat(path_, ": no job '", job.id(), "' to update"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Job>> JobStore::Query(const char* sql, const std::string& arg, int64_t a, int64_t b,
                                                     std::vector<int64_t>* seqs) const {
  std::lock_guard<std::mutex> lock(mu_);
  Statement q;
  if (sqlite3_prepare_v2(db_, sql, -1, &q.stmt, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat(path_, ": ", sqlite3_errmsg(db_)));
  }
  if (!arg.empty()) {
    sqlite3_bind_text(q.stmt, 1, arg.data(), static_cast<int>(arg.size()), SQLITE_TRANSIENT);
  } else if (sqlite3_bind_parameter_count(q.stmt) == 2) {
    sqlite3_bind_int64(q.stmt, 1, a);
    sqlite3_bind_int64(q.stmt, 2, b);
  }
  std::vector<v1::Job> jobs;
  int rc;
  while ((rc = sqlite3_step(q.stmt)) == SQLITE_ROW) {
    v1::Job job;
    const void* blob = sqlite3_column_blob(q.stmt, 0);
    if (!job.ParseFromArray(blob, sqlite3_column_bytes(q.stmt, 0))) {
      return absl::DataLossError(absl::StrCat(path_, ": a job record is corrupt"));
    }
    if (seqs != nullptr) seqs->push_back(sqlite3_column_int64(q.stmt, 1));
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
  return Query("SELECT data, seq FROM jobs WHERE id != '' ORDER BY seq", "");
}

absl::StatusOr<std::vector<v1::Job>> JobStore::ListPage(int64_t after, int limit, int64_t* last) const {
  bool more = false;
  return ListMatching(after, limit, nullptr, last, &more);
}

absl::StatusOr<std::vector<v1::Job>> JobStore::ListMatching(int64_t after, int limit,
                                                            const std::function<bool(const v1::Job&)>& keep,
                                                            int64_t* last, bool* more) const {
  constexpr int kChunk = 32;  // Rows read at a time: a record may hold a result of up to 1 MB.
  *last = after;
  *more = false;
  std::vector<v1::Job> page;
  for (int64_t cursor = after;;) {
    std::vector<int64_t> seqs;
    auto chunk = Query("SELECT data, seq FROM jobs WHERE seq > ?1 AND id != '' ORDER BY seq LIMIT ?2", "", cursor,
                       kChunk, &seqs);
    if (!chunk.ok()) return chunk.status();
    for (size_t i = 0; i < chunk->size(); ++i) {
      if (keep && !keep((*chunk)[i])) continue;
      if (static_cast<int>(page.size()) == limit) {
        *more = true;
        return page;
      }
      page.push_back(std::move((*chunk)[i]));
      *last = seqs[i];
    }
    if (static_cast<int>(chunk->size()) < kChunk) return page;
    cursor = seqs.back();
  }
}

}  // namespace nas::engine
