#include "search/sqlite_db.h"

#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace nas {

absl::StatusOr<sqlite3*> OpenSqlite(const std::string& path, const std::string& schema, const std::string& what) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    absl::Status s = absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot open the ", what, ": ", db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 10000);
  char* error = nullptr;
  if (sqlite3_exec(db, absl::StrCat("PRAGMA journal_mode=WAL;", schema).c_str(), nullptr, nullptr, &error) !=
      SQLITE_OK) {
    absl::Status s = absl::FailedPreconditionError(
        absl::StrCat(path, ": not a usable ", what, ": ", error ? error : "sqlite error"));
    sqlite3_free(error);
    sqlite3_close(db);
    return s;
  }
  return db;
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt); }

}  // namespace nas
