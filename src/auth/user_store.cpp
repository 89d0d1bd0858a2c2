#include "auth/user_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/sqlite_file.h"
#include "auth/secret_file.h"
#include "auth/user_store_impl.h"

namespace hearth::auth {
namespace user_detail {

static_assert(PasswordCost{}.ops == crypto_pwhash_OPSLIMIT_INTERACTIVE);
static_assert(PasswordCost{}.mem == crypto_pwhash_MEMLIMIT_INTERACTIVE);

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  models TEXT NOT NULL DEFAULT '[]',
  collections TEXT NOT NULL DEFAULT '[]',
  rpm INTEGER NOT NULL DEFAULT 0,
  tpm INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  disabled_at INTEGER,
  last_login_at INTEGER,
  password_changed_at INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_reason TEXT,
  client_ip TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id);
)sql";

// UTF-8 -> UTF-16 -> `norm` -> UTF-8; nullopt on invalid UTF-8 or an ICU failure.
std::optional<std::string> normalize(std::string_view s, const UNormalizer2* norm) {
  if (s.size() > 4096) return std::nullopt;
  UErrorCode err = U_ZERO_ERROR;
  std::u16string in(s.size() + 1, u'\0');
  int32_t in_len = 0;
  u_strFromUTF8(in.data(), static_cast<int32_t>(in.size()), &in_len, s.data(), static_cast<int32_t>(s.size()), &err);
  if (U_FAILURE(err)) return std::nullopt;
  std::u16string out(static_cast<std::size_t>(in_len) * 4 + 16, u'\0');
  const int32_t out_len =
      unorm2_normalize(norm, in.data(), in_len, out.data(), static_cast<int32_t>(out.size()), &err);
  if (U_FAILURE(err)) return std::nullopt;
  std::string utf8(static_cast<std::size_t>(out_len) * 3 + 1, '\0');
  int32_t utf8_len = 0;
  u_strToUTF8(utf8.data(), static_cast<int32_t>(utf8.size()), &utf8_len, out.data(), out_len, &err);
  if (U_FAILURE(err)) return std::nullopt;
  utf8.resize(static_cast<std::size_t>(utf8_len));
  return utf8;
}

std::optional<std::string> nfc(std::string_view s) {
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* norm = unorm2_getNFCInstance(&err);
  return U_FAILURE(err) ? std::nullopt : normalize(s, norm);
}

bool allowed_in_name(UChar32 c, bool first) {
  if (c < 0x80) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '@' || c == '-';
  }
  if (c == 0x115F || c == 0x1160 || c == 0x3164 || c == 0xFFA0) return false;  // Hangul fillers: letters that show nothing
  switch (u_charType(c)) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER: case U_MODIFIER_LETTER:
    case U_OTHER_LETTER: case U_DECIMAL_DIGIT_NUMBER:
      return true;
    case U_NON_SPACING_MARK: case U_COMBINING_SPACING_MARK: case U_ENCLOSING_MARK:
      return !first;
    default:
      return false;
  }
}

// The name in NFC if it is a valid name, else an error naming the rule.
Result<std::string> check_name(const std::string& raw) {
  const std::string rule = fmt::format(
      "name must be 1..{} bytes of letters, digits and . _ @ - (letters of any script; no spaces or control "
      "characters)",
      kMaxNameBytes);
  auto name = nfc(raw);
  if (!name || name->empty() || name->size() > kMaxNameBytes) return invalid_argument(rule, "name");
  const auto* p = reinterpret_cast<const uint8_t*>(name->data());
  const auto len = static_cast<int32_t>(name->size());
  for (int32_t i = 0; i < len;) {
    const bool first = i == 0;
    UChar32 c = 0;
    U8_NEXT(p, i, len, c);
    if (c < 0 || !allowed_in_name(c, first)) return invalid_argument(rule, "name");
  }
  auto key = fold_name(*name);
  if (!key || key->empty()) return invalid_argument(rule, "name");
  if (is_user_id(*name) || is_user_id(*key)) {
    return invalid_argument("name must not look like a user id (u- and 10 letters or digits)", "name");
  }
  return std::move(*name);
}

Status check_password(const std::string& password, const std::string& name) {
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return invalid_argument(fmt::format("password must be {}..{} bytes long (it has {})", kMinPasswordBytes,
                                        kMaxPasswordBytes, password.size()),
                            "password");
  }
  const auto pw_key = fold_name(password);
  if (password == name || (pw_key && pw_key == fold_name(name))) {
    return invalid_argument("password must not be the user name", "password");
  }
  return {};
}

