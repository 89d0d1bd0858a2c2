#include "auth/key_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "auth/credential_util.h"
#include "core/sqlite_file.h"
#include "auth/secret_file.h"

namespace hearth::auth {
namespace {

constexpr int kSchemaVersion = 1;
constexpr std::string_view kPrefix = "hk-";
constexpr std::size_t kIdChars = 10, kSecretChars = 40;
constexpr std::size_t kIdLength = kPrefix.size() + kIdChars;         // "hk-" + 10
constexpr std::size_t kKeyLength = kIdLength + 1 + kSecretChars;      // + "." + 40
constexpr std::int64_t kTouchIntervalS = 60;
constexpr std::int64_t kReloadIntervalNs = 500'000'000;
constexpr std::size_t kMaxNameBytes = 64;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  models TEXT NOT NULL DEFAULT '[]',
  collections TEXT NOT NULL DEFAULT '[]',
  rpm INTEGER NOT NULL DEFAULT 0,
  tpm INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER
) STRICT;
)sql";

constexpr const char* kColumns =
    "id, hash, name, role, models, collections, rpm, tpm, created_at, expires_at, revoked_at, last_used_at";

using detail::all_base62;
using detail::check_allow_lists;
using detail::check_text;
using detail::from_json;
using detail::has_control;
using detail::to_json;
using detail::DbClose;
using detail::from_hex;
using detail::hmac;
using detail::kMacBytes;
using detail::Mac;
using detail::random_base62;
using detail::Stmt;
using detail::to_hex;

Error db_error(sqlite3* db, std::string_view what) {
  const int code = sqlite3_errcode(db);
  std::string msg = fmt::format("API key store: {}: {}", what, sqlite3_errmsg(db));
  if (code == SQLITE_FULL || code == SQLITE_NOMEM) return resource_exhausted(std::move(msg));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return unavailable(std::move(msg));
  return internal_error(std::move(msg));
}

Error unauthenticated(std::string msg) { return {ErrorCode::kUnauthenticated, std::move(msg)}; }

bool well_formed(std::string_view key) {
  return key.size() == kKeyLength && key.starts_with(kPrefix) && key[kIdLength] == '.' &&
         all_base62(key.substr(kPrefix.size(), kIdChars)) && all_base62(key.substr(kIdLength + 1));
}

Status check_spec(const KeySpec& s, std::int64_t now) {
  HEARTH_TRY(check_text(s.name, "name", kMaxNameBytes));
  HEARTH_TRY(check_text(s.role, "role", kMaxNameBytes));
  HEARTH_TRY(check_allow_lists(s.models, s.collections, s.rpm, s.tpm));
  if (s.expires_at && *s.expires_at <= now) return invalid_argument("expires_at is not in the future", "expires_at");
  return {};
}

struct Row {
  KeyRecord record;
  std::string hash;
};

