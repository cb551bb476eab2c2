#ifndef NAS_SEARCH_SQLITE_DB_H_
#define NAS_SEARCH_SQLITE_DB_H_

#include <string>

#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace nas {

// Opens (creating when missing) a SQLite database for use from several threads and
// processes: WAL journal, 10 s busy timeout, then runs `schema`. `what` names the store
// in errors ("evaluation archive", "job store").
absl::StatusOr<sqlite3*> OpenSqlite(const std::string& path, const std::string& schema, const std::string& what);

// Finalizes a prepared statement when it goes out of scope.
struct SqliteStatement {
  sqlite3_stmt* stmt = nullptr;
  ~SqliteStatement();
};

}  // namespace nas

#endif  // NAS_SEARCH_SQLITE_DB_H_