Status check_lists_and_limits(const UserSpec& s) {
  return check_allow_lists(s.models, s.collections, s.rpm, s.tpm);
}

// A row of SELECT kUserColumns. A damaged allow-list is an error, never "every model".
Result<UserRecord> read_user(Stmt& s) {
  UserRecord u;
  u.id = s.text(0);
  u.name = s.text(1);
  u.role = s.text(2);
  if (!from_json(s.text(3), u.models) || !from_json(s.text(4), u.collections)) {
    return internal_error(fmt::format("user store: user {} has a damaged models or collections list", u.id));
  }
  u.rpm = static_cast<int>(s.i64(5));
  u.tpm = static_cast<int>(s.i64(6));
  u.created_at = s.i64(7);
  u.disabled_at = s.opt_i64(8);
  u.last_login_at = s.opt_i64(9);
  u.password_changed_at = s.opt_i64(10);
  return u;
}

SessionRow read_session(Stmt& s) {
  SessionRow r;
  r.id = s.text(0);
  r.user_id = s.text(1);
  r.mac_ok = from_hex(s.text(2), r.mac);
  r.created_at = s.i64(3);
  r.expires_at = s.i64(4);
  r.last_seen_at = s.i64(5);
  r.revoked_at = s.opt_i64(6);
  r.revoked_reason = s.text(7);
  r.client_ip = s.text(8);
  r.user_agent = s.text(9);
  return r;
}

// Quotes a name or id given by a caller for an error message, or says nothing if it is odd.
std::string quoted(const std::string& name_or_id) {
  if (name_or_id.size() > kMaxNameBytes || has_control(name_or_id)) return "";
  return fmt::format(" '{}'", name_or_id);
}

}  // namespace

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}
Status Transaction::begin() {
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db_, "begin");
  open_ = true;
  return {};
}
Status Transaction::commit() {
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db_, "commit");
  open_ = false;
  return {};
}

Error db_error(sqlite3* db, std::string_view what) {
  const int code = sqlite3_errcode(db);
  std::string msg = fmt::format("user store: {}: {}", what, sqlite3_errmsg(db));
  if (code == SQLITE_FULL || code == SQLITE_NOMEM) return resource_exhausted(std::move(msg));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return unavailable(std::move(msg));
  return internal_error(std::move(msg));
}

Error unauthenticated(std::string msg) { return {ErrorCode::kUnauthenticated, std::move(msg)}; }

bool is_user_id(std::string_view s) {
  return s.size() == kUserPrefix.size() + kUserIdChars && s.starts_with(kUserPrefix) &&
         all_base62(s.substr(kUserPrefix.size()));
}

bool is_session_id(std::string_view s) {
  return s.size() == kSessionIdLength && s.starts_with(kSessionPrefix) && all_base62(s.substr(kSessionPrefix.size()));
}

bool is_token(std::string_view s) {
  return s.size() == kTokenLength && is_session_id(s.substr(0, kSessionIdLength)) && s[kSessionIdLength] == '.' &&
         all_base62(s.substr(kSessionIdLength + 1));
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> fold_name(std::string_view s) {
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* norm = unorm2_getNFKCCasefoldInstance(&err);
  return U_FAILURE(err) ? std::nullopt : normalize(s, norm);
}

std::string clean_text(std::string_view s, std::size_t max_bytes) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) out += c;
  }
  if (out.size() <= max_bytes) return out;
  std::size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;  // not inside a character
  out.resize(n);
  return out;
}

}  // namespace user_detail

using namespace user_detail;

PasswordCost PasswordCost::for_tests() {
  PasswordCost c;
  c.ops = crypto_pwhash_OPSLIMIT_MIN;
  c.mem = crypto_pwhash_MEMLIMIT_MIN;
  return c;
}

// ---- UserStore::Impl: the database and the cache -------------------------------------------

Status UserStore::Impl::exec(const char* sql, std::string_view what) {
  if (sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db.get(), what);
  return {};
}

// Creates the tables in a fresh file; refuses a file from a newer Hearth. In one write
// transaction, as two processes may open a new file at once.
Status UserStore::Impl::migrate() {
  Transaction tx(db.get());
  HEARTH_TRY(tx.begin());
  HEARTH_TRY(migrate_in_transaction());
  return tx.commit();
}

