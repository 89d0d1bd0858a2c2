// UserStore: sign-in, throttling and sessions (user_store.cpp has the users and the database).
#include <openssl/crypto.h>
#include <sodium.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "auth/user_store.h"
#include "auth/user_store_impl.h"

namespace hearth::auth {
using namespace user_detail;
namespace {

constexpr const char* kBadCredentials = "invalid user name or password";
constexpr const char* kUnknownSession = "unknown session";
constexpr std::size_t kMaxIpBytes = 64, kMaxAgentBytes = 512, kMaxLoginNameBytes = 256;

struct Credentials {
  std::string id, name, hash;
  std::optional<std::int64_t> disabled_at;
};

SessionInfo info_of(const SessionRow& s, const UserRecord& u, std::int64_t last_seen_at) {
  SessionInfo i;
  i.session_id = s.id;
  i.user = u;
  i.created_at = s.created_at;
  i.expires_at = s.expires_at;
  i.last_seen_at = last_seen_at;
  i.client_ip = s.client_ip;
  i.user_agent = s.user_agent;
  i.revoked_at = s.revoked_at;
  i.revoked_reason = s.revoked_reason;
  return i;
}

std::string ended_message(const SessionRow& s) {
  if (s.revoked_reason == "signed out") return fmt::format("session {} was signed out", s.id);
  if (s.revoked_reason.empty() || s.revoked_reason == "revoked") return fmt::format("session {} was revoked", s.id);
  return fmt::format("session {} was revoked: {}", s.id, s.revoked_reason);
}

template <typename T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json user_json(const UserRecord& u) {
  return {{"id", u.id},
          {"name", u.name},
          {"role", u.role},
          {"models", u.models},
          {"collections", u.collections},
          {"rpm", u.rpm},
          {"tpm", u.tpm},
          {"created_at", u.created_at},
          {"disabled_at", opt(u.disabled_at)},
          {"last_login_at", opt(u.last_login_at)},
          {"password_changed_at", opt(u.password_changed_at)}};
}

nlohmann::json session_json(const SessionInfo& s) {
  return {{"id", s.session_id},
          {"created_at", s.created_at},
          {"expires_at", s.expires_at},
          {"last_seen_at", s.last_seen_at},
          {"revoked_at", opt(s.revoked_at)},
          {"revoked_reason", s.revoked_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.revoked_reason)},
          {"client_ip", s.client_ip},
          {"user_agent", s.user_agent}};
}

}  // namespace

std::optional<std::string> session_id_of(std::string_view token) {
  if (!is_token(token)) return std::nullopt;
  return std::string(token.substr(0, kSessionIdLength));
}

// ---- throttling (in memory) ----------------------------------------------------------------

std::int64_t UserStore::Impl::begin_attempt(const std::string& key, std::int64_t now) {
  std::lock_guard lock(throttle_mu);
  auto it = failures.find(key);
  if (it != failures.end()) {
    auto& times = it->second;
    while (!times.empty() && times.front() <= now - kFailureWindowS) times.pop_front();
    if (static_cast<int>(times.size()) >= kMaxFailures) return std::max<std::int64_t>(1, times.front() + kFailureWindowS - now);
  } else if (failures.size() >= kMaxThrottledNames) {
    // Bounded memory: forget names with no recent failure, else an arbitrary one.
    std::erase_if(failures, [&](const auto& kv) { return kv.second.empty() || kv.second.back() <= now - kFailureWindowS; });
    if (failures.size() >= kMaxThrottledNames) failures.erase(failures.begin());
  }
  auto& times = failures[key];
  times.push_back(now);
  while (static_cast<int>(times.size()) > kMaxFailures) times.pop_front();
  return 0;
}

void UserStore::Impl::clear_failures(const std::string& key) {
  std::lock_guard lock(throttle_mu);
  failures.erase(key);
}

std::vector<std::int64_t> UserStore::Impl::failures_of(const std::string& key) {
  std::lock_guard lock(throttle_mu);
  auto it = failures.find(key);
  if (it == failures.end()) return {};
  return {it->second.begin(), it->second.end()};
}

// ---- sessions: the cache -------------------------------------------------------------------

