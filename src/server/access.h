// Who is calling and what they may do: permissions, roles, and the principal a request carries.
// Every route declares the permission it requires in the route table (app.cpp); the auth filter
// (auth_filter.cpp) finds the caller's principal and refuses what its role does not permit;
// handlers narrow further with the principal's allow-lists (models, collections).
// Thread-safety: values; a RoleTable is built at start-up and read-only after.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace hearth {

struct Config;
namespace auth {
class CollectionAccessStore;
enum class CollectionRight;
}

enum class Permission : std::uint8_t {
  kPublic,            // anyone, without credentials (/health)
  kModelsRead,        // GET /v1/models
  kInference,         // chat, completions, embeddings, the WebSocket
  kKnowledgeRead,     // list and search collections, documents, sources, jobs
  kKnowledgeWrite,    // create and delete collections, upload and delete documents, sync
  kKnowledgeSources,  // sources that read server paths or fetch URLs (admin)
  kMetricsRead,       // GET /metrics
  kKeysManage,        // API keys (admin)
  kServerRead,        // the route table and its permissions (admin)
  kAuditRead,         // export and verify the audit log (admin)
  kPrivacyManage,     // data-subject export and erasure (admin)
  kUsersManage,       // users and their sessions (admin)
  kAccount,           // one's own sign-in session and conversations (every built-in role)
  kModelsManage,      // load and unload models (admin)
  kCount
};
const char* permission_name(Permission p);
// By name ("inference", ...); nullopt when unknown. "public" is not grantable.
std::optional<Permission> permission_from_name(std::string_view name);

using PermissionSet = std::bitset<static_cast<std::size_t>(Permission::kCount)>;

// Roles -> permissions: the built-in admin (everything), user (models, inference, knowledge read
// and write) and viewer (models, knowledge read), plus or replaced by [auth.roles] entries.
class RoleTable {
 public:
  static Result<RoleTable> build(const std::vector<std::pair<std::string, std::vector<std::string>>>& configured);
  // nullptr when the role is unknown.
  const PermissionSet* find(std::string_view role) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::pair<std::string, PermissionSet>> roles_;
};

struct Principal {
  std::string kind;  // "anonymous" (auth.mode = none), "key", "user" (a sign-in session) or "jwt"
  std::string id;    // the key id; "user:<name>"; "oidc:<subject>"; "anonymous"
  std::string name;  // the key's name, the user's name, the token's name claim
  std::string role;
  PermissionSet permissions;
  std::vector<std::string> models;       // allow-list; empty: every model
  std::vector<std::string> collections;  // allow-list; empty: every collection
  int rpm = 0, tpm = 0;                  // the key's own limits; 0: the configured default
  std::int64_t expires_at = 0;           // a JWT's exp plus the allowed skew (unix seconds); 0: none
  // Collections' owners and access lists (collection_access.h); null: allow-lists alone.
  auth::CollectionAccessStore* acl = nullptr;

  bool may(Permission p) const { return p == Permission::kPublic || permissions.test(static_cast<std::size_t>(p)); }
  // The allow-list, then the collection's access list (knowledge administrators, who hold
  // knowledge.sources, pass the access lists).
  bool may_use_collection(std::string_view collection) const;
  bool may_use_collection(std::string_view collection, auth::CollectionRight right) const;
  // `requested` as the request names it (an id, an alias, a knowledge alias, or empty for the
  // default model): allowed when it or the catalog id it stands for is on the list.
  bool may_use_model(const Config& config, std::string_view requested) const;
  // For messages: "key hk-abc (role viewer)" or "anonymous".
  std::string describe() const;
};

// The principal of auth.mode = none: every permission (the server listens on loopback only).
std::shared_ptr<const Principal> anonymous_admin();

// The error for a refused model or collection, naming it and the caller.
Error model_not_allowed(const Principal& p, std::string_view model);
Error collection_not_allowed(const Principal& p, std::string_view collection);

}  // namespace hearth
