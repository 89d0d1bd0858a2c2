#include "auth/credential_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

Status check_text(const std::string& value, std::string_view what, std::size_t max_bytes) {
  if (value.empty() || value.size() > max_bytes || has_control(value)) {
    return invalid_argument(
        fmt::format("{} must be 1..{} characters without control characters", what, max_bytes), std::string(what));
  }
  return {};
}

Status check_allow_lists(const std::vector<std::string>& models, const std::vector<std::string>& collections, int rpm,
                         int tpm) {
  constexpr std::size_t kMaxListItems = 256, kMaxItemBytes = 256;
  for (const auto* list : {&models, &collections}) {
    const char* what = list == &models ? "models" : "collections";
    if (list->size() > kMaxListItems) {
      return invalid_argument(fmt::format("{} lists at most {} names", what, kMaxListItems), what);
    }
    for (const std::string& item : *list) HEARTH_TRY(check_text(item, what, kMaxItemBytes));
  }
  if (rpm < 0) return invalid_argument("rpm must not be negative", "rpm");
  if (tpm < 0) return invalid_argument("tpm must not be negative", "tpm");
  return {};
}

std::string to_json(const std::vector<std::string>& v) { return nlohmann::json(v).dump(); }

bool from_json(const std::string& text, std::vector<std::string>& out) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return false;
  out.clear();
  for (const auto& item : j) {
    if (!item.is_string()) return false;
    out.push_back(item.get<std::string>());
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