// A row of SELECT kColumns. A damaged allow-list is an error, never "every model".
Result<Row> read_row(Stmt& s) {
  Row r;
  KeyRecord& k = r.record;
  k.id = s.text(0);
  r.hash = s.text(1);
  k.name = s.text(2);
  k.role = s.text(3);
  if (!from_json(s.text(4), k.models) || !from_json(s.text(5), k.collections)) {
    return internal_error(fmt::format("API key store: key {} has a damaged models or collections list", k.id));
  }
  k.rpm = static_cast<int>(s.i64(6));
  k.tpm = static_cast<int>(s.i64(7));
  k.created_at = s.i64(8);
  k.expires_at = s.opt_i64(9);
  k.revoked_at = s.opt_i64(10);
  k.last_used_at = s.opt_i64(11);
  return r;
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<std::string> key_id_of(std::string_view presented) {
  if (!well_formed(presented)) return std::nullopt;
  return std::string(presented.substr(0, kIdLength));
}

struct KeyStore::Impl {
  struct Entry {
    Mac mac{};
    KeyRecord record;
  };
  struct Use {
    std::int64_t last_seen = 0;
    std::optional<std::int64_t> last_written;
  };

  std::string db_path;
  std::string secret;
  std::unique_ptr<sqlite3, DbClose> db;
  std::mutex db_mu;                 // the connection: writes and reloads
  std::int64_t data_version = -1;   // of the last reload; guarded by db_mu
  std::atomic<std::int64_t> next_check_ns{0};
  std::shared_mutex cache_mu;
  std::unordered_map<std::string, Entry> cache;  // id -> entry; guarded by cache_mu
  std::mutex touch_mu;
  std::unordered_map<std::string, Use> uses;  // guarded by touch_mu

  Status exec(const char* sql, std::string_view what) {
    char* err = nullptr;
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
      Error e = db_error(db.get(), what);
      sqlite3_free(err);
      return e;
    }
    return {};
  }

  Result<std::int64_t> pragma_int(const char* name) {
    Stmt s(db.get(), fmt::format("PRAGMA {}", name));
    if (!s.ok() || s.step() != SQLITE_ROW) return db_error(db.get(), name);
    return s.i64(0);
  }

  // Creates the table in a fresh file; refuses a file from a newer Hearth. In one write
  // transaction, as two processes may open a new file at once.
  Status migrate() {
    HEARTH_TRY(exec("BEGIN IMMEDIATE", "begin migration"));
    auto st = migrate_in_transaction();
    if (!st) {
      (void)exec("ROLLBACK", "rollback");
      return st;
    }
    return exec("COMMIT", "commit migration");
  }

  Status migrate_in_transaction() {
    auto version = pragma_int("user_version");
    if (!version) return version.take_error();
    if (*version > kSchemaVersion) {
      return unavailable(fmt::format("API key store '{}' has schema version {}; this Hearth knows up to {} (upgrade "
                                     "Hearth, or point [auth] db at another file)",
                                     db_path, *version, kSchemaVersion));
    }
    if (*version == kSchemaVersion) return {};
    HEARTH_TRY(exec(kSchema, "create the schema"));
    return exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str(), "set the schema version");
  }

  // Rows of SELECT kColumns ... `where` (no bindings).
  Result<std::vector<Row>> select(const std::string& where) {
    Stmt s(db.get(), fmt::format("SELECT {} FROM api_keys {}", kColumns, where));
    if (!s.ok()) return db_error(db.get(), "read keys");
    std::vector<Row> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      auto r = read_row(s);
      if (!r) return r.take_error();
      out.push_back(std::move(*r));
    }
    if (rc != SQLITE_DONE) return db_error(db.get(), "read keys");
    return out;
  }

  void put(Row row) {  // caller holds db_mu
    Entry e;
    const bool usable = from_hex(row.hash, e.mac);
    if (!usable) spdlog::warn("API key {} has a damaged hash; it cannot be used", row.record.id);
    const std::string id = row.record.id;
    e.record = std::move(row.record);
    std::unique_lock lock(cache_mu);
    if (usable) cache[id] = std::move(e);
    else cache.erase(id);
  }

  // Reloads the cache if another connection changed the file. Caller holds db_mu.
  Status reload_if_changed() {
    auto version = pragma_int("data_version");
    if (!version) return version.take_error();
    if (*version == data_version) return {};
    auto rows = select("");
    if (!rows) return rows.take_error();
    std::unordered_map<std::string, Entry> fresh;
    for (Row& r : *rows) {
      Entry e;
      if (!from_hex(r.hash, e.mac)) continue;
      e.record = std::move(r.record);
      std::string id = e.record.id;
      fresh.emplace(std::move(id), std::move(e));
    }
    {
      std::unique_lock lock(cache_mu);
      cache.swap(fresh);
    }
    data_version = *version;
    return {};
  }

  // At most every kReloadIntervalNs, by one thread; the others go on with the cache meanwhile.
  void maybe_reload() {
    const std::int64_t now = steady_ns();
    if (now < next_check_ns.load(std::memory_order_relaxed)) return;
    std::unique_lock lock(db_mu, std::try_to_lock);
    if (!lock.owns_lock() || now < next_check_ns.load(std::memory_order_relaxed)) return;
    next_check_ns.store(now + kReloadIntervalNs, std::memory_order_relaxed);
    if (auto st = reload_if_changed(); !st) spdlog::warn("API keys not reloaded: {}", st.error().message);
  }

  Result<Row> select_one(const std::string& id) {
    Stmt s(db.get(), fmt::format("SELECT {} FROM api_keys WHERE id = ?1", kColumns));
    if (!s.ok()) return db_error(db.get(), "read a key");
    s.bind(1, id);
    const int rc = s.step();
    if (rc == SQLITE_DONE) return not_found(fmt::format("no API key '{}'", id));
    if (rc != SQLITE_ROW) return db_error(db.get(), "read a key");
    return read_row(s);
  }

  // Inserts a new key; SQLITE_CONSTRAINT (an id already taken) is returned as nullopt.
  Result<std::optional<NewKey>> insert(const KeySpec& spec, std::int64_t now) {
    auto id = random_base62(kIdChars);
    auto tail = random_base62(kSecretChars);
    if (!id) return id.take_error();
    if (!tail) return tail.take_error();
    NewKey k;
    k.key = fmt::format("{}{}.{}", kPrefix, *id, *tail);
    Mac mac{};
    if (!hmac(secret, k.key, mac)) return internal_error("HMAC-SHA256 failed");
    KeyRecord& r = k.record;
    r = {std::string(kPrefix) + *id, spec.name, spec.role, spec.models, spec.collections, spec.rpm, spec.tpm, now,
         spec.expires_at, std::nullopt, std::nullopt};
    Stmt s(db.get(), fmt::format("INSERT INTO api_keys ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, NULL)",
                                 kColumns));
    if (!s.ok()) return db_error(db.get(), "create a key");
    s.bind(1, r.id).bind(2, to_hex(mac)).bind(3, r.name).bind(4, r.role).bind(5, to_json(r.models));
    s.bind(6, to_json(r.collections)).bind(7, std::int64_t{r.rpm}).bind(8, std::int64_t{r.tpm}).bind(9, now);
    s.bind(10, r.expires_at);
    const int rc = s.step();
    if ((rc & 0xff) == SQLITE_CONSTRAINT) return std::optional<NewKey>();
    if (rc != SQLITE_DONE) return db_error(db.get(), "create a key");
    Entry e{mac, r};
    std::unique_lock lock(cache_mu);
    cache[r.id] = std::move(e);
    return std::optional<NewKey>(std::move(k));
  }
};

