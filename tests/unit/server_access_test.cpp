// server/access: permissions, roles, principals and their allow-lists; and the credential a
// request presents (auth_filter.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "models/catalog.h"
#include "server/access.h"
#include "server/auth_filter.h"
#include "server/http_types.h"

using namespace hearth;
using ::testing::HasSubstr;

namespace {

constexpr std::size_t kCount = static_cast<std::size_t>(Permission::kCount);

std::vector<Permission> all_permissions() {
  std::vector<Permission> out;
  for (std::size_t i = 0; i < kCount; ++i) out.push_back(static_cast<Permission>(i));
  return out;
}

bool has(const PermissionSet& s, Permission p) { return s.test(static_cast<std::size_t>(p)); }

using Configured = std::vector<std::pair<std::string, std::vector<std::string>>>;

RoleTable build_ok(const Configured& configured) {
  auto t = RoleTable::build(configured);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  if (!t) return *RoleTable::build({});
  return std::move(t).value();
}

const PermissionSet& role(const RoleTable& t, const std::string& name) {
  static const PermissionSet kNone;
  const PermissionSet* s = t.find(name);
  EXPECT_NE(s, nullptr) << "no role " << name;
  return s ? *s : kNone;
}

}  // namespace

// ---- permissions ----

TEST(AccessPermission, NamesRoundTrip) {
  for (Permission p : all_permissions()) {
    const std::string name = permission_name(p);
    SCOPED_TRACE(name);
    EXPECT_FALSE(name.empty());
    if (p == Permission::kPublic) {
      EXPECT_EQ(name, "public");
      EXPECT_EQ(permission_from_name(name), std::nullopt) << "public is not grantable";
    } else {
      ASSERT_TRUE(permission_from_name(name).has_value());
      EXPECT_EQ(*permission_from_name(name), p);
    }
  }
  EXPECT_EQ(permission_from_name("inference"), Permission::kInference);
  EXPECT_EQ(permission_from_name("knowledge.sources"), Permission::kKnowledgeSources);
  EXPECT_EQ(permission_from_name("Inference"), std::nullopt) << "names are exact";
  EXPECT_EQ(permission_from_name(""), std::nullopt);
  EXPECT_EQ(permission_from_name("*"), std::nullopt);
  EXPECT_EQ(permission_from_name("knowledge"), std::nullopt);
}