Status UserStore::Impl::migrate_in_transaction() {
  HEARTH_TRY(exec("CREATE TABLE IF NOT EXISTS users_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
                  "create users_meta"));
  Stmt s(db.get(), "SELECT value FROM users_meta WHERE key = 'schema_version'");
  if (!s.ok()) return db_error(db.get(), "read the schema version");
  const int rc = s.step();
  if (rc == SQLITE_ROW) {
    const std::string v = s.text(0);
    if (v != std::to_string(kSchemaVersion)) {
      return unavailable(fmt::format("user store '{}' has schema version {}; this Hearth knows version {} (upgrade "
                                     "Hearth, or point [auth] db at another file)",
                                     db_path, v, kSchemaVersion));
    }
    return {};
  }
  if (rc != SQLITE_DONE) return db_error(db.get(), "read the schema version");
  HEARTH_TRY(exec(kSchema, "create the schema"));
  return exec(fmt::format("INSERT INTO users_meta (key, value) VALUES ('schema_version', '{}')", kSchemaVersion)
                  .c_str(),
              "set the schema version");
}

Result<std::vector<UserRecord>> UserStore::Impl::select_users(const std::string& where, const std::string& arg) {
  Stmt s(db.get(), fmt::format("SELECT {} FROM users {}", kUserColumns, where));
  if (!s.ok()) return db_error(db.get(), "read users");
  if (!arg.empty()) s.bind(1, arg);
  std::vector<UserRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto u = read_user(s);
    if (!u) return u.take_error();
    out.push_back(std::move(*u));
  }
  if (rc != SQLITE_DONE) return db_error(db.get(), "read users");
  return out;
}

Result<std::vector<UserStore::Impl::Session>> UserStore::Impl::select_sessions(const std::string& where,
                                                                              const std::string& arg) {
  Stmt s(db.get(), fmt::format("SELECT {} FROM sessions {}", kSessionColumns, where));
  if (!s.ok()) return db_error(db.get(), "read sessions");
  if (!arg.empty()) s.bind(1, arg);
  std::vector<Session> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_session(s));
  if (rc != SQLITE_DONE) return db_error(db.get(), "read sessions");
  return out;
}

Result<UserRecord> UserStore::Impl::find_user(const std::string& name_or_id) {
  Result<std::vector<UserRecord>> rows = std::vector<UserRecord>{};
  if (is_user_id(name_or_id)) {
    rows = select_users("WHERE id = ?1", name_or_id);
  } else if (auto key = fold_name(name_or_id); key && !key->empty()) {
    rows = select_users("WHERE name_key = ?1", *key);
  }
  if (!rows) return rows.take_error();
  if (rows->empty()) return not_found(fmt::format("no user{}", quoted(name_or_id)));
  return std::move(rows->front());
}

// Reads one user and its sessions again into the cache (after a change through this connection,
// which PRAGMA data_version does not report).
Status UserStore::Impl::refresh_user(const std::string& user_id) {
  auto user = select_users("WHERE id = ?1", user_id);
  if (!user) return user.take_error();
  auto rows = select_sessions("WHERE user_id = ?1", user_id);
  if (!rows) return rows.take_error();
  std::unique_lock lock(cache_mu);
  std::erase_if(sessions, [&](const auto& kv) { return kv.second.user_id == user_id; });
  if (user->empty()) users.erase(user_id);
  else users[user_id] = std::move(user->front());
  for (Session& s : *rows) {
    std::string id = s.id;
    sessions[std::move(id)] = std::move(s);
  }
  std::lock_guard seen_lock(seen_mu);
  std::erase_if(seen, [&](const auto& kv) { return !sessions.contains(kv.first); });
  return {};
}

// Reloads the cache if another connection changed the file.
Status UserStore::Impl::reload_if_changed() {
  Stmt v(db.get(), "PRAGMA data_version");
  if (!v.ok() || v.step() != SQLITE_ROW) return db_error(db.get(), "data_version");
  const std::int64_t version = v.i64(0);
  if (version == data_version) return {};
  auto user_rows = select_users("");
  if (!user_rows) return user_rows.take_error();
  auto session_rows = select_sessions("");
  if (!session_rows) return session_rows.take_error();
  std::unordered_map<std::string, UserRecord> fresh_users;
  std::unordered_map<std::string, Session> fresh_sessions;
  for (UserRecord& u : *user_rows) {
    std::string id = u.id;
    fresh_users.emplace(std::move(id), std::move(u));
  }
  for (Session& s : *session_rows) {
    std::string id = s.id;
    fresh_sessions.emplace(std::move(id), std::move(s));
  }
  {
    std::unique_lock lock(cache_mu);
    users.swap(fresh_users);
    sessions.swap(fresh_sessions);
    std::lock_guard seen_lock(seen_mu);
    std::erase_if(seen, [&](const auto& kv) { return !sessions.contains(kv.first); });
  }
  data_version = version;
  return {};
}