std::int64_t UserStore::Impl::last_seen(const Session& s) {
  std::lock_guard lock(seen_mu);
  auto it = seen.find(s.id);
  return it == seen.end() ? s.last_seen_at : std::max(s.last_seen_at, it->second.last_seen);
}

bool UserStore::Impl::usable(const Session& s, const UserRecord& u, std::int64_t now) {
  return !s.revoked_at && !u.disabled_at && s.expires_at > now &&
         (policy.idle_timeout_s == 0 || now - last_seen(s) < policy.idle_timeout_s);
}

Result<SessionInfo> UserStore::Impl::check_session(const std::string& id, const Mac& mac, std::int64_t now,
                                                   bool& unknown) {
  std::shared_lock lock(cache_mu);
  const auto it = sessions.find(id);
  const auto user = it == sessions.end() ? users.end() : users.find(it->second.user_id);
  unknown = it == sessions.end() || user == users.end();
  if (unknown || !it->second.mac_ok || CRYPTO_memcmp(it->second.mac.data(), mac.data(), mac.size()) != 0) {
    return unauthenticated(kUnknownSession);
  }
  const Session& s = it->second;
  const UserRecord& u = user->second;
  if (s.revoked_at) return unauthenticated(ended_message(s));
  if (u.disabled_at) return unauthenticated(fmt::format("session {}: user {} is disabled", s.id, u.id));
  if (s.expires_at <= now) return unauthenticated(fmt::format("session {} has expired", s.id));
  const std::int64_t seen_at = last_seen(s);
  if (policy.idle_timeout_s > 0 && now - seen_at >= policy.idle_timeout_s) {
    return unauthenticated(fmt::format("session {} has expired after {} minutes without use", s.id,
                                       policy.idle_timeout_s / 60));
  }
  return info_of(s, u, std::max(seen_at, now));
}

void UserStore::Impl::record_use(const std::string& session_id, std::int64_t now) {
  {
    std::lock_guard lock(seen_mu);
    Seen& u = seen[session_id];
    u.last_seen = std::max(u.last_seen, now);
    if (u.last_written && now - *u.last_written < kTouchIntervalS) return;
    u.last_written = now;
  }
  std::lock_guard lock(db_mu);
  Stmt s(db.get(), "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE id = ?1");
  if (s.ok()) s.bind(1, session_id).bind(2, now);
  if (!s.ok() || s.step() != SQLITE_DONE) {
    spdlog::warn("session {}: last use not recorded: {}", session_id, sqlite3_errmsg(db.get()));
  }
}

Result<int> UserStore::Impl::prune(std::int64_t now) {
  if (now < next_prune_at) return 0;
  next_prune_at = now + kPruneIntervalS;
  // Idle sessions: with a minute's margin for use another process has not written yet.
  Stmt s(db.get(),
         "DELETE FROM sessions WHERE expires_at < ?1 OR revoked_at < ?1 OR (?2 > 0 AND last_seen_at + ?2 + ?3 < ?1)");
  if (!s.ok()) return db_error(db.get(), "delete ended sessions");
  s.bind(1, now - policy.retain_ended_s).bind(2, policy.idle_timeout_s).bind(3, kTouchIntervalS);
  if (s.step() != SQLITE_DONE) return db_error(db.get(), "delete ended sessions");
  return sqlite3_changes(db.get());
}

// ---- sign-in ---------------------------------------------------------------------------------

