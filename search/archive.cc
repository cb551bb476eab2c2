#include "search/archive.h"

#include <sqlite3.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "search/sqlite_db.h"

namespace nas::search {
namespace {

using Statement = SqliteStatement;

absl::Status SqlError(sqlite3* db, const std::string& path, const std::string& what) {
  return absl::InternalError(absl::StrCat(path, ": ", what, ": ", sqlite3_errmsg(db)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<EvaluationArchive>> EvaluationArchive::Open(const std::string& path) {
  absl::StatusOr<sqlite3*> db = OpenSqlite(path,
                                           "PRAGMA synchronous=NORMAL;"
                                           "CREATE TABLE IF NOT EXISTS evaluations ("
                                           "  evaluator TEXT NOT NULL, space TEXT NOT NULL, arch TEXT NOT NULL,"
                                           "  accuracy REAL NOT NULL, seconds REAL NOT NULL, created_unix REAL NOT NULL,"
                                           "  PRIMARY KEY (evaluator, space, arch));",
                                           "evaluation archive");
  if (!db.ok()) return db.status();
  return std::unique_ptr<EvaluationArchive>(new EvaluationArchive(path, *db));
}

EvaluationArchive::~EvaluationArchive() { sqlite3_close(db_); }

absl::Status EvaluationArchive::Exec(const char* sql) const {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status s = absl::InternalError(absl::StrCat(path_, ": ", error ? error : "sqlite error"));
    sqlite3_free(error);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<double>> EvaluationArchive::Lookup(const std::string& evaluator,
                                                                const std::string& space,
                                                                const std::string& arch) const {
  std::lock_guard<std::mutex> lock(mu_);
  Statement q;
  if (sqlite3_prepare_v2(db_, "SELECT accuracy FROM evaluations WHERE evaluator=?1 AND space=?2 AND arch=?3",
                         -1, &q.stmt, nullptr) != SQLITE_OK) {
    return SqlError(db_, path_, "lookup");
  }
  sqlite3_bind_text(q.stmt, 1, evaluator.data(), static_cast<int>(evaluator.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(q.stmt, 2, space.data(), static_cast<int>(space.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(q.stmt, 3, arch.data(), static_cast<int>(arch.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(q.stmt);
  if (rc == SQLITE_ROW) return std::optional<double>(sqlite3_column_double(q.stmt, 0));
  if (rc == SQLITE_DONE) return std::optional<double>();
  return SqlError(db_, path_, "lookup");
}

absl::Status EvaluationArchive::Insert(const std::vector<Record>& records) {
  if (records.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  Statement q;
  if (sqlite3_prepare_v2(db_,
                         "INSERT OR REPLACE INTO evaluations (evaluator, space, arch, accuracy, seconds, "
                         "created_unix) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                         -1, &q.stmt, nullptr) != SQLITE_OK) {
    absl::Status s = SqlError(db_, path_, "insert");
    Exec("ROLLBACK").IgnoreError();
    return s;
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const Record& r : records) {
    sqlite3_reset(q.stmt);
    sqlite3_bind_text(q.stmt, 1, r.evaluator.data(), static_cast<int>(r.evaluator.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(q.stmt, 2, r.space.data(), static_cast<int>(r.space.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(q.stmt, 3, r.arch.data(), static_cast<int>(r.arch.size()), SQLITE_TRANSIENT);
    sqlite3_bind_double(q.stmt, 4, r.accuracy);
    sqlite3_bind_double(q.stmt, 5, r.seconds);
    sqlite3_bind_double(q.stmt, 6, now);
    if (sqlite3_step(q.stmt) != SQLITE_DONE) {
      absl::Status s = SqlError(db_, path_, "insert");
      Exec("ROLLBACK").IgnoreError();
      return s;
    }
  }
  return Exec("COMMIT");
}

absl::StatusOr<int64_t> EvaluationArchive::Count(const std::string& evaluator) const {
  std::lock_guard<std::mutex> lock(mu_);
  Statement q;
  const char* sql = evaluator.empty() ? "SELECT COUNT(*) FROM evaluations"
                                      : "SELECT COUNT(*) FROM evaluations WHERE evaluator=?1";
  if (sqlite3_prepare_v2(db_, sql, -1, &q.stmt, nullptr) != SQLITE_OK) return SqlError(db_, path_, "count");
  if (!evaluator.empty()) {
    sqlite3_bind_text(q.stmt, 1, evaluator.data(), static_cast<int>(evaluator.size()), SQLITE_TRANSIENT);
  }
  if (sqlite3_step(q.stmt) != SQLITE_ROW) return SqlError(db_, path_, "count");
  return static_cast<int64_t>(sqlite3_column_int64(q.stmt, 0));
}

}  // namespace nas::search
