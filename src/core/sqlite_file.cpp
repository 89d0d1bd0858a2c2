#include "core/sqlite_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

namespace hearth {

Result<sqlite3*> open_private_sqlite(const std::string& path, const char* what, int busy_timeout_ms) {
  if (path.empty()) return invalid_argument(fmt::format("the file of {} is not set", what));
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);  // a failure shows in the open
  // O_EXCL: only a file that did not exist is created (and closed) here. Opening and closing an
  // existing database file would drop this process's POSIX locks on it, held by other connections
  // of the same process (SQLite's locks are per process): another process could then think it
  // alone uses the file and remove the write-ahead log under them, losing their writes.
  if (const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); fd >= 0) ::close(fd);
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return unavailable(fmt::format("cannot open {} '{}': {}", what, path, reason));
  }
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return raw;
}

}  // namespace hearth
