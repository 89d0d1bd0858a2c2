// The audit filter's pure parts: action names from routes, client addresses, and the upload
// formats content rules read.
#include <gtest/gtest.h>

#include "server/audit_filter.h"
#include "server/content_rules.h"

namespace hearth {
namespace {

TEST(AuditAction, FromMethodAndRoute) {
  struct Case {
    const char* method;
    const char* route;
    const char* action;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"POST", "/v1/chat/completions", "chat.completions.create"},
           {"GET", "/v1/models", "models.read"},
           {"DELETE", "/v1/admin/keys/{key}", "admin.keys.delete"},
           {"POST", "/v1/knowledge/collections/{collection}/documents", "knowledge.collections.documents.create"},
           {"PUT", "/v1/knowledge/collections/{collection}/access", "knowledge.collections.access.update"},
           {"WS", "/v1/chat/ws", "chat.ws.session"},
           {"GET", "/health", "health.read"},
           {"PATCH", "/", "update"},
           {"OPTIONS", "/v1/x", "x.other"},
       }) {
    EXPECT_EQ(audit_action(c.method, c.route), c.action) << c.method << " " << c.route;
  }
}

TEST(AuditAction, ClientIpDropsThePort) {
  EXPECT_EQ(client_ip_of("10.0.0.1:5000"), "10.0.0.1");
  EXPECT_EQ(client_ip_of("::1:5000"), "::1");
  EXPECT_EQ(client_ip_of("2001:db8::7:443"), "2001:db8::7");
  EXPECT_EQ(client_ip_of("?"), "?");
}

TEST(ContentRulesUpload, OnlyTextFormatsAreRead) {
  for (const char* name : {"a.txt", "notes.MD", "page.html", "x.csv", "data.jsonl"}) EXPECT_TRUE(upload_is_text(name)) << name;
  for (const char* name : {"a.pdf", "b.docx", "noext", "trailingdot.", ".bashrc2"}) EXPECT_FALSE(upload_is_text(name)) << name;
}

TEST(ContentRulesBuild, NoRulesIsNullAndBadRulesNameTheRule) {
  auto none = ContentRules::build("", nullptr);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  auto bad = ContentRules::build(R"([{"name":"x","kind":"pattern","action":"block","patterns":["(a"]}])", nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("[[safety.rules]]"), std::string::npos) << bad.error().message;
  auto good = ContentRules::build(R"([{"name":"codename","kind":"phrases","action":"redact","phrases":["夜莺计划"]}])", nullptr);
  ASSERT_TRUE(good.ok()) << good.error().message;
  RequestContext ctx;
  std::string text = "关于夜莺计划的问题";
  ASSERT_TRUE((*good)->apply(text, "chat", "messages", ctx).ok());
  EXPECT_EQ(text, "关于[REDACTED:codename]的问题");
  ASSERT_EQ(ctx.filter_hits.size(), 1u);
  EXPECT_EQ(ctx.filter_hits[0], "input:rule:codename:redact");
}

}  // namespace
}  // namespace hearth