Result<NewSession> UserStore::Impl::insert_session(const std::string& user_id, const std::string& old_hash,
                                                   const std::optional<std::string>& new_hash, std::int64_t now,
                                                   std::int64_t ttl_s, std::string client_ip, std::string user_agent) {
  auto sid = random_base62(kSessionIdChars);
  auto tail = random_base62(kSessionSecretChars);
  if (!sid) return sid.take_error();
  if (!tail) return tail.take_error();
  NewSession out;
  out.token = fmt::format("{}{}.{}", kSessionPrefix, *sid, *tail);
  Session row{out.token.substr(0, kSessionIdLength), user_id, {}, true, now, now + ttl_s, now, std::nullopt, "",
              std::move(client_ip), std::move(user_agent)};
  if (!hmac(secret, out.token, row.mac)) return internal_error("HMAC-SHA256 failed");

  std::lock_guard lock(db_mu);
  Transaction tx(db.get());
  HEARTH_TRY(tx.begin());
  // Only if the password is still the one checked and the user still enabled (a password
  // change or a disable between the check and now must not leave a session behind).
  Stmt u(db.get(), "UPDATE users SET last_login_at = ?2, password_hash = coalesce(?3, password_hash) "
                   "WHERE id = ?1 AND password_hash = ?4 AND disabled_at IS NULL");
  if (!u.ok()) return db_error(db.get(), "record a sign-in");
  u.bind(1, user_id).bind(2, now).bind(3, new_hash).bind(4, old_hash);
  if (u.step() != SQLITE_DONE) return db_error(db.get(), "record a sign-in");
  if (sqlite3_changes(db.get()) == 0) return unauthenticated(kBadCredentials);
  Stmt s(db.get(), "INSERT INTO sessions (id, user_id, hash, created_at, expires_at, last_seen_at, client_ip, "
                   "user_agent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!s.ok()) return db_error(db.get(), "create a session");
  s.bind(1, row.id).bind(2, user_id).bind(3, to_hex(row.mac)).bind(4, now).bind(5, row.expires_at).bind(6, now);
  s.bind(7, row.client_ip).bind(8, row.user_agent);
  if (s.step() != SQLITE_DONE) return db_error(db.get(), "create a session");  // a taken id: 1 in 62^16
  auto pruned = prune(now);
  if (!pruned) return pruned.take_error();
  HEARTH_TRY(tx.commit());
  if (*pruned > 0) data_version = -1;  // other users' sessions went too: read everything again
  HEARTH_TRY(*pruned > 0 ? reload_if_changed() : refresh_user(user_id));
  {
    std::lock_guard seen_lock(seen_mu);
    seen[row.id] = Seen{now, now};
  }
  auto user = find_user(user_id);
  if (!user) return user.take_error();
  out.session = info_of(row, *user, now);
  return out;
}

Result<NewSession> UserStore::login(const std::string& name, const std::string& password, std::int64_t now,
                                    std::int64_t ttl_s, std::string client_ip, std::string user_agent) {
  if (ttl_s <= 0) ttl_s = impl_->policy.default_ttl_s;
  if (ttl_s > impl_->policy.max_ttl_s) {
    return invalid_argument(fmt::format("ttl_s must be at most {} seconds", impl_->policy.max_ttl_s), "ttl_s");
  }
  // Such a name or password cannot be right, and saying so reveals nothing about who exists.
  if (name.empty() || name.size() > kMaxLoginNameBytes || password.size() > kMaxPasswordBytes) {
    return unauthenticated(kBadCredentials);
  }
  const std::string key = fold_name(name).value_or(name);
  std::optional<Credentials> cred;
  {
    std::lock_guard lock(impl_->db_mu);
    Stmt s(impl_->db.get(), "SELECT id, name, password_hash, disabled_at FROM users WHERE name_key = ?1");
    if (!s.ok()) return db_error(impl_->db.get(), "read a user");
    s.bind(1, key);
    const int rc = s.step();
    if (rc == SQLITE_ROW) cred = Credentials{s.text(0), s.text(1), s.text(2), s.opt_i64(3)};
    else if (rc != SQLITE_DONE) return db_error(impl_->db.get(), "read a user");
  }
  if (const std::int64_t wait = impl_->begin_attempt(key, now); wait > 0) {
    return resource_exhausted(
        fmt::format("too many failed sign-ins for this user name; try again in {} seconds", wait),
        static_cast<int>(wait));
  }
  // An unknown name costs the same Argon2id verification as a known one.
  const bool match = impl_->password_matches(cred ? cred->hash : impl_->dummy(), password);
  if (!cred || !match) return unauthenticated(kBadCredentials);  // counted by begin_attempt
  impl_->clear_failures(key);
  if (cred->disabled_at) {
    return Error(ErrorCode::kPermissionDenied, fmt::format("user '{}' is disabled", cred->name));
  }
  std::optional<std::string> new_hash;
  if (crypto_pwhash_str_needs_rehash(cred->hash.c_str(), impl_->cost.ops, impl_->cost.mem) != 0) {
    if (auto h = impl_->hash_password(password)) new_hash = std::move(*h);
    else spdlog::warn("user {}: password not rehashed: {}", cred->id, h.error().message);
  }
  return impl_->insert_session(cred->id, cred->hash, new_hash, now, ttl_s, clean_text(client_ip, kMaxIpBytes),
                               clean_text(user_agent, kMaxAgentBytes));
}

// ---- sessions --------------------------------------------------------------------------------

Result<SessionInfo> UserStore::verify_session(std::string_view token, std::int64_t now) {
  if (!is_token(token)) {
    return unauthenticated("malformed session token: expected hs-<16 letters or digits>.<43 letters or digits>");
  }
  impl_->maybe_reload(false);
  Mac mac{};
  if (!hmac(impl_->secret, token, mac)) return internal_error("HMAC-SHA256 failed");
  const std::string id(token.substr(0, kSessionIdLength));
  bool unknown = false;
  auto r = impl_->check_session(id, mac, now, unknown);
  // A session created a moment ago by another process: look once more, without waiting.
  if (unknown && impl_->maybe_reload(true)) r = impl_->check_session(id, mac, now, unknown);
  if (r) impl_->record_use(id, now);
  return r;
}

Status UserStore::logout(std::string_view token_or_session_id, std::int64_t now) {
  const bool by_token = is_token(token_or_session_id);
  if (!by_token && !is_session_id(token_or_session_id)) {
    return invalid_argument("expected a session token or a session id (hs-<16 letters or digits>)", "session");
  }
  const std::string id(token_or_session_id.substr(0, kSessionIdLength));
  Mac mac{};
  if (by_token && !hmac(impl_->secret, token_or_session_id, mac)) return internal_error("HMAC-SHA256 failed");
  std::lock_guard lock(impl_->db_mu);
  auto rows = impl_->select_sessions("WHERE id = ?1", id);
  if (!rows) return rows.take_error();
  if (rows->empty()) return by_token ? unauthenticated(kUnknownSession) : not_found(fmt::format("no session {}", id));
  const SessionRow& s = rows->front();
  if (by_token && (!s.mac_ok || CRYPTO_memcmp(s.mac.data(), mac.data(), mac.size()) != 0)) {
    return unauthenticated(kUnknownSession);
  }
  Stmt u(impl_->db.get(), "UPDATE sessions SET revoked_at = coalesce(revoked_at, ?2), "
                          "revoked_reason = coalesce(revoked_reason, ?3) WHERE id = ?1");
  if (!u.ok()) return db_error(impl_->db.get(), "end a session");
  u.bind(1, id).bind(2, now).bind(3, std::string(by_token ? "signed out" : "revoked"));
  if (u.step() != SQLITE_DONE) return db_error(impl_->db.get(), "end a session");
  return impl_->refresh_user(s.user_id);
}

Result<std::vector<SessionInfo>> UserStore::sessions_of(const std::string& name_or_id,
                                                        std::optional<std::int64_t> active_at) {
  std::lock_guard lock(impl_->db_mu);
  auto user = impl_->find_user(name_or_id);
  if (!user) return user.take_error();
  auto rows = impl_->select_sessions("WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC", user->id);
  if (!rows) return rows.take_error();
  std::vector<SessionInfo> out;
  for (const SessionRow& s : *rows) {
    if (active_at && !impl_->usable(s, *user, *active_at)) continue;
    out.push_back(info_of(s, *user, impl_->last_seen(s)));
  }
  return out;
}

Result<nlohmann::json> UserStore::export_user(const std::string& name_or_id) {
  auto user = get(name_or_id);
  if (!user) return user.take_error();
  auto sessions = sessions_of(user->id);
  if (!sessions) return sessions.take_error();
  nlohmann::json list = nlohmann::json::array();
  for (auto it = sessions->rbegin(); it != sessions->rend(); ++it) list.push_back(session_json(*it));  // oldest first
  nlohmann::json failed = impl_->failures_of(fold_name(user->name).value_or(user->name));
  return nlohmann::json{
      {"format", "hearth.user_export.v1"},
      {"user", user_json(*user)},
      {"sessions", std::move(list)},
      {"recent_failed_sign_ins", std::move(failed)},  // in this process's memory only, for 15 minutes
      {"not_included",
       "passwords and session tokens, of which only one-way digests are stored; API keys and audit records "
       "are kept apart and exported apart"}};
}

}  // namespace hearth::auth