TEST(AccessPermission, NamesAreDistinct) {
  std::vector<std::string> names;
  for (Permission p : all_permissions()) names.emplace_back(permission_name(p));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

// ---- roles ----

TEST(AccessRoleTable, BuiltInRoles) {
  const RoleTable t = build_ok({});
  EXPECT_THAT(t.names(), ::testing::UnorderedElementsAre("admin", "user", "viewer"));
  EXPECT_EQ(t.find("nobody"), nullptr);
  EXPECT_EQ(t.find(""), nullptr);
  EXPECT_EQ(t.find("Admin"), nullptr);

  const PermissionSet& admin = role(t, "admin");
  for (Permission p : all_permissions()) {
    EXPECT_EQ(has(admin, p), p != Permission::kPublic) << "admin / " << permission_name(p);
  }

  const PermissionSet& user = role(t, "user");
  for (Permission p : {Permission::kModelsRead, Permission::kInference, Permission::kKnowledgeRead,
                       Permission::kKnowledgeWrite, Permission::kAccount}) {
    EXPECT_TRUE(has(user, p)) << "user / " << permission_name(p);
  }
  for (Permission p : {Permission::kKnowledgeSources, Permission::kKeysManage, Permission::kMetricsRead,
                       Permission::kServerRead, Permission::kAuditRead, Permission::kPrivacyManage,
                       Permission::kUsersManage, Permission::kPublic}) {
    EXPECT_FALSE(has(user, p)) << "user / " << permission_name(p);
  }
  EXPECT_EQ(user.count(), 5u);

  const PermissionSet& viewer = role(t, "viewer");
  EXPECT_TRUE(has(viewer, Permission::kModelsRead));
  EXPECT_TRUE(has(viewer, Permission::kKnowledgeRead));
  EXPECT_TRUE(has(viewer, Permission::kAccount));
  EXPECT_EQ(viewer.count(), 3u) << "viewer has only models.read, knowledge.read and account";
}

TEST(AccessRoleTable, ConfiguredRoleIsAdded) {
  const RoleTable t = build_ok({{"ops", {"metrics.read", "server.read"}}});
  EXPECT_THAT(t.names(), ::testing::UnorderedElementsAre("admin", "user", "viewer", "ops"));
  const PermissionSet& ops = role(t, "ops");
  EXPECT_TRUE(has(ops, Permission::kMetricsRead));
  EXPECT_TRUE(has(ops, Permission::kServerRead));
  EXPECT_EQ(ops.count(), 2u);
  // The built-ins are untouched.
  EXPECT_EQ(role(t, "user").count(), 5u);
  EXPECT_EQ(role(t, "viewer").count(), 3u);
}

TEST(AccessRoleTable, ConfiguredRoleReplacesABuiltIn) {
  const RoleTable t = build_ok({{"viewer", {"inference"}}});
  EXPECT_THAT(t.names(), ::testing::UnorderedElementsAre("admin", "user", "viewer"));
  const PermissionSet& viewer = role(t, "viewer");
  EXPECT_TRUE(has(viewer, Permission::kInference));
  EXPECT_FALSE(has(viewer, Permission::kModelsRead)) << "replaced, not added to";
  EXPECT_FALSE(has(viewer, Permission::kKnowledgeRead));
  EXPECT_EQ(viewer.count(), 1u);

  const RoleTable t2 = build_ok({{"admin", {"models.read"}}});
  EXPECT_EQ(role(t2, "admin").count(), 1u);
}

TEST(AccessRoleTable, EmptyPermissionListMakesARoleWithNothing) {
  const RoleTable t = build_ok({{"locked", {}}});
  EXPECT_TRUE(role(t, "locked").none());
}

TEST(AccessRoleTable, StarGrantsEverything) {
  const RoleTable t = build_ok({{"root", {"*"}}, {"mixed", {"inference", "*"}}});
  for (const char* name : {"root", "mixed"}) {
    const PermissionSet& s = role(t, name);
    for (Permission p : all_permissions()) {
      if (p == Permission::kPublic) continue;
      EXPECT_TRUE(has(s, p)) << name << " / " << permission_name(p);
    }
    EXPECT_EQ(s, role(t, "admin")) << name;
  }
}

TEST(AccessRoleTable, UnknownPermissionIsAnErrorNamingItAndListingTheKnownOnes) {
  auto t = RoleTable::build({{"ops", {"metrics.read", "metrics.write"}}});
  ASSERT_FALSE(t.ok());
  const Error& e = t.error();
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.message, HasSubstr("'metrics.write'"));
  EXPECT_THAT(e.message, HasSubstr("auth.roles.ops"));
  for (Permission p : all_permissions()) {
    if (p == Permission::kPublic) continue;
    EXPECT_THAT(e.message, HasSubstr(permission_name(p)));
  }

  auto pub = RoleTable::build({{"anon", {"public"}}});
  ASSERT_FALSE(pub.ok()) << "public is not grantable";
  EXPECT_THAT(pub.error().message, HasSubstr("'public'"));
}

TEST(AccessRoleTable, RoleNameLength) {
  EXPECT_FALSE(RoleTable::build({{"", {"inference"}}}).ok());
  EXPECT_FALSE(RoleTable::build({{std::string(65, 'r'), {"inference"}}}).ok());
  EXPECT_TRUE(RoleTable::build({{std::string(64, 'r'), {"inference"}}}).ok());
}

// ---- principals ----

TEST(AccessPrincipal, PublicIsAlwaysAllowed) {
  Principal p;
  EXPECT_TRUE(p.permissions.none());
  EXPECT_TRUE(p.may(Permission::kPublic));
  for (Permission perm : all_permissions()) {
    if (perm == Permission::kPublic) continue;
    EXPECT_FALSE(p.may(perm)) << permission_name(perm);
  }
  p.permissions = role(build_ok({}), "viewer");
  EXPECT_TRUE(p.may(Permission::kPublic));
  EXPECT_TRUE(p.may(Permission::kModelsRead));
  EXPECT_TRUE(p.may(Permission::kKnowledgeRead));
  EXPECT_FALSE(p.may(Permission::kInference));
  EXPECT_FALSE(p.may(Permission::kKeysManage));
}

