// The security sections of the config (catalog_security.cpp): [auth] modes and [auth.jwt],
// sessions, [audit], [[safety.rules]] and [safety.key.<id>].
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "models/catalog.h"

namespace hearth {
namespace {

Config parse_ok(const std::string& text) {
  auto c = parse_config(text, "/srv/hearth/conf");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? std::move(*c) : Config{};
}

Error parse_err(const std::string& text) {
  auto c = parse_config(text, "/srv/hearth/conf");
  EXPECT_FALSE(c.ok());
  return c.ok() ? Error{} : c.error();
}

const char* kJwt =
    "[auth.jwt]\nissuers = [\"https://idp.example\"]\naudiences = [\"hearth\"]\njwks_file = \"jwks.json\"\n"
    "role_claim = \"realm_access.roles\"\ndefault_role = \"viewer\"\n"
    "[auth.jwt.role_map]\n\"hearth-admins\" = \"admin\"\n\"staff\" = \"user\"\n";

TEST(CatalogSecurity, JwtModesNeedTheirTable) {
  for (const char* mode : {"jwt", "keys+jwt", "both"}) {
    SCOPED_TRACE(mode);
    const Error e = parse_err(std::string("[auth]\nmode = \"") + mode + "\"\n");
    EXPECT_THAT(e.message, ::testing::HasSubstr("[auth.jwt]"));
    const Config c = parse_ok(std::string("[auth]\nmode = \"") + mode + "\"\n" + kJwt);
    EXPECT_TRUE(c.auth.jwt());
    EXPECT_EQ(c.auth.keys(), std::string(mode) != "jwt");
  }
}

TEST(CatalogSecurity, JwtSettingsAreRead) {
  const Config c = parse_ok(std::string("[auth]\nmode = \"jwt\"\n") + kJwt);
  const JwtSettings& j = c.auth.jwt_settings;
  EXPECT_EQ(j.issuers, std::vector<std::string>{"https://idp.example"});
  EXPECT_EQ(j.audiences, std::vector<std::string>{"hearth"});
  EXPECT_EQ(j.jwks_file, "/srv/hearth/conf/jwks.json");
  EXPECT_EQ(j.role_claim, "realm_access.roles");
  EXPECT_EQ(j.default_role, "viewer");
  ASSERT_EQ(j.role_map.size(), 2u);
  EXPECT_EQ(j.clock_skew_seconds, 60);
}

TEST(CatalogSecurity, JwtErrorsNameTheKey) {
  struct Case {
    std::string toml, needle;
  };
  const std::vector<Case> cases = {
      {"[auth.jwt]\naudiences = [\"a\"]\njwks_file = \"j\"\n", "auth.jwt.issuers is required"},
      {"[auth.jwt]\nissuers = [\"i\"]\njwks_file = \"j\"\n", "auth.jwt.audiences is required"},
      {"[auth.jwt]\nissuers = [\"i\"]\naudiences = [\"a\"]\n", "exactly one of jwks_file and jwks_url"},
      {"[auth.jwt]\nissuers = [\"i\"]\naudiences = [\"a\"]\njwks_file = \"j\"\njwks_url = \"https://x/\"\n",
       "exactly one of jwks_file and jwks_url"},
      {"[auth.jwt]\nissuers = [\"i\"]\naudiences = [\"a\"]\njwks_url = \"file:///etc/passwd\"\n", "http(s) URL"},
      {"[auth.jwt]\nissuers = [\"i\"]\naudiences = [\"a\"]\njwks_file = \"j\"\nclock_skew_seconds = -1\n", "0..600"},
      {"[auth.jwt]\nissuers = [\"i\"]\naudiences = [\"a\"]\njwks_file = \"j\"\nrole_map = 1\n", "role_map"},
      {"[auth.jwt]\nissuers = [\"i\"]\naudiences = [\"a\"]\njwks_file = \"j\"\nalg = \"none\"\n", "unknown key auth.jwt.alg"},
      {"[auth]\nsession_ttl_seconds = 5\n", "at least 60"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.toml);
    EXPECT_THAT(parse_err(c.toml).message, ::testing::HasSubstr(c.needle));
  }
}

TEST(CatalogSecurity, AuditDefaultsAndSettings) {
  const Config d = parse_ok("");
  EXPECT_TRUE(d.audit.enabled);
  EXPECT_EQ(d.audit.db, "/srv/hearth/data/audit.sqlite");
  EXPECT_EQ(d.audit.retention_days, 365);
  EXPECT_FALSE(d.audit.record_content);
  const Config c = parse_ok("[audit]\nenabled = false\ndb = \"a.db\"\nretention_days = 30\nrecord_content = true\n");
  EXPECT_FALSE(c.audit.enabled);
  EXPECT_EQ(c.audit.db, "/srv/hearth/conf/a.db");
  EXPECT_EQ(c.audit.retention_days, 30);
  EXPECT_TRUE(c.audit.record_content);
  EXPECT_THAT(parse_err("[audit]\nretention_days = -1\n").message, ::testing::HasSubstr("audit.retention_days"));
  EXPECT_THAT(parse_err("[audit]\nkeep = 1\n").message, ::testing::HasSubstr("unknown key audit.keep"));
}

TEST(CatalogSecurity, SafetyRulesBecomeJsonAndKeysHavePolicies) {
  const Config c = parse_ok(
      "[[safety.rules]]\nname = \"no-secrets\"\nkind = \"phrases\"\naction = \"block\"\nphrases = [\"机密\", \"top secret\"]\n"
      "[safety.key.\"hk-AbCdEf1234\"]\noutput = { cn_mobile = \"mask\" }\n");
  EXPECT_THAT(c.safety.rules_json, ::testing::HasSubstr("\"no-secrets\""));
  EXPECT_THAT(c.safety.rules_json, ::testing::HasSubstr("top secret"));
  ASSERT_EQ(c.safety.keys.size(), 1u);
  EXPECT_EQ(c.safety.keys[0].first, "hk-AbCdEf1234");
  EXPECT_THAT(parse_err("[safety]\nrules = 1\n").message, ::testing::HasSubstr("safety.rules must be an array"));
}

}  // namespace
}  // namespace hearth
