#include "auth/credential_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include <fmt/format.h>

#include "auth/secret_file.h"

namespace hearth::auth::detail {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

}  // namespace

// Random bytes below 248 (4 * 62) map evenly onto the alphabet; the rest are rejected.
Result<std::string> random_base62(std::size_t n) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    auto bytes = random_bytes(2 * n);
    if (!bytes) return bytes.take_error();
    for (char b : *bytes) {
      const auto v = static_cast<unsigned char>(b);
      if (v < 248 && out.size() < n) out += kBase62[v % 62];
    }
  }
  return out;
}

bool all_base62(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

bool hmac(const std::string& secret, std::string_view msg, Mac& out) {
  unsigned int len = 0;
  const unsigned char* r = HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                                reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out.data(), &len);
  return r != nullptr && len == kMacBytes;
}

std::string to_hex(const Mac& mac) {
  std::string hex;
  hex.reserve(2 * mac.size());
  for (unsigned char c : mac) hex += fmt::format("{:02x}", c);
  return hex;
}

bool from_hex(const std::string& hex, Mac& out) {
  if (hex.size() != 2 * out.size()) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

Stmt::Stmt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) stmt_.reset(s);
}
Stmt& Stmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(stmt_.get(), i, v);
  return *this;
}
Stmt& Stmt::bind(int i, const std::optional<std::int64_t>& v) {
  if (v) sqlite3_bind_int64(stmt_.get(), i, *v);
  else sqlite3_bind_null(stmt_.get(), i);
  return *this;
}
Stmt& Stmt::bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind(int i, const std::optional<std::string>& v) {
  if (v) return bind(i, *v);
  sqlite3_bind_null(stmt_.get(), i);
  return *this;
}
std::optional<std::int64_t> Stmt::opt_i64(int col) {
  if (sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL) return std::nullopt;
  return i64(col);
}
std::string Stmt::text(int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col))) : std::string();
}

}  // namespace hearth::auth::detail