TEST(AccessPrincipal, CollectionAllowList) {
  Principal p;
  EXPECT_TRUE(p.may_use_collection("anything")) << "an empty list allows every collection";
  EXPECT_TRUE(p.may_use_collection(""));
  p.collections = {"docs", "wiki"};
  EXPECT_TRUE(p.may_use_collection("docs"));
  EXPECT_TRUE(p.may_use_collection("wiki"));
  EXPECT_FALSE(p.may_use_collection("secret"));
  EXPECT_FALSE(p.may_use_collection("doc"));
  EXPECT_FALSE(p.may_use_collection("Docs"));
  EXPECT_FALSE(p.may_use_collection(""));
}

namespace {

constexpr const char* kModelsToml = R"toml(
[models]
default = "chat"

[[model]]
id = "qwen"
aliases = ["chat", "small"]
file = "/models/qwen.gguf"

[[model]]
id = "llama"
aliases = ["big"]
file = "llama.gguf"

[[knowledge.alias]]
id = "kb"
model = "small"
collections = ["docs"]

[[knowledge.alias]]
id = "kb-big"
model = "llama"
collections = ["docs"]
)toml";

Config models_config() {
  auto c = parse_config(kModelsToml, "/srv/hearth");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  if (!c) return {};
  return std::move(c).value();
}

Principal with_models(std::vector<std::string> models) {
  Principal p;
  p.kind = "key";
  p.id = "hk-test";
  p.role = "user";
  p.models = std::move(models);
  return p;
}

}  // namespace

TEST(AccessPrincipal, EmptyModelListAllowsEveryModel) {
  const Config c = models_config();
  const Principal p = with_models({});
  for (const char* name : {"qwen", "chat", "small", "llama", "big", "kb", "kb-big", "", "ghost"}) {
    EXPECT_TRUE(p.may_use_model(c, name)) << name;
  }
}

TEST(AccessPrincipal, ListedIdAllowsItsAliases) {
  const Config c = models_config();
  const Principal p = with_models({"qwen"});
  for (const char* name : {"qwen", "chat", "small"}) EXPECT_TRUE(p.may_use_model(c, name)) << name;
  for (const char* name : {"llama", "big"}) EXPECT_FALSE(p.may_use_model(c, name)) << name;
}

TEST(AccessPrincipal, ListedAliasAllowsTheAlias) {
  const Config c = models_config();
  const Principal p = with_models({"big"});
  EXPECT_TRUE(p.may_use_model(c, "big"));
  EXPECT_FALSE(p.may_use_model(c, "qwen"));
  EXPECT_FALSE(p.may_use_model(c, "chat"));
  // Documented: allowed when the name itself or the catalog id it stands for is listed; an alias
  // on the list does not open the id or the model's other aliases.
  EXPECT_FALSE(p.may_use_model(c, "llama"));
  const Principal q = with_models({"chat"});
  EXPECT_TRUE(q.may_use_model(c, "chat"));
  EXPECT_FALSE(q.may_use_model(c, "small"));
}

TEST(AccessPrincipal, DefaultModelFollowsTheList) {
  const Config c = models_config();
  ASSERT_EQ(c.models.default_model, "chat");
  EXPECT_TRUE(with_models({"qwen"}).may_use_model(c, "")) << "the default is an alias of qwen";
  EXPECT_TRUE(with_models({"chat"}).may_use_model(c, ""));
  EXPECT_FALSE(with_models({"llama"}).may_use_model(c, ""));

  Config no_default = c;
  no_default.models.default_model.clear();
  EXPECT_FALSE(with_models({"qwen"}).may_use_model(no_default, ""));
  EXPECT_TRUE(with_models({}).may_use_model(no_default, ""));
}

TEST(AccessPrincipal, KnowledgeAliasFollowsItsModel) {
  const Config c = models_config();
  ASSERT_NE(c.knowledge.find_alias("kb"), nullptr);
  // "kb" names the model by its alias "small".
  EXPECT_TRUE(with_models({"qwen"}).may_use_model(c, "kb")) << "the alias's model's id is listed";
  EXPECT_TRUE(with_models({"small"}).may_use_model(c, "kb")) << "the alias's model name is listed";
  EXPECT_FALSE(with_models({"llama"}).may_use_model(c, "kb"));
  EXPECT_TRUE(with_models({"llama"}).may_use_model(c, "kb-big"));
  EXPECT_FALSE(with_models({"qwen"}).may_use_model(c, "kb-big"));
  EXPECT_TRUE(with_models({"kb"}).may_use_model(c, "kb")) << "the knowledge alias itself is listed";
}

