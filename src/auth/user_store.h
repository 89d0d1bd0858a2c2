// Users who sign in with a password, and their sessions: a SQLite store that may share its file
// (and its secret file) with the KeyStore. Tables `users`, `sessions` and `users_meta` (the schema
// version; the KeyStore's `api_keys` and PRAGMA user_version are left alone).
//
// Passwords are stored only as libsodium Argon2id strings (crypto_pwhash_str); a hash made with
// another cost than the store's is replaced on the next successful sign-in. A session token is
// "hs-" + 16 base62 characters (the session id, stored and shown) + "." + 43 base62 characters;
// only HMAC-SHA256(secret file, token) is stored. A session ends at its absolute expiry, after
// SessionPolicy::idle_timeout_s without use, on logout, when its user's password changes or its
// user is disabled or removed.
//
// Names: 1..64 bytes of UTF-8, stored in Unicode NFC; ASCII letters and digits and . _ @ -, or
// non-ASCII letters, combining marks and digits (ICU categories L*, M*, Nd); no spaces, controls
// or invisible characters. Names are unique and looked up by their NFKC case fold, so "Alice",
// "alice" and fullwidth "ａｌｉｃｅ" are one user. A name shaped like a user id is refused.
//
// Failed sign-ins are throttled per name (its case fold) IN MEMORY, per UserStore: after 5
// failures within 15 minutes, login() is refused (kResourceExhausted, retry_after_s) until the
// oldest of those 5 is 15 minutes old, whatever the password. Unknown names are throttled alike
// (so throttling does not reveal which names exist). Not shared between processes and lost on
// restart; the server should also limit sign-ins per client address.
//
// Cost: create(), set_password() and login() compute Argon2id (about 50 ms and 64 MiB at the
// default cost); at most PasswordCost::max_parallel run at once per store, the others wait. Call
// them off any event loop. verify_session() is fast: an HMAC and a lookup in memory.
//
// Thread-safety: every method may be called from any thread. Changes made through another
// connection to the file (another process, another UserStore) are seen by verify_session() within
// SessionPolicy::reload_interval_ms (PRAGMA data_version); other methods read the database.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.h"

