// parse_config's [tls] table and the [server] connection limits (issue 24: TLS, limits).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "models/catalog.h"

using namespace hearth;
using ::testing::HasSubstr;

namespace {

constexpr const char* kBase = "/srv/hearth/config";

Config tls_parse_ok(const std::string& text) {
  auto c = parse_config(text, kBase);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  if (!c) return {};
  return std::move(c).value();
}

Error tls_parse_err(const std::string& text) {
  auto c = parse_config(text, kBase);
  EXPECT_FALSE(c.ok()) << "config was accepted:\n" << text;
  if (c) return {};
  return c.take_error();
}

}  // namespace

TEST(CatalogTls, OffByDefault) {
  const Config c = tls_parse_ok("");
  EXPECT_FALSE(c.tls.enabled());
  EXPECT_EQ(c.tls.cert_file, "");
  EXPECT_EQ(c.tls.key_file, "");
  EXPECT_EQ(c.tls.client_ca_file, "");
  EXPECT_EQ(c.tls.hsts_seconds, 31536000);
  EXPECT_FALSE(tls_parse_ok("[tls]\n").tls.enabled());
  EXPECT_FALSE(tls_parse_ok("[tls]\nhsts_seconds = 0\n").tls.enabled());
}

TEST(CatalogTls, PathsResolveAgainstTheConfigDirectory) {
  const Config c = tls_parse_ok(
      "[tls]\ncert_file = \"tls/cert.pem\"\nkey_file = \"../secrets/key.pem\"\nclient_ca_file = \"/etc/ca.pem\"\n"
      "hsts_seconds = 600\n");
  EXPECT_TRUE(c.tls.enabled());
  EXPECT_EQ(c.tls.cert_file, "/srv/hearth/config/tls/cert.pem");
  EXPECT_EQ(c.tls.key_file, "/srv/hearth/secrets/key.pem");
  EXPECT_EQ(c.tls.client_ca_file, "/etc/ca.pem");
  EXPECT_EQ(c.tls.hsts_seconds, 600);
  EXPECT_EQ(tls_parse_ok("[tls]\ncert_file = \"c\"\nkey_file = \"k\"\n").tls.client_ca_file, "");
}

TEST(CatalogTls, CertAndKeyGoTogether) {
  for (const char* text : {"[tls]\ncert_file = \"c.pem\"\n", "[tls]\nkey_file = \"k.pem\"\n",
                           "[tls]\ncert_file = \"c.pem\"\nkey_file = \"\"\n"}) {
    SCOPED_TRACE(text);
    const Error e = tls_parse_err(text);
    EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.message, HasSubstr("tls.cert_file and tls.key_file go together"));
  }
  EXPECT_EQ(tls_parse_err("[tls]\ncert_file = \"c.pem\"\n").param, "key_file");
  EXPECT_EQ(tls_parse_err("[tls]\nkey_file = \"k.pem\"\n").param, "cert_file");
  const Error ca = tls_parse_err("[tls]\nclient_ca_file = \"ca.pem\"\n");
  EXPECT_THAT(ca.message, HasSubstr("tls.client_ca_file needs tls.cert_file and tls.key_file"));
  EXPECT_EQ(ca.param, "client_ca_file");
}

TEST(CatalogTls, BadValuesAndUnknownKeysAreNamed) {
  const Error unknown = tls_parse_err("[tls]\ncert_file = \"c\"\nkey_file = \"k\"\nciphers = \"ALL\"\n");
  EXPECT_THAT(unknown.message, HasSubstr("unknown key tls.ciphers"));
  EXPECT_EQ(unknown.param, "ciphers");
  const Error neg = tls_parse_err("[tls]\nhsts_seconds = -1\n");
  EXPECT_THAT(neg.message, HasSubstr("tls.hsts_seconds must not be negative"));
  EXPECT_EQ(neg.param, "hsts_seconds");
  EXPECT_THAT(tls_parse_err("[tls]\ncert_file = 1\nkey_file = \"k\"\n").message,
              HasSubstr("tls.cert_file has the wrong type"));
  EXPECT_THAT(tls_parse_err("[tls]\nhsts_seconds = \"1y\"\n").message, HasSubstr("tls.hsts_seconds has the wrong type"));
  EXPECT_THAT(tls_parse_err("tls = \"on\"\n").message, HasSubstr("[tls] must be a table"));
  EXPECT_THAT(tls_parse_err("[tls]\nhsts_seconds = 99999999999\n").message, HasSubstr("out of range"));
}

TEST(CatalogLimits, Defaults) {
  const Config c = tls_parse_ok("[server]\nport = 1\n");
  EXPECT_EQ(c.server.max_connections, 4096);
  EXPECT_EQ(c.server.max_connections_per_ip, 256);
  EXPECT_EQ(c.server.header_timeout_seconds, 10);
  EXPECT_EQ(c.server.body_timeout_seconds, 60);
  EXPECT_EQ(c.server.request_timeout_seconds, 600);
  EXPECT_EQ(tls_parse_ok("").server.max_connections, 4096);
}

TEST(CatalogLimits, Parsed) {
  const Config c = tls_parse_ok(
      "[server]\nmax_connections = 10000\nmax_connections_per_ip = 5\nheader_timeout_seconds = 2\n"
      "body_timeout_seconds = 30\n");
  EXPECT_EQ(c.server.max_connections, 10000);
  EXPECT_EQ(c.server.max_connections_per_ip, 5);
  EXPECT_EQ(c.server.header_timeout_seconds, 2);
  EXPECT_EQ(c.server.body_timeout_seconds, 30);
}

TEST(CatalogLimits, BadValuesAreNamed) {
  for (const char* key : {"max_connections", "max_connections_per_ip", "header_timeout_seconds", "body_timeout_seconds"}) {
    SCOPED_TRACE(key);
    for (const char* value : {"0", "-3"}) {
      const Error e = tls_parse_err(std::string("[server]\n") + key + " = " + value + "\n");
      EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
      EXPECT_THAT(e.message, HasSubstr(std::string("server.") + key + " must be at least 1"));
      EXPECT_EQ(e.param, key);
    }
    EXPECT_THAT(tls_parse_err(std::string("[server]\n") + key + " = \"many\"\n").message,
                HasSubstr(std::string("server.") + key + " has the wrong type"));
  }
  const Error unknown = tls_parse_err("[server]\nidle_timeout_seconds = 5\n");
  EXPECT_THAT(unknown.message, HasSubstr("unknown key server.idle_timeout_seconds"));
}
