// Internal to hearth_auth: UserStore::Impl and the helpers that user_store.cpp (users, the
// database) and user_sessions.cpp (sign-in, sessions) share. Not for other libraries.
// Thread-safety: see the members of UserStore::Impl for the lock that guards each.
#pragma once

#include <sqlite3.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/credential_util.h"
#include "auth/user_store.h"

namespace hearth::auth::user_detail {

inline constexpr std::string_view kUserPrefix = "u-";
inline constexpr std::size_t kUserIdChars = 10;
inline constexpr std::string_view kSessionPrefix = "hs-";
inline constexpr std::size_t kSessionIdChars = 16, kSessionSecretChars = 43;
inline constexpr std::size_t kSessionIdLength = kSessionPrefix.size() + kSessionIdChars;     // "hs-" + 16
inline constexpr std::size_t kTokenLength = kSessionIdLength + 1 + kSessionSecretChars;      // + "." + 43
inline constexpr std::size_t kMaxNameBytes = 64, kMinPasswordBytes = 10, kMaxPasswordBytes = 1024;
inline constexpr std::int64_t kTouchIntervalS = 60;
inline constexpr int kMaxFailures = 5;
inline constexpr std::int64_t kFailureWindowS = 15 * 60;
inline constexpr std::size_t kMaxThrottledNames = 100'000;
inline constexpr std::int64_t kPruneIntervalS = 3600;
inline constexpr std::ptrdiff_t kMaxParallelHashes = 64;

inline constexpr const char* kUserColumns =
    "id, name, role, models, collections, rpm, tpm, created_at, disabled_at, last_login_at, password_changed_at";
inline constexpr const char* kSessionColumns =
    "id, user_id, hash, created_at, expires_at, last_seen_at, revoked_at, revoked_reason, client_ip, user_agent";

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

// BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed uncommitted.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status begin();
  Status commit();

 private:
  sqlite3* db_;
  bool open_ = false;
};

struct SessionRow {  // a row of `sessions`
  std::string id, user_id;
  Mac mac{};
  bool mac_ok = false;  // a damaged stored hash never matches
  std::int64_t created_at = 0, expires_at = 0, last_seen_at = 0;
  std::optional<std::int64_t> revoked_at;
  std::string revoked_reason, client_ip, user_agent;
};

struct Seen {  // use of a session recorded in memory
  std::int64_t last_seen = 0;
  std::optional<std::int64_t> last_written;
};

Error db_error(sqlite3* db, std::string_view what);
Error unauthenticated(std::string msg);
bool is_user_id(std::string_view s);      // "u-" + 10 base62
bool is_session_id(std::string_view s);   // "hs-" + 16 base62
bool is_token(std::string_view s);        // "hs-" + 16 base62 + "." + 43 base62
std::int64_t steady_ns();
// The NFKC case fold of UTF-8 text (how names are compared), or nullopt if it is not valid UTF-8.
std::optional<std::string> fold_name(std::string_view s);
// `s` without control characters, cut to at most `max_bytes` on a UTF-8 boundary.
std::string clean_text(std::string_view s, std::size_t max_bytes);

}  // namespace hearth::auth::user_detail

namespace hearth::auth {

struct UserStore::Impl {
  using Mac = user_detail::Mac;
  using Session = user_detail::SessionRow;
  using Seen = user_detail::Seen;

  explicit Impl(unsigned max_parallel) : hashing(static_cast<std::ptrdiff_t>(max_parallel)) {}

  std::string db_path, secret;
  PasswordCost cost;
  SessionPolicy policy;
  std::unique_ptr<sqlite3, user_detail::DbClose> db;
  std::mutex db_mu;                 // the connection: writes and reloads
  std::int64_t data_version = -1;   // of the last reload; guarded by db_mu
  std::int64_t next_prune_at = 0;   // `now` of the next pruning of ended sessions; guarded by db_mu
  std::atomic<std::int64_t> next_check_ns{0};
  std::shared_mutex cache_mu;       // taken before seen_mu, never after
  std::unordered_map<std::string, UserRecord> users;  // id -> user; guarded by cache_mu
  std::unordered_map<std::string, Session> sessions;  // id -> session; guarded by cache_mu
  std::mutex seen_mu;
  std::unordered_map<std::string, Seen> seen;  // session id -> use not yet written; guarded by seen_mu
  std::mutex throttle_mu;
  std::unordered_map<std::string, std::deque<std::int64_t>> failures;  // name fold -> times; guarded by throttle_mu
  std::counting_semaphore<user_detail::kMaxParallelHashes> hashing;
  std::once_flag dummy_once;
  std::string dummy_hash;  // of a random password, for unknown names; set once under dummy_once

  // user_store.cpp: the database and the cache.
  Status exec(const char* sql, std::string_view what);
  Status migrate();
  Status migrate_in_transaction();
  Result<std::vector<UserRecord>> select_users(const std::string& where, const std::string& arg = {});
  Result<std::vector<Session>> select_sessions(const std::string& where, const std::string& arg = {});
  Result<UserRecord> find_user(const std::string& name_or_id);  // caller holds db_mu
  Status refresh_user(const std::string& user_id);              // caller holds db_mu
  Status reload_if_changed();                                   // caller holds db_mu
  bool maybe_reload(bool force);  // whether it reloaded; skips the interval when forced
  Status revoke_sessions(const std::string& user_id, std::int64_t now, const char* reason);  // holds db_mu
  Result<std::string> hash_password(const std::string& password);
  bool password_matches(const std::string& hash, const std::string& password);
  const std::string& dummy();

  // user_sessions.cpp: sign-in and sessions.
  // Counts an attempt to sign in as `key` as failed (until clear_failures()), or, if 5 failed
  // within the window, returns the seconds to wait (and counts nothing).
  std::int64_t begin_attempt(const std::string& key, std::int64_t now);
  void clear_failures(const std::string& key);
  std::vector<std::int64_t> failures_of(const std::string& key);
  // `unknown`: the id is not in the cache (a reload may find it).
  Result<SessionInfo> check_session(const std::string& id, const Mac& mac, std::int64_t now, bool& unknown);
  void record_use(const std::string& session_id, std::int64_t now);
  std::int64_t last_seen(const Session& s);  // with use not yet written; takes seen_mu
  bool usable(const Session& s, const UserRecord& u, std::int64_t now);
  Result<int> prune(std::int64_t now);  // deletes long-ended sessions, at most hourly; caller holds db_mu
  Result<NewSession> insert_session(const std::string& user_id, const std::string& old_hash,
                                    const std::optional<std::string>& new_hash, std::int64_t now, std::int64_t ttl_s,
                                    std::string client_ip, std::string user_agent);
};

}  // namespace hearth::auth
