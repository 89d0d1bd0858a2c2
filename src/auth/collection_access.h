// Knowledge collections' owners and access lists. A collection made by a caller who is not a
// knowledge administrator (a key, a user, a JWT subject) is owned by them; the owner lets others read it (readers) or also change
// it (writers). Entries are principal ids ("hk-...", "user:alice", "oidc:sub"), "role:<name>" for
// everyone of a role, or "*" for everyone whose role permits knowledge at all. A collection with no
// entry here (made before owners existed, or with auth.mode = none) is governed by roles and
// allow-lists alone. Knowledge administrators (the knowledge.sources permission) pass every check.
//
// Stored in the auth database (table collection_access) and held in memory; changes made by
// another process are seen within half a second (PRAGMA data_version).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hearth::auth {

struct CollectionAccess {
  std::string collection;
  std::string owner;                          // a principal id; the pseudonym forget() gives ("erased")
  std::vector<std::string> readers, writers;  // principal ids, "role:<name>", "*"
  std::int64_t updated_at = 0;
};

enum class CollectionRight { kRead, kWrite, kManage };

// Entries must be non-empty, at most 256 bytes, without control characters; at most 1,000 per list.
Status check_access_lists(const CollectionAccess& access);

class CollectionAccessStore {
 public:
  static Result<std::unique_ptr<CollectionAccessStore>> open(const std::string& db_path);
  ~CollectionAccessStore();
  CollectionAccessStore(const CollectionAccessStore&) = delete;
  CollectionAccessStore& operator=(const CollectionAccessStore&) = delete;

  std::optional<CollectionAccess> get(std::string_view collection);
  Status put(const CollectionAccess& access);  // insert or replace
  Status remove(std::string_view collection);
  // No entry: true. Owner: everything. Writers: read and write. Readers: read. Manage: owner only.
  bool allows(std::string_view collection, std::string_view principal, std::string_view role, CollectionRight right);
  // The entries that name `principal` (as owner or on a list), for a data-subject export.
  std::vector<CollectionAccess> mentioning(std::string_view principal);
  // Erasure: `principal` leaves every list; collections it owns get `pseudonym` as owner (they stay
  // private to their readers and writers, and knowledge administrators). Returns entries changed.
  Result<int> forget(std::string_view principal, const std::string& pseudonym);

 private:
  struct Impl;
  explicit CollectionAccessStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::auth
