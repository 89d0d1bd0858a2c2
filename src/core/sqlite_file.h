// Opening the SQLite files that hold secrets and personal data (API keys, users, the audit log,
// collection access lists): the file and its parent directories are created first, owner-only
// (SQLite's -wal and -shm files take the file's mode), then opened read-write with a busy timeout.
// Several stores may open one file in one process (keys, users and access lists share the auth
// database): an existing file is never opened outside SQLite, which would drop SQLite's locks.
// Thread-safety: a free function; the handle it returns is the caller's.
#pragma once

#include <string>

#include "core/result.h"

struct sqlite3;

namespace hearth {

// The open handle (the caller closes it with sqlite3_close), or kUnavailable naming `what` ("the
// API key store"), the file and SQLite's reason. `busy_timeout_ms`: how long a write waits for
// another connection's lock.
Result<sqlite3*> open_private_sqlite(const std::string& path, const char* what, int busy_timeout_ms = 5000);

}  // namespace hearth
