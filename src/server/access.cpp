#include "server/access.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "auth/collection_access.h"
#include "models/catalog.h"

namespace hearth {
namespace {

constexpr std::array<const char*, static_cast<std::size_t>(Permission::kCount)> kNames = {
    "public", "models.read", "inference", "knowledge.read", "knowledge.write", "knowledge.sources",
    "metrics.read", "keys.manage", "server.read", "audit.read", "privacy.manage", "users.manage", "account",
    "models.manage"};

PermissionSet set_of(std::initializer_list<Permission> ps) {
  PermissionSet s;
  for (Permission p : ps) s.set(static_cast<std::size_t>(p));
  return s;
}

}  // namespace

const char* permission_name(Permission p) { return kNames[static_cast<std::size_t>(p)]; }

std::optional<Permission> permission_from_name(std::string_view name) {
  for (std::size_t i = 1; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<Permission>(i);
  }
  return std::nullopt;
}

Result<RoleTable> RoleTable::build(const std::vector<std::pair<std::string, std::vector<std::string>>>& configured) {
  RoleTable t;
  PermissionSet all;
  all.set();
  all.reset(static_cast<std::size_t>(Permission::kPublic));
  t.roles_ = {
      {"admin", all},
      {"user", set_of({Permission::kModelsRead, Permission::kInference, Permission::kKnowledgeRead,
                       Permission::kKnowledgeWrite, Permission::kAccount})},
      {"viewer", set_of({Permission::kModelsRead, Permission::kKnowledgeRead, Permission::kAccount})},
  };
  for (const auto& [name, perms] : configured) {
    if (name.empty() || name.size() > 64) return invalid_argument("auth.roles: a role name must be 1..64 characters");
    PermissionSet s;
    for (const auto& p : perms) {
      if (p == "*") {
        s = all;
        continue;
      }
      auto perm = permission_from_name(p);
      if (!perm) {
        std::string known;
        for (std::size_t i = 1; i < kNames.size(); ++i) known += (i > 1 ? ", " : "") + std::string(kNames[i]);
        return invalid_argument(fmt::format("auth.roles.{}: unknown permission '{}' (known: {}, or \"*\")", name, p, known),
                                "roles");
      }
      s.set(static_cast<std::size_t>(*perm));
    }
    auto it = std::find_if(t.roles_.begin(), t.roles_.end(), [&](const auto& r) { return r.first == name; });
    if (it != t.roles_.end()) it->second = s;
    else t.roles_.emplace_back(name, s);
  }
  return t;
}

const PermissionSet* RoleTable::find(std::string_view role) const {
  for (const auto& [name, perms] : roles_) {
    if (name == role) return &perms;
  }
  return nullptr;
}

std::vector<std::string> RoleTable::names() const {
  std::vector<std::string> out;
  for (const auto& r : roles_) out.push_back(r.first);
  return out;
}

bool Principal::may_use_collection(std::string_view collection) const {
  return may_use_collection(collection, auth::CollectionRight::kRead);
}

bool Principal::may_use_collection(std::string_view collection, auth::CollectionRight right) const {
  if (!collections.empty() && std::find(collections.begin(), collections.end(), collection) == collections.end()) {
    return false;
  }
  if (!acl || may(Permission::kKnowledgeSources)) return true;
  return acl->allows(collection, id, role, right);
}

bool Principal::may_use_model(const Config& config, std::string_view requested) const {
  if (models.empty()) return true;
  auto listed = [&](std::string_view n) { return std::find(models.begin(), models.end(), n) != models.end(); };
  const std::string_view name = requested.empty() ? std::string_view(config.models.default_model) : requested;
  if (listed(name)) return true;
  if (const ModelEntry* e = config.find(name)) return listed(e->id);
  if (const KnowledgeAlias* a = config.knowledge.find_alias(name)) {  // its collections are checked on their own
    const ModelEntry* e = config.find(a->model);
    return listed(a->model) || (e && listed(e->id));
  }
  return false;
}

std::string Principal::describe() const {
  if (kind == "anonymous") return "anonymous";
  if (kind == "key") return fmt::format("key {} (role {})", id, role);
  return fmt::format("{} (role {})", id, role);
}

std::shared_ptr<const Principal> anonymous_admin() {
  static const auto p = [] {
    auto a = std::make_shared<Principal>();
    a->kind = "anonymous";
    a->id = "anonymous";
    a->name = "anonymous";
    a->role = "admin";
    a->permissions.set();
    return a;
  }();
  return p;
}

Error model_not_allowed(const Principal& p, std::string_view model) {
  return {ErrorCode::kPermissionDenied,
          fmt::format("{} may not use model '{}'", p.describe(), model.empty() ? "(the default model)" : model), "model"};
}

Error collection_not_allowed(const Principal& p, std::string_view collection) {
  return {ErrorCode::kPermissionDenied, fmt::format("{} may not use collection '{}'", p.describe(), collection),
          "collection"};
}

}  // namespace hearth
