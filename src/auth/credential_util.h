// Internal to hearth_auth: what the API-key store and the user store share for credentials they
// mint and check (random base62 ids and secrets, HMAC-SHA256 of a credential under the secret
// file, its hex form) and the prepared-statement wrapper both use on their SQLite file.
// Thread-safety: free functions without shared state; a Stmt belongs to one connection's user.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hearth::auth::detail {

inline constexpr std::size_t kMacBytes = 32;
using Mac = std::array<unsigned char, kMacBytes>;

// `n` uniformly random characters of 0-9A-Za-z (RAND_bytes, rejection sampled).
Result<std::string> random_base62(std::size_t n);
bool all_base62(std::string_view s);
bool hmac(const std::string& secret, std::string_view msg, Mac& out);
std::string to_hex(const Mac& mac);
bool from_hex(const std::string& hex, Mac& out);

bool has_control(std::string_view s);  // ASCII control characters or DEL
// 1..max_bytes bytes without control characters; the error names `what`.
Status check_text(const std::string& value, std::string_view what, std::size_t max_bytes);
// A key's or user's allow-lists (at most 256 names of 1..256 bytes each) and per-minute limits.
Status check_allow_lists(const std::vector<std::string>& models, const std::vector<std::string>& collections, int rpm,
                         int tpm);
// Allow-lists as stored: a JSON array of strings. from_json is false for anything else.
std::string to_json(const std::vector<std::string>& v);
bool from_json(const std::string& text, std::vector<std::string>& out);

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

// A prepared statement with positional binding; ok() is false when it did not compile.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql);
  bool ok() const { return stmt_ != nullptr; }
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, const std::optional<std::int64_t>& v);
  Stmt& bind(int i, const std::string& v);
  Stmt& bind(int i, const std::optional<std::string>& v);
  int step() { return sqlite3_step(stmt_.get()); }  // SQLITE_ROW, SQLITE_DONE, or an error code
  std::int64_t i64(int col) { return sqlite3_column_int64(stmt_.get(), col); }
  std::optional<std::int64_t> opt_i64(int col);
  std::string text(int col);

 private:
  std::unique_ptr<sqlite3_stmt, StmtFinalize> stmt_;
};

}  // namespace hearth::auth::detail