TEST(AccessPrincipal, UnknownModelNamesAreRefused) {
  const Config c = models_config();
  const Principal p = with_models({"qwen"});
  for (const char* name : {"ghost", "Qwen", "qwen ", "kb2"}) EXPECT_FALSE(p.may_use_model(c, name)) << name;
  // A name on the list is allowed as itself even when the catalog does not know it (the request
  // then fails as an unknown model).
  EXPECT_TRUE(with_models({"ghost"}).may_use_model(c, "ghost"));
}

TEST(AccessPrincipal, AnonymousAdminHasEveryPermission) {
  const auto a = anonymous_admin();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, anonymous_admin()) << "one shared value";
  EXPECT_EQ(a->kind, "anonymous");
  EXPECT_EQ(a->role, "admin");
  for (Permission p : all_permissions()) EXPECT_TRUE(a->may(p)) << permission_name(p);
  EXPECT_TRUE(a->models.empty());
  EXPECT_TRUE(a->collections.empty());
  EXPECT_TRUE(a->may_use_model(models_config(), "anything"));
  EXPECT_TRUE(a->may_use_collection("anything"));
  EXPECT_EQ(a->describe(), "anonymous");
}

TEST(AccessPrincipal, Describe) {
  const Principal p = with_models({});
  EXPECT_EQ(p.describe(), "key hk-test (role user)");
}

TEST(AccessPrincipal, RefusalErrorsNameTheModelOrCollection) {
  const Principal p = with_models({"qwen"});
  const Error m = model_not_allowed(p, "llama");
  EXPECT_EQ(m.code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(m.message, HasSubstr("'llama'"));
  EXPECT_THAT(m.message, HasSubstr("hk-test"));
  EXPECT_EQ(m.param, "model");

  const Error d = model_not_allowed(p, "");
  EXPECT_EQ(d.code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(d.message, HasSubstr("the default model"));

  const Error c = collection_not_allowed(p, "secret");
  EXPECT_EQ(c.code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(c.message, HasSubstr("'secret'"));
  EXPECT_THAT(c.message, HasSubstr("hk-test"));
  EXPECT_EQ(c.param, "collection");

  EXPECT_THAT(collection_not_allowed(*anonymous_admin(), "x").message, HasSubstr("anonymous"));
}

// ---- presented_credential ----

namespace {

HttpRequest request_with(std::vector<std::pair<std::string, std::string>> headers) {
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/v1/models";
  for (auto& [k, v] : headers) r.headers[k] = v;
  return r;
}

}  // namespace

TEST(AccessCredential, BearerToken) {
  EXPECT_EQ(presented_credential(request_with({{"authorization", "Bearer abc"}})), "abc");
  EXPECT_EQ(presented_credential(request_with({{"authorization", "bearer   abc  "}})), "abc");
  EXPECT_EQ(presented_credential(request_with({{"authorization", "BEARER hk-1.secret"}})), "hk-1.secret");
}

TEST(AccessCredential, BearerWinsOverXApiKey) {
  EXPECT_EQ(presented_credential(request_with({{"authorization", "Bearer abc"}, {"x-api-key", "def"}})), "abc");
}

TEST(AccessCredential, OtherSchemesAreNotCredentials) {
  EXPECT_EQ(presented_credential(request_with({{"authorization", "Basic xyz"}})), "");
  EXPECT_EQ(presented_credential(request_with({{"authorization", "Basic xyz"}, {"x-api-key", "k1"}})), "k1");
  EXPECT_EQ(presented_credential(request_with({{"authorization", "Bearerabc"}})), "");
}

TEST(AccessCredential, XApiKeyAlone) {
  EXPECT_EQ(presented_credential(request_with({{"x-api-key", "hk-2.secret"}})), "hk-2.secret");
}

TEST(AccessCredential, NoHeaders) {
  EXPECT_EQ(presented_credential(request_with({})), "");
  EXPECT_EQ(presented_credential(request_with({{"content-type", "application/json"}})), "");
}