KeyStore::KeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyStore::~KeyStore() = default;

Result<std::unique_ptr<KeyStore>> KeyStore::open(const std::string& db_path, const std::string& secret_path) {
  if (db_path.empty()) return invalid_argument("the API key store's file is not set");
  auto impl = std::make_unique<Impl>();
  impl->db_path = db_path;
  auto secret = load_or_create_secret(secret_path);
  if (!secret) return secret.take_error();
  impl->secret = std::move(*secret);

  auto opened = open_private_sqlite(db_path, "the API key store");
  if (!opened) return opened.take_error();
  impl->db.reset(*opened);
  HEARTH_TRY(impl->exec("PRAGMA journal_mode = WAL", "enable WAL"));
  HEARTH_TRY(impl->exec("PRAGMA synchronous = NORMAL", "set synchronous"));
  HEARTH_TRY(impl->migrate());
  {
    std::lock_guard lock(impl->db_mu);
    HEARTH_TRY(impl->reload_if_changed());
  }
  impl->next_check_ns = steady_ns() + kReloadIntervalNs;
  return std::unique_ptr<KeyStore>(new KeyStore(std::move(impl)));
}

Result<NewKey> KeyStore::create(const KeySpec& spec, std::int64_t now) {
  HEARTH_TRY(check_spec(spec, now));
  std::lock_guard lock(impl_->db_mu);
  for (int attempt = 0; attempt < 4; ++attempt) {  // a taken id (1 in 62^10) draws again
    auto k = impl_->insert(spec, now);
    if (!k) return k.take_error();
    if (*k) return std::move(**k);
  }
  return internal_error("could not draw an unused API key id");
}