// At most every reload_interval_ms (unless forced), by one thread; the others go on with the
// cache meanwhile.
bool UserStore::Impl::maybe_reload(bool force) {
  const std::int64_t now = steady_ns();
  if (!force && now < next_check_ns.load(std::memory_order_relaxed)) return false;
  std::unique_lock lock(db_mu, std::try_to_lock);
  if (!lock.owns_lock() || (!force && now < next_check_ns.load(std::memory_order_relaxed))) return false;
  next_check_ns.store(now + policy.reload_interval_ms * 1'000'000, std::memory_order_relaxed);
  const std::int64_t before = data_version;
  if (auto st = reload_if_changed(); !st) {
    spdlog::warn("users and sessions not reloaded: {}", st.error().message);
    return false;
  }
  return data_version != before;
}

Status UserStore::Impl::revoke_sessions(const std::string& user_id, std::int64_t now, const char* reason) {
  Stmt s(db.get(), "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE user_id = ?1 AND revoked_at IS NULL");
  if (!s.ok()) return db_error(db.get(), "revoke sessions");
  s.bind(1, user_id).bind(2, now).bind(3, std::string(reason));
  if (s.step() != SQLITE_DONE) return db_error(db.get(), "revoke sessions");
  return {};
}

Result<std::string> UserStore::Impl::hash_password(const std::string& password) {
  char out[crypto_pwhash_STRBYTES];
  hashing.acquire();
  const int rc = crypto_pwhash_str(out, password.data(), password.size(), cost.ops, cost.mem);
  hashing.release();
  if (rc != 0) return resource_exhausted("not enough memory to hash a password (Argon2id); try again later");
  return std::string(out);
}

bool UserStore::Impl::password_matches(const std::string& hash, const std::string& password) {
  hashing.acquire();
  const bool ok = crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
  hashing.release();
  return ok;
}

const std::string& UserStore::Impl::dummy() {
  std::call_once(dummy_once, [this] {
    auto pw = random_base62(32);
    auto h = pw ? hash_password(*pw) : Result<std::string>(pw.take_error());
    if (h) dummy_hash = std::move(*h);
    else spdlog::warn("user store: no dummy password hash: {}", h.error().message);
  });
  return dummy_hash;
}

// ---- UserStore: users ----------------------------------------------------------------------

UserStore::UserStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UserStore::~UserStore() = default;

namespace {

Status check_options(const PasswordCost& cost, const SessionPolicy& p) {
  if (cost.ops < crypto_pwhash_OPSLIMIT_MIN || cost.ops > crypto_pwhash_OPSLIMIT_MAX ||
      cost.mem < crypto_pwhash_MEMLIMIT_MIN || cost.mem > crypto_pwhash_MEMLIMIT_MAX) {
    return invalid_argument(fmt::format("password hashing cost out of range (ops {}..{}, mem {}..{} bytes)",
                                        crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_OPSLIMIT_MAX,
                                        crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_MEMLIMIT_MAX));
  }
  if (cost.max_parallel < 1 || cost.max_parallel > static_cast<unsigned>(kMaxParallelHashes)) {
    return invalid_argument(fmt::format("max_parallel must be 1..{}", kMaxParallelHashes));
  }
  if (p.default_ttl_s <= 0 || p.max_ttl_s < p.default_ttl_s || p.idle_timeout_s < 0 || p.reload_interval_ms < 0 ||
      p.retain_ended_s < 0) {
    return invalid_argument(
        "session policy out of range (0 < default_ttl_s <= max_ttl_s; idle_timeout_s, reload_interval_ms and "
        "retain_ended_s >= 0)");
  }
  return {};
}

Status init_sodium() {
  static std::once_flag once;
  static int rc = -1;
  std::call_once(once, [] { rc = sodium_init(); });
  if (rc < 0) return internal_error("libsodium could not be initialised");
  return {};
}

}  // namespace