namespace hearth::auth {

struct PasswordCost {
  unsigned long long ops = 2;    // crypto_pwhash_OPSLIMIT_INTERACTIVE (checked in user_store.cpp)
  std::size_t mem = 67108864;    // crypto_pwhash_MEMLIMIT_INTERACTIVE, bytes
  unsigned max_parallel = 4;     // Argon2id computations at once per store (1..64)
  // crypto_pwhash_OPSLIMIT_MIN / MEMLIMIT_MIN: fast and weak, for tests only.
  static PasswordCost for_tests();
};

struct SessionPolicy {
  std::int64_t default_ttl_s = 12 * 3600;  // login() with ttl_s <= 0
  std::int64_t max_ttl_s = 30 * 86400;     // a longer ttl_s is refused
  std::int64_t idle_timeout_s = 2 * 3600;  // unused this long = ended; 0 = no idle timeout
  std::int64_t reload_interval_ms = 500;   // how often verify_session() checks for outside changes
  // Ended sessions (expired, or revoked) are deleted this long after they ended (at sign-ins).
  std::int64_t retain_ended_s = 7 * 86400;
};

struct UserSpec {
  std::string name;                      // see above; 1..64 bytes
  std::string role;                      // required, 1..64 bytes, no control characters; not checked here
  std::string password;                  // 10..1024 bytes, not the name
  std::vector<std::string> models;       // allow-list; empty = every model
  std::vector<std::string> collections;  // allow-list; empty = every collection
  int rpm = 0, tpm = 0;                  // requests / tokens per minute; 0 = no limit of its own
};

struct UserRecord {
  std::string id;  // "u-" + 10 base62
  std::string name, role;
  std::vector<std::string> models, collections;
  int rpm = 0, tpm = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> disabled_at, last_login_at, password_changed_at;
};

struct SessionInfo {
  std::string session_id;  // "hs-" + 16 base62: not secret, may be logged and shown
  UserRecord user;
  std::int64_t created_at = 0, expires_at = 0, last_seen_at = 0;
  std::string client_ip, user_agent;  // as given at login (cut to 64 and 512 bytes, controls removed)
  std::optional<std::int64_t> revoked_at;
  std::string revoked_reason;  // "signed out", "revoked" (by id), "password changed", "user disabled"; or empty
};

struct NewSession {
  SessionInfo session;
  std::string token;  // the whole secret, given to the client once (e.g. as a cookie)
};

// The session id of a well-formed token ("hs-" + 16 base62), or nullopt; for logs (never log a token).
std::optional<std::string> session_id_of(std::string_view token);

class UserStore {
 public:
  // Opens (creating if missing) the SQLite file and the secret file, as KeyStore::open does (the
  // same files may be given to both). A cost or policy out of range is kInvalidArgument.
  static Result<std::unique_ptr<UserStore>> open(const std::string& db_path, const std::string& secret_path,
                                                 PasswordCost cost = {}, SessionPolicy policy = {});
  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // A name already taken (by its case fold) is kInvalidArgument with param "name".
  Result<UserRecord> create(const UserSpec& spec, std::int64_t now);
  // Every user, oldest first.
  Result<std::vector<UserRecord>> list();
  // By id ("u-...") or by name (its case fold). Unknown: kNotFound.
  Result<UserRecord> get(const std::string& name_or_id);
  // Checks the policy, stores the new hash and revokes every session of the user.
  Result<UserRecord> set_password(const std::string& name_or_id, const std::string& new_password, std::int64_t now);
  Result<UserRecord> set_role(const std::string& name_or_id, const std::string& role);
  // Disabling a disabled user keeps its first disabled_at. Revokes every session of the user.
  Result<UserRecord> disable(const std::string& name_or_id, std::int64_t now);
  // Lets a disabled user sign in again (its revoked sessions stay revoked).
  Result<UserRecord> enable(const std::string& name_or_id);
  // Deletes the user and all its sessions (erasure of a data subject); returns the rows deleted
  // (1 + its sessions). Its in-memory throttling state is dropped too.
  Result<int> remove(const std::string& name_or_id);

  // Signs in by name. Unknown name and wrong password give the same kUnauthenticated message
  // ("invalid user name or password") after the same work (an unknown name is checked against a
  // dummy hash). A disabled user with the right password: kPermissionDenied. Throttled: see above.
  // ttl_s <= 0: SessionPolicy::default_ttl_s. Records last_login_at; rehashes at a changed cost.
  Result<NewSession> login(const std::string& name, const std::string& password, std::int64_t now,
                           std::int64_t ttl_s, std::string client_ip, std::string user_agent);
  // A presented token -> its session and user, or kUnauthenticated saying why (malformed, unknown,
  // expired, idle, signed out / revoked and why, user disabled), never echoing the token. Records
  // use (last_seen_at), writing it to the database at most once a minute per session.
  Result<SessionInfo> verify_session(std::string_view token, std::int64_t now);
  // Revokes one session, by its token (sign-out) or by its id (an administrator's or the user's
  // "sign out that device": the caller must check who may). Revoking a revoked session keeps its
  // first revocation. Unknown id: kNotFound; a token whose secret does not match: kUnauthenticated.
  Status logout(std::string_view token_or_session_id, std::int64_t now);
  // The user's stored sessions, newest first: all of them (revoked and expired ones too, until
  // deleted), or only those usable at `active_at` when given.
  Result<std::vector<SessionInfo>> sessions_of(const std::string& name_or_id,
                                               std::optional<std::int64_t> active_at = std::nullopt);
  // Everything stored about the person, for a data-subject access request: the user record (never
  // the password hash), every stored session (id, times, client address, user agent; never the
  // token or its HMAC), and the failed sign-ins this process holds in memory for the name.
  Result<nlohmann::json> export_user(const std::string& name_or_id);

  // Whether the stored hash was made with another cost than this store's (for tests and
  // diagnostics; login() rehashes such a hash).
  Result<bool> password_needs_rehash(const std::string& name_or_id);

 private:
  struct Impl;
  explicit UserStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::auth