Result<std::vector<KeyRecord>> KeyStore::list() {
  Result<std::vector<Row>> rows = std::vector<Row>{};
  {
    std::lock_guard lock(impl_->db_mu);
    rows = impl_->select("ORDER BY created_at, rowid");
  }
  if (!rows) return rows.take_error();
  std::vector<KeyRecord> out;
  out.reserve(rows->size());
  std::lock_guard lock(impl_->touch_mu);
  for (Row& r : *rows) {
    if (auto it = impl_->uses.find(r.record.id); it != impl_->uses.end()) {
      r.record.last_used_at = std::max(r.record.last_used_at.value_or(0), it->second.last_seen);
    }
    out.push_back(std::move(r.record));
  }
  return out;
}

Result<KeyRecord> KeyStore::revoke(const std::string& id, std::int64_t now) {
  std::lock_guard lock(impl_->db_mu);
  Stmt s(impl_->db.get(), "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1");
  if (!s.ok()) return db_error(impl_->db.get(), "revoke a key");
  s.bind(1, id).bind(2, now);
  if (s.step() != SQLITE_DONE) return db_error(impl_->db.get(), "revoke a key");
  if (sqlite3_changes(impl_->db.get()) == 0) return not_found(fmt::format("no API key '{}'", id));
  auto row = impl_->select_one(id);
  if (!row) return row.take_error();
  KeyRecord record = row->record;
  impl_->put(std::move(*row));
  return record;
}

Result<bool> KeyStore::remove(const std::string& id) {
  std::lock_guard lock(impl_->db_mu);
  Stmt s(impl_->db.get(), "DELETE FROM api_keys WHERE id = ?1");
  if (!s.ok()) return db_error(impl_->db.get(), "delete a key");
  s.bind(1, id);
  if (s.step() != SQLITE_DONE) return db_error(impl_->db.get(), "delete a key");
  const bool removed = sqlite3_changes(impl_->db.get()) > 0;
  std::unique_lock cache_lock(impl_->cache_mu);
  impl_->cache.erase(id);
  return removed;
}

Result<KeyRecord> KeyStore::verify(std::string_view presented, std::int64_t now) {
  if (!well_formed(presented)) {
    return unauthenticated("malformed API key: expected hk-<10 letters or digits>.<40 letters or digits>");
  }
  impl_->maybe_reload();
  Mac mac{};
  if (!hmac(impl_->secret, presented, mac)) return internal_error("HMAC-SHA256 failed");
  const std::string id(presented.substr(0, kIdLength));
  std::shared_lock lock(impl_->cache_mu);
  const auto it = impl_->cache.find(id);
  if (it == impl_->cache.end() || CRYPTO_memcmp(it->second.mac.data(), mac.data(), mac.size()) != 0) {
    return unauthenticated("unknown API key");
  }
  const KeyRecord& r = it->second.record;
  if (r.revoked_at) return unauthenticated(fmt::format("API key {} has been revoked", r.id));
  if (r.expires_at && *r.expires_at <= now) return unauthenticated(fmt::format("API key {} has expired", r.id));
  return r;
}

void KeyStore::touch(const std::string& id, std::int64_t now) {
  {
    std::shared_lock lock(impl_->cache_mu);
    if (!impl_->cache.contains(id)) return;  // keeps `uses` to known keys
  }
  {
    std::lock_guard lock(impl_->touch_mu);
    Impl::Use& u = impl_->uses[id];
    u.last_seen = std::max(u.last_seen, now);
    if (u.last_written && now - *u.last_written < kTouchIntervalS) return;
    u.last_written = now;
  }
  std::lock_guard lock(impl_->db_mu);
  Stmt s(impl_->db.get(), "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?2), ?2) WHERE id = ?1");
  if (s.ok()) s.bind(1, id).bind(2, now);
  if (!s.ok() || s.step() != SQLITE_DONE) {
    spdlog::warn("API key {}: last use not recorded: {}", id, sqlite3_errmsg(impl_->db.get()));
  }
}

}  // namespace hearth::auth