Result<std::unique_ptr<UserStore>> UserStore::open(const std::string& db_path, const std::string& secret_path,
                                                   PasswordCost cost, SessionPolicy policy) {
  if (db_path.empty()) return invalid_argument("the user store's file is not set");
  HEARTH_TRY(check_options(cost, policy));
  HEARTH_TRY(init_sodium());
  auto impl = std::make_unique<Impl>(cost.max_parallel);
  impl->db_path = db_path;
  impl->cost = cost;
  impl->policy = policy;
  auto secret = load_or_create_secret(secret_path);
  if (!secret) return secret.take_error();
  impl->secret = std::move(*secret);

  auto opened = open_private_sqlite(db_path, "the user store");
  if (!opened) return opened.take_error();
  impl->db.reset(*opened);
  HEARTH_TRY(impl->exec("PRAGMA journal_mode = WAL", "enable WAL"));
  HEARTH_TRY(impl->exec("PRAGMA synchronous = NORMAL", "set synchronous"));
  HEARTH_TRY(impl->exec("PRAGMA foreign_keys = ON", "enable foreign keys"));
  HEARTH_TRY(impl->migrate());
  {
    std::lock_guard lock(impl->db_mu);
    HEARTH_TRY(impl->reload_if_changed());
  }
  impl->next_check_ns = steady_ns() + policy.reload_interval_ms * 1'000'000;
  return std::unique_ptr<UserStore>(new UserStore(std::move(impl)));
}

