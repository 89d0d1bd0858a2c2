// API keys: a SQLite store of their hashes, and a fast in-memory check of presented keys.
// A key is "hk-" + 10 base62 characters (its id, stored and shown) + "." + 40 base62 characters.
// Only HMAC-SHA256(secret, key) is stored; the secret is a 32-byte file beside the database.
// Thread-safety: every method may be called from any thread. verify() takes a shared lock on an
// in-memory copy of the keys, reloaded when another connection (e.g. `hearth keys`) changed them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hearth::auth {

struct KeySpec {
  std::string name;                      // required, 1..64 bytes, no control characters
  std::string role;                      // required; the store does not check role names (the server does)
  std::vector<std::string> models;       // allow-list; empty = every model
  std::vector<std::string> collections;  // allow-list; empty = every collection
  int rpm = 0, tpm = 0;                  // requests / tokens per minute; 0 = no limit of its own
  std::optional<std::int64_t> expires_at;  // unix seconds
};

struct KeyRecord {
  std::string id;  // the visible prefix of the key, e.g. "hk-AbCdEf1234"
  std::string name, role;
  std::vector<std::string> models, collections;
  int rpm = 0, tpm = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at, revoked_at, last_used_at;
};

struct NewKey {
  KeyRecord record;
  std::string key;  // the whole secret, shown once
};

// The id part of a well-formed key ("hk-" + 10 base62), or nullopt; for logs (never log a key).
std::optional<std::string> key_id_of(std::string_view presented);

class KeyStore {
 public:
  // Opens (creating if missing) the SQLite file and the secret file (32 random bytes, mode 0600,
  // written atomically). An existing secret of the wrong size, or readable by group or others, is
  // an error naming the file and the fix.
  static Result<std::unique_ptr<KeyStore>> open(const std::string& db_path, const std::string& secret_path);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  Result<NewKey> create(const KeySpec& spec, std::int64_t now);
  // Every key, oldest first; last_used_at includes uses not yet written to the database.
  Result<std::vector<KeyRecord>> list();
  // Revoking a revoked key keeps its first revoked_at. Unknown id: kNotFound.
  Result<KeyRecord> revoke(const std::string& id, std::int64_t now);
  // Deletes a key's record (data-subject erasure); false when there was none. Other processes
  // stop accepting it at their next reload, as for revoke().
  Result<bool> remove(const std::string& id);
  // A presented key -> its record, if known, not revoked and not expired at `now`; otherwise
  // kUnauthenticated saying which (malformed, unknown, revoked, expired), never echoing the key.
  // The record's last_used_at is as of the last reload.
  Result<KeyRecord> verify(std::string_view presented, std::int64_t now);
  // Records use; writes to the database at most once a minute per key (in memory otherwise).
  void touch(const std::string& id, std::int64_t now);

 private:
  struct Impl;
  explicit KeyStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::auth