Result<UserRecord> UserStore::create(const UserSpec& spec, std::int64_t now) {
  auto name = check_name(spec.name);
  if (!name) return name.take_error();
  HEARTH_TRY(check_text(spec.role, "role", kMaxNameBytes));
  HEARTH_TRY(check_lists_and_limits(spec));
  HEARTH_TRY(check_password(spec.password, *name));
  const std::string key = fold_name(*name).value_or("");
  auto hash = impl_->hash_password(spec.password);  // before taking the connection: slow
  if (!hash) return hash.take_error();

  std::lock_guard lock(impl_->db_mu);
  for (int attempt = 0; attempt < 4; ++attempt) {  // a taken id (1 in 62^10) draws again
    auto taken = impl_->select_users("WHERE name_key = ?1", key);
    if (!taken) return taken.take_error();
    if (!taken->empty()) return invalid_argument(fmt::format("a user named '{}' already exists", *name), "name");
    auto id = random_base62(kUserIdChars);
    if (!id) return id.take_error();
    const std::string uid = std::string(kUserPrefix) + *id;
    Stmt s(impl_->db.get(),
           "INSERT INTO users (id, name, name_key, role, password_hash, models, collections, rpm, tpm, created_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!s.ok()) return db_error(impl_->db.get(), "create a user");
    s.bind(1, uid).bind(2, *name).bind(3, key).bind(4, spec.role).bind(5, *hash).bind(6, to_json(spec.models));
    s.bind(7, to_json(spec.collections)).bind(8, std::int64_t{spec.rpm}).bind(9, std::int64_t{spec.tpm});
    s.bind(10, now);
    const int rc = s.step();
    if ((rc & 0xff) == SQLITE_CONSTRAINT) continue;  // the id, or a name taken by another process meanwhile
    if (rc != SQLITE_DONE) return db_error(impl_->db.get(), "create a user");
    HEARTH_TRY(impl_->refresh_user(uid));
    return impl_->find_user(uid);
  }
  return internal_error("could not draw an unused user id");
}

Result<std::vector<UserRecord>> UserStore::list() {
  std::lock_guard lock(impl_->db_mu);
  return impl_->select_users("ORDER BY created_at, rowid");
}

Result<UserRecord> UserStore::get(const std::string& name_or_id) {
  std::lock_guard lock(impl_->db_mu);
  return impl_->find_user(name_or_id);
}

Result<UserRecord> UserStore::set_password(const std::string& name_or_id, const std::string& new_password,
                                           std::int64_t now) {
  Result<UserRecord> user = get(name_or_id);
  if (!user) return user.take_error();
  HEARTH_TRY(check_password(new_password, user->name));
  auto hash = impl_->hash_password(new_password);
  if (!hash) return hash.take_error();
  std::lock_guard lock(impl_->db_mu);
  Transaction tx(impl_->db.get());
  HEARTH_TRY(tx.begin());
  Stmt s(impl_->db.get(), "UPDATE users SET password_hash = ?2, password_changed_at = ?3 WHERE id = ?1");
  if (!s.ok()) return db_error(impl_->db.get(), "set a password");
  s.bind(1, user->id).bind(2, *hash).bind(3, now);
  if (s.step() != SQLITE_DONE) return db_error(impl_->db.get(), "set a password");
  if (sqlite3_changes(impl_->db.get()) == 0) return not_found(fmt::format("no user{}", quoted(name_or_id)));
  HEARTH_TRY(impl_->revoke_sessions(user->id, now, "password changed"));
  HEARTH_TRY(tx.commit());
  HEARTH_TRY(impl_->refresh_user(user->id));
  return impl_->find_user(user->id);
}

Result<UserRecord> UserStore::set_role(const std::string& name_or_id, const std::string& role) {
  HEARTH_TRY(check_text(role, "role", kMaxNameBytes));
  std::lock_guard lock(impl_->db_mu);
  auto user = impl_->find_user(name_or_id);
  if (!user) return user.take_error();
  Stmt s(impl_->db.get(), "UPDATE users SET role = ?2 WHERE id = ?1");
  if (!s.ok()) return db_error(impl_->db.get(), "set a role");
  s.bind(1, user->id).bind(2, role);
  if (s.step() != SQLITE_DONE) return db_error(impl_->db.get(), "set a role");
  HEARTH_TRY(impl_->refresh_user(user->id));
  return impl_->find_user(user->id);
}

Result<UserRecord> UserStore::disable(const std::string& name_or_id, std::int64_t now) {
  std::lock_guard lock(impl_->db_mu);
  auto user = impl_->find_user(name_or_id);
  if (!user) return user.take_error();
  Transaction tx(impl_->db.get());
  HEARTH_TRY(tx.begin());
  Stmt s(impl_->db.get(), "UPDATE users SET disabled_at = coalesce(disabled_at, ?2) WHERE id = ?1");
  if (!s.ok()) return db_error(impl_->db.get(), "disable a user");
  s.bind(1, user->id).bind(2, now);
  if (s.step() != SQLITE_DONE) return db_error(impl_->db.get(), "disable a user");
  HEARTH_TRY(impl_->revoke_sessions(user->id, now, "user disabled"));
  HEARTH_TRY(tx.commit());
  HEARTH_TRY(impl_->refresh_user(user->id));
  return impl_->find_user(user->id);
}

Result<UserRecord> UserStore::enable(const std::string& name_or_id) {
  std::lock_guard lock(impl_->db_mu);
  auto user = impl_->find_user(name_or_id);
  if (!user) return user.take_error();
  Stmt s(impl_->db.get(), "UPDATE users SET disabled_at = NULL WHERE id = ?1");
  if (!s.ok() || s.bind(1, user->id).step() != SQLITE_DONE) return db_error(impl_->db.get(), "enable a user");
  HEARTH_TRY(impl_->refresh_user(user->id));
  return impl_->find_user(user->id);
}

Result<int> UserStore::remove(const std::string& name_or_id) {
  int removed = 0;
  std::string key;
  {
    std::lock_guard lock(impl_->db_mu);
    auto user = impl_->find_user(name_or_id);
    if (!user) return user.take_error();
    key = fold_name(user->name).value_or(user->name);
    Transaction tx(impl_->db.get());
    HEARTH_TRY(tx.begin());
    for (const char* sql : {"DELETE FROM sessions WHERE user_id = ?1", "DELETE FROM users WHERE id = ?1"}) {
      Stmt s(impl_->db.get(), sql);
      if (!s.ok() || s.bind(1, user->id).step() != SQLITE_DONE) return db_error(impl_->db.get(), "remove a user");
      removed += sqlite3_changes(impl_->db.get());
    }
    HEARTH_TRY(tx.commit());
    HEARTH_TRY(impl_->refresh_user(user->id));
  }
  impl_->clear_failures(key);
  return removed;
}

Result<bool> UserStore::password_needs_rehash(const std::string& name_or_id) {
  std::lock_guard lock(impl_->db_mu);
  auto user = impl_->find_user(name_or_id);
  if (!user) return user.take_error();
  Stmt s(impl_->db.get(), "SELECT password_hash FROM users WHERE id = ?1");
  if (!s.ok() || s.bind(1, user->id).step() != SQLITE_ROW) return db_error(impl_->db.get(), "read a password hash");
  const std::string hash = s.text(0);
  return crypto_pwhash_str_needs_rehash(hash.c_str(), impl_->cost.ops, impl_->cost.mem) != 0;
}

}  // namespace hearth::auth
