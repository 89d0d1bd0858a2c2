// JWT verification (auth/jwt.h): tokens signed at runtime with freshly generated RSA 2048 and
// EC P-256 keys (no key files), a table of accepted and refused tokens, role mapping, JWKS
// parsing, and the key-set cache's rotation, rate limit and keep-last-good behaviour.
#include "auth/jwt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::auth {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::int64_t kNow = 1'800'000'000;
constexpr const char* kIssuer = "https://idp.example.com/realms/hearth";

// ---- signing helpers (the library only verifies) ----

using Pkey = std::shared_ptr<EVP_PKEY>;

Pkey keygen(const char* type, int rsa_bits) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr),
                                                                  EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  const bool ok = ctx && EVP_PKEY_keygen_init(ctx.get()) == 1 &&
                  (rsa_bits > 0 ? EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), rsa_bits)
                                : EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256")) == 1 &&
                  EVP_PKEY_keygen(ctx.get(), &key) == 1;
  EXPECT_TRUE(ok) << "keygen " << type;
  return Pkey(key, EVP_PKEY_free);
}
Pkey rsa_key(int bits = 2048) { return keygen("RSA", bits); }
Pkey ec_key() { return keygen("EC", 0); }

std::string b64url(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63u];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63u];
  return out;
}

std::string bn_bytes(EVP_PKEY* key, const char* param, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, param, &bn), 1) << param;
  std::string out(static_cast<std::size_t>(pad > 0 ? pad : BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

json rsa_jwk(const Pkey& key, const std::string& kid) {
  json j = {{"kty", "RSA"}, {"use", "sig"}, {"alg", "RS256"}, {"n", b64url(bn_bytes(key.get(), OSSL_PKEY_PARAM_RSA_N))},
            {"e", b64url(bn_bytes(key.get(), OSSL_PKEY_PARAM_RSA_E))}};
  if (!kid.empty()) j["kid"] = kid;
  return j;
}

json ec_jwk(const Pkey& key, const std::string& kid) {
  json j = {{"kty", "EC"}, {"crv", "P-256"}, {"x", b64url(bn_bytes(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32))},
            {"y", b64url(bn_bytes(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  if (!kid.empty()) j["kid"] = kid;
  return j;
}

std::string jwks_text(std::vector<json> keys) { return json{{"keys", std::move(keys)}}.dump(); }

Jwks jwks_of(std::vector<json> keys) {
  auto set = Jwks::parse(jwks_text(std::move(keys)));
  EXPECT_TRUE(set.ok()) << set.error().message;
  return std::move(set).value();
}

std::string der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string raw(64, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

// RS256 (PKCS#1 v1.5) or ES256 (raw r || s unless `der`) over `input`.
std::string sign(const Pkey& key, std::string_view input, bool der = false) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()), 1);
  EXPECT_EQ(EVP_DigestSign(md.get(), nullptr, &len, in, input.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()), 1);
  sig.resize(len);
  return EVP_PKEY_is_a(key.get(), "EC") && !der ? der_to_raw(sig) : sig;
}

std::string hs256(std::string_view secret, std::string_view input) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return {reinterpret_cast<const char*>(mac), len};
}

std::string public_der(const Pkey& key) {
  unsigned char* p = nullptr;
  const int len = i2d_PUBKEY(key.get(), &p);
  std::string out(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
  OPENSSL_free(p);
  return out;
}

std::string public_pem(const Pkey& key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

std::string signing_input(const json& header, const json& payload) {
  return b64url(header.dump()) + "." + b64url(payload.dump());
}

std::string token(const json& header, const json& payload, const Pkey& key) {
  const std::string input = signing_input(header, payload);
  return input + "." + b64url(sign(key, input));
}

// ---- fixture: keys generated once ----

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_a_ = new Pkey(rsa_key());
    rsa_b_ = new Pkey(rsa_key());
    ec_a_ = new Pkey(ec_key());
    ec_b_ = new Pkey(ec_key());
  }
  static void TearDownTestSuite() {
    for (Pkey** k : {&rsa_a_, &rsa_b_, &ec_a_, &ec_b_}) {
      delete *k;
      *k = nullptr;
    }
  }
  static const Pkey& rsa_a() { return *rsa_a_; }
  static const Pkey& rsa_b() { return *rsa_b_; }
  static const Pkey& ec_a() { return *ec_a_; }
  static const Pkey& ec_b() { return *ec_b_; }

  static JwtConfig config() {
    JwtConfig cfg;
    cfg.issuers = {"https://other.example.com", kIssuer};
    cfg.audiences = {"hearth"};
    cfg.role_map = {{"hearth-admins", "admin"}, {"hearth-users", "user"}};
    return cfg;
  }
  static json claims() {
    return {{"iss", kIssuer}, {"aud", "hearth"}, {"sub", "user-123"}, {"exp", kNow + 300}, {"iat", kNow - 10},
            {"preferred_username", "alice"}, {"roles", {"hearth-users"}}};
  }
  static json rs_header(const std::string& kid = "rsa-a") { return {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", kid}}; }
  static json es_header(const std::string& kid = "ec-a") { return {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", kid}}; }
  // rsa-a (RSA) and ec-a (EC).
  static Jwks keys() { return jwks_of({rsa_jwk(rsa_a(), "rsa-a"), ec_jwk(ec_a(), "ec-a")}); }

 private:
  static inline Pkey *rsa_a_ = nullptr, *rsa_b_ = nullptr, *ec_a_ = nullptr, *ec_b_ = nullptr;
};

// ---- the table ----

struct Case {
  const char* name;
  std::function<std::string()> make;  // the token
  const char* error;                  // nullptr: accepted; else a part of the kUnauthenticated message
};

std::string replace_segment(const std::string& tok, int index, const std::string& with) {
  std::vector<std::string> parts(1);
  for (const char c : tok) {
    if (c == '.') parts.emplace_back();
    else parts.back() += c;
  }
  parts[static_cast<std::size_t>(index)] = with;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

// Each case's token against `set` and `cfg` at kNow; refusals must be kUnauthenticated.
void check_cases(const std::vector<Case>& cases, const Jwks& set, const JwtConfig& cfg) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string tok = c.make();
    const auto r = verify_jwt(tok, set, cfg, kNow);
    if (c.error == nullptr) {
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(r->subject, "user-123");
      continue;
    }
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_THAT(r.error().message, HasSubstr(c.error));
    if (tok.size() > 40) {  // never echoes the token or a segment of it
      EXPECT_EQ(r.error().message.find(tok.substr(0, 40)), std::string::npos);
      EXPECT_LT(r.error().message.size(), 200u);
    }
    EXPECT_EQ(is_unknown_kid(r.error()), std::string_view(c.name) == "unknown kid");
  }
}

TEST_F(JwtTest, ClaimsTable) {
  auto with = [](std::function<void(json&)> edit) {
    json c = claims();
    edit(c);
    return token(rs_header(), c, rsa_a());
  };
  const std::vector<Case> cases = {
      {"valid RS256", [] { return token(rs_header(), claims(), rsa_a()); }, nullptr},
      {"expired", [&] { return with([](json& c) { c["exp"] = kNow - 61; }); },
       "token expired at 2027-01-15T07:58:59Z (now 2027-01-15T08:00:00Z"},
      {"expired at exactly now - skew", [&] { return with([](json& c) { c["exp"] = kNow - 60; }); }, "token expired"},
      {"expired within skew", [&] { return with([](json& c) { c["exp"] = kNow - 30; }); }, nullptr},
      {"exp as decimal", [&] { return with([](json& c) { c["exp"] = kNow + 10.5; }); }, nullptr},
      {"exp huge", [&] { return with([](json& c) { c["exp"] = 1e300; }); }, nullptr},
      {"no exp", [&] { return with([](json& c) { c.erase("exp"); }); }, "no exp claim"},
      {"exp as string", [&] { return with([](json& c) { c["exp"] = std::to_string(kNow + 300); }); },
       "exp claim is not a number"},
      {"nbf in the future", [&] { return with([](json& c) { c["nbf"] = kNow + 120; }); }, "not valid before"},
      {"nbf within skew", [&] { return with([](json& c) { c["nbf"] = kNow + 30; }); }, nullptr},
      {"iat in the future", [&] { return with([](json& c) { c["iat"] = kNow + 600; }); }, "issued in the future"},
      {"wrong issuer", [&] { return with([](json& c) { c["iss"] = "https://evil.example.com"; }); },
       "issuer \"https://evil.example.com\" is not accepted"},
      {"no issuer", [&] { return with([](json& c) { c.erase("iss"); }); }, "no iss claim"},
      {"wrong audience", [&] { return with([](json& c) { c["aud"] = "other"; }); },
       "audience \"other\" is not accepted"},
      {"aud array with ours", [&] { return with([](json& c) { c["aud"] = {"account", "hearth"}; }); }, nullptr},
      {"aud array without ours", [&] { return with([](json& c) { c["aud"] = {"account", "x"}; }); },
       "audience \"account\", \"x\" is not accepted"},
      {"aud a number", [&] { return with([](json& c) { c["aud"] = 7; }); }, "aud claim is not a string"},
      {"no sub", [&] { return with([](json& c) { c.erase("sub"); }); }, "no \"sub\" claim"},
      {"empty sub", [&] { return with([](json& c) { c["sub"] = ""; }); }, "not a non-empty string"},
      {"non-string sub", [&] { return with([](json& c) { c["sub"] = 42; }); }, "not a non-empty string"},
      {"payload an array", [] { return token(rs_header(), json::array({1, 2}), rsa_a()); },
       "malformed token: the payload is not a JSON object"},
      {"huge token", [&] { return with([](json& c) { c["pad"] = std::string(kMaxJwtBytes, 'x'); }); },
       "token is too large"},
  };
  check_cases(cases, keys(), config());
}

TEST_F(JwtTest, SignatureKeyAndAlgTable) {
  const std::vector<Case> cases = {
      {"valid ES256", [] { return token(es_header(), claims(), ec_a()); }, nullptr},
      {"no kid, one RSA key", [] { return token({{"alg", "RS256"}}, claims(), rsa_a()); }, nullptr},
      {"signed by another key with the same kid", [] { return token(rs_header(), claims(), rsa_b()); },
       "signature is invalid"},
      {"ES256 signed by another key", [] { return token(es_header(), claims(), ec_b()); }, "signature is invalid"},
      {"tampered payload",
       [] {
         json c = claims();
         c["sub"] = "admin";
         return replace_segment(token(rs_header(), claims(), rsa_a()), 1, b64url(c.dump()));
       },
       "signature is invalid"},
      {"alg none, empty signature", [] { return b64url(R"({"alg":"none"})") + "." + b64url(claims().dump()) + "."; },
       "alg \"none\" is not accepted"},
      {"HS256 MACed with the RSA public key PEM",
       [] {
         const std::string in = signing_input({{"alg", "HS256"}, {"kid", "rsa-a"}}, claims());
         return in + "." + b64url(hs256(public_pem(rsa_a()), in));
       },
       "alg \"HS256\" is not accepted"},
      {"HS256 MACed with the RSA public key DER",
       [] {
         const std::string in = signing_input({{"alg", "HS256"}}, claims());
         return in + "." + b64url(hs256(public_der(rsa_a()), in));
       },
       "alg \"HS256\" is not accepted"},
      {"RS512", [] { return token({{"alg", "RS512"}, {"kid", "rsa-a"}}, claims(), rsa_a()); },
       "alg \"RS512\" is not accepted"},
      {"alg not a string", [] { return token({{"alg", 256}}, claims(), rsa_a()); }, "alg is not a string"},
      {"no alg", [] { return token({{"kid", "rsa-a"}}, claims(), rsa_a()); }, "header has no alg"},
      {"RS256 with the kid of an EC key", [] { return token(rs_header("ec-a"), claims(), rsa_a()); },
       "key \"ec-a\" is an EC key, but alg RS256 needs an RSA key"},
      {"ES256 with the kid of an RSA key", [] { return token(es_header("rsa-a"), claims(), ec_a()); },
       "key \"rsa-a\" is an RSA key, but alg ES256 needs an EC key"},
      {"unknown kid", [] { return token(rs_header("rsa-z"), claims(), rsa_a()); }, "unknown key id \"rsa-z\""},
      {"kid not a string", [] { return token({{"alg", "RS256"}, {"kid", 1}}, claims(), rsa_a()); },
       "kid is not a string"},
      {"crit header", [] { return token({{"alg", "RS256"}, {"crit", {"exp"}}, {"exp", 1}}, claims(), rsa_a()); },
       "crit"},
      {"ES256 signature in DER",
       [] {
         const std::string in = signing_input(es_header(), claims());
         return in + "." + b64url(sign(ec_a(), in, /*der=*/true));
       },
       "an ES256 signature is 64 bytes"},
      {"RS256 signature one byte short",
       [] {
         const std::string in = signing_input(rs_header(), claims());
         return in + "." + b64url(sign(rsa_a(), in).substr(1));
       },
       "an RS256 signature for this key is 256 bytes, not 255"},
  };
  check_cases(cases, keys(), config());
}

TEST_F(JwtTest, MalformedTable) {
  const std::vector<Case> cases = {
      {"empty", [] { return std::string(); }, "malformed token: empty"},
      {"two segments",
       [] {
         const std::string t = token(rs_header(), claims(), rsa_a());
         return t.substr(0, t.rfind('.'));
       },
       "expected 3 dot-separated segments, found 2"},
      {"four segments", [] { return token(rs_header(), claims(), rsa_a()) + ".e30"; }, "found 4"},
      {"bad base64 in header", [] { return std::string("eyJ*bGciOiJSUzI1NiJ9.e30.AAAA"); },
       "the header is not base64url"},
      {"standard base64 in signature",
       [] { return replace_segment(token(rs_header(), claims(), rsa_a()), 2, "ab+/"); },
       "the signature is not base64url"},
      {"padded payload",
       [] {
         return replace_segment(token(rs_header(), claims(), rsa_a()), 1, b64url(claims().dump() + "x") + "==");
       },
       "the payload has base64 padding"},
      {"non-canonical trailing bits", [] { return std::string("e31.e30.AAAA"); }, "the header is not base64url"},
      {"length 1 mod 4", [] { return b64url(R"({"alg":"RS256"})") + "f.e30.AAAA"; }, "the header is not base64url"},
      {"header not JSON", [] { return b64url("{alg: RS256}") + ".e30.AAAA"; }, "the header is not a JSON object"},
      {"header an array", [] { return b64url(R"(["RS256"])") + ".e30.AAAA"; }, "the header is not a JSON object"},
      {"header invalid UTF-8", [] { return b64url("{\"alg\":\"RS\xff\"}") + ".e30.AAAA"; }, "not a JSON object"},
      {"whitespace",
       [] {
         std::string out(" ");  // (not " " + token: g++ 12 at -O3 warns falsely in operator+(const char*, string&&))
         out += token(rs_header(), claims(), rsa_a());
         return out;
       },
       "the header is not base64url"},
  };
  check_cases(cases, keys(), config());
}

TEST_F(JwtTest, AcceptedTokenYieldsIdentity) {
  const auto r = verify_jwt(token(es_header(), claims(), ec_a()), keys(), config(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->subject, "user-123");
  EXPECT_EQ(r->name, "alice");
  EXPECT_EQ(r->issuer, kIssuer);
  EXPECT_EQ(r->role, "user");
  EXPECT_EQ(r->groups, std::vector<std::string>{"hearth-users"});
  EXPECT_EQ(r->expires_at, kNow + 300);
  EXPECT_EQ(r->kid, "ec-a");
}

TEST_F(JwtTest, UnknownKidIsFlagged) {
  const auto r = verify_jwt(token(rs_header("next"), claims(), rsa_b()), keys(), config(), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_unknown_kid(r.error()));
  EXPECT_THAT(r.error().message, StartsWith("unknown key id"));
  EXPECT_FALSE(is_unknown_kid(Error(ErrorCode::kPermissionDenied, "unknown key id")));
  // No kid, and no key of the right type in the set: a refetch may help too.
  const Jwks ec_only = jwks_of({ec_jwk(ec_a(), "ec-a")});
  const auto r2 = verify_jwt(token({{"alg", "RS256"}}, claims(), rsa_a()), ec_only, config(), kNow);
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(is_unknown_kid(r2.error()));
}

TEST_F(JwtTest, KeysWithoutKid) {
  const Jwks one = jwks_of({rsa_jwk(rsa_a(), "")});
  EXPECT_TRUE(verify_jwt(token({{"alg", "RS256"}}, claims(), rsa_a()), one, config(), kNow).ok());
  // A kid-less key serves only kid-less tokens.
  const auto named = verify_jwt(token(rs_header("rsa-a"), claims(), rsa_a()), one, config(), kNow);
  ASSERT_FALSE(named.ok());
  EXPECT_TRUE(is_unknown_kid(named.error()));
  // Two RSA keys: a token without kid is ambiguous.
  const Jwks two = jwks_of({rsa_jwk(rsa_a(), ""), rsa_jwk(rsa_b(), "rsa-b")});
  const auto r = verify_jwt(token({{"alg", "RS256"}}, claims(), rsa_a()), two, config(), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("holds 2 RSA keys"));
  EXPECT_FALSE(is_unknown_kid(r.error()));
}

TEST_F(JwtTest, QuotedValuesAreCutAndCleaned) {
  const std::string kid = std::string(500, 'k') + "\n";
  const auto r = verify_jwt(token(rs_header(kid), claims(), rsa_a()), keys(), config(), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.error().message.size(), 120u);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST_F(JwtTest, ConfigIsValidated) {
  EXPECT_TRUE(validate_jwt_config(config()).ok());
  JwtConfig no_iss = config();
  no_iss.issuers.clear();
  const Status s = validate_jwt_config(no_iss);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().param, "issuers");
  JwtConfig no_aud = config();
  no_aud.audiences = {""};
  EXPECT_FALSE(validate_jwt_config(no_aud).ok());
  JwtConfig skew = config();
  skew.clock_skew_s = -1;
  EXPECT_FALSE(validate_jwt_config(skew).ok());
  const auto r = verify_jwt(token(rs_header(), claims(), rsa_a()), keys(), no_iss, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
}

// ---- roles ----

TEST_F(JwtTest, RoleMapping) {
  struct RoleCase {
    const char* name;
    std::function<void(json&, JwtConfig&)> edit;
    const char* role;  // nullptr: kPermissionDenied
    std::vector<std::string> groups;
  };
  const std::vector<RoleCase> cases = {
      {"string claim", [](json& c, JwtConfig&) { c["roles"] = "hearth-admins"; }, "admin", {"hearth-admins"}},
      {"array: role_map order wins, not token order",
       [](json& c, JwtConfig&) { c["roles"] = {"x", 7, "hearth-users", "hearth-admins"}; }, "admin",
       {"x", "hearth-users", "hearth-admins"}},
      {"nested dotted claim",
       [](json& c, JwtConfig& cfg) {
         c.erase("roles");
         c["realm_access"] = {{"roles", {"offline_access", "hearth-admins"}}};
         cfg.role_claim = "realm_access.roles";
       },
       "admin", {"offline_access", "hearth-admins"}},
      {"claim name holding dots",
       [](json& c, JwtConfig& cfg) {
         c["https://hearth.example/roles"] = {"hearth-users"};
         cfg.role_claim = "https://hearth.example/roles";
       },
       "user", {"hearth-users"}},
      {"default role", [](json& c, JwtConfig& cfg) { c["roles"] = {"nothing"}; cfg.default_role = "viewer"; }, "viewer",
       {"nothing"}},
      {"no role claim, default role",
       [](json& c, JwtConfig& cfg) { c.erase("roles"); cfg.default_role = "viewer"; }, "viewer", {}},
      {"no mapped role", [](json& c, JwtConfig&) { c["roles"] = {"nothing"}; }, nullptr, {}},
      {"no role claim", [](json& c, JwtConfig&) { c.erase("roles"); }, nullptr, {}},
      {"role claim an object", [](json& c, JwtConfig&) { c["roles"] = {{"a", 1}}; }, nullptr, {}},
  };
  for (const RoleCase& c : cases) {
    SCOPED_TRACE(c.name);
    json payload = claims();
    JwtConfig cfg = config();
    c.edit(payload, cfg);
    const auto r = verify_jwt(token(rs_header(), payload, rsa_a()), keys(), cfg, kNow);
    if (c.role == nullptr) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
      EXPECT_THAT(r.error().message, HasSubstr("no role claim maps to a Hearth role"));
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->role, c.role);
    EXPECT_EQ(r->groups, c.groups);
  }
}

TEST_F(JwtTest, SubjectAndNameClaims) {
  json c = claims();
  c.erase("preferred_username");
  c["oid"] = "object-9";
  JwtConfig cfg = config();
  auto r = verify_jwt(token(rs_header(), c, rsa_a()), keys(), cfg, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "user-123");  // falls back to the subject
  cfg.subject_claim = "oid";
  r = verify_jwt(token(rs_header(), c, rsa_a()), keys(), cfg, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->subject, "object-9");
}

// ---- JWKS parsing ----

TEST_F(JwtTest, JwksParseErrors) {
  json bad_n = rsa_jwk(rsa_a(), "a");
  bad_n["n"] = "not*base64";
  json padded_n = rsa_jwk(rsa_a(), "a");
  padded_n["n"] = padded_n["n"].get<std::string>() + "=";
  json even_e = rsa_jwk(rsa_a(), "a");
  even_e["e"] = b64url(std::string("\x01\x00\x00", 3));
  json off_curve = ec_jwk(ec_a(), "e");
  off_curve["y"] = off_curve["x"];
  json short_x = ec_jwk(ec_a(), "e");
  short_x["x"] = b64url(std::string(31, '\x01'));
  json no_kty = rsa_jwk(rsa_a(), "a");
  no_kty.erase("kty");
  json kid_number = rsa_jwk(rsa_a(), "a");
  kid_number["kid"] = 5;
  const Pkey small = rsa_key(1024);
  const std::vector<std::pair<std::string, const char*>> cases = {
      {"", "not a JSON object"},
      {"[]", "not a JSON object"},
      {"{}", "no \"keys\" array"},
      {R"({"keys": {}})", "no \"keys\" array"},
      {jwks_text({}), "no usable key"},
      {jwks_text({json(1)}), "JWKS key 0 is not a JSON object"},
      {jwks_text({ec_jwk(ec_a(), "e"), bad_n}), "JWKS key 1 (kid \"a\"): \"n\" is not unpadded base64url"},
      {jwks_text({padded_n}), "\"n\" is not unpadded base64url"},
      {jwks_text({even_e}), "exponent"},
      {jwks_text({rsa_jwk(small, "small")}), "an RSA modulus of 1024 bits is outside 2048..16384"},
      {jwks_text({off_curve}), "not a valid EC public key"},
      {jwks_text({short_x}), "must be 32 bytes"},
      {jwks_text({no_kty}), "has no \"kty\""},
      {jwks_text({kid_number}), "\"kid\" is not a string"},
      {std::string(kMaxJwksBytes + 1, ' '), "over the limit"},
      {jwks_text(std::vector<json>(kMaxJwksKeys + 1, json::object())), "over the limit"},
      {std::string(100000, '[') + std::string(100000, ']'), "not a JSON object"},
  };
  for (const auto& [text, error] : cases) {
    SCOPED_TRACE(error);
    const auto r = Jwks::parse(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message, HasSubstr(error));
  }
}

TEST_F(JwtTest, JwksSkipsKeysItCannotUse) {
  json p384 = ec_jwk(ec_a(), "p384");
  p384["crv"] = "P-384";
  json enc = rsa_jwk(rsa_b(), "enc");
  enc["use"] = "enc";
  json rs512 = rsa_jwk(rsa_b(), "rs512");
  rs512["alg"] = "RS512";
  json no_verify = rsa_jwk(rsa_b(), "ops");
  no_verify["key_ops"] = {"encrypt"};
  const json oct = {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}};
  const json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AAAA"}};
  const auto r = Jwks::parse(jwks_text({p384, enc, rs512, no_verify, oct, okp, rsa_jwk(rsa_a(), "rsa-a")}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kids(), std::vector<std::string>{"rsa-a"});
  const auto none = Jwks::parse(jwks_text({p384, enc, oct}));
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error().message, HasSubstr("no usable key"));
  // A repeated kid of the same type: the first wins. Another type under the same kid is kept.
  const auto dup = Jwks::parse(jwks_text({rsa_jwk(rsa_a(), "k"), rsa_jwk(rsa_b(), "k"), ec_jwk(ec_a(), "k")}));
  ASSERT_TRUE(dup.ok()) << dup.error().message;
  EXPECT_EQ(dup->size(), 2u);
  EXPECT_TRUE(verify_jwt(token(rs_header("k"), claims(), rsa_a()), *dup, config(), kNow).ok());
  EXPECT_TRUE(verify_jwt(token(es_header("k"), claims(), ec_a()), *dup, config(), kNow).ok());
  // A 3072-bit key and a modulus with a leading zero octet are fine.
  const Pkey big = rsa_key(3072);
  json lead = rsa_jwk(rsa_a(), "lead");
  lead["n"] = b64url(std::string(1, '\0') + bn_bytes(rsa_a().get(), OSSL_PKEY_PARAM_RSA_N));
  const auto ok = Jwks::parse(jwks_text({rsa_jwk(big, "big"), lead}));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(verify_jwt(token(rs_header("big"), claims(), big), *ok, config(), kNow).ok());
}

// ---- the cache ----

class FakeSource {
 public:
  JwksCache::Fetch fetch() {
    return [this]() -> Result<std::string> {
      ++calls;
      if (fail) return unavailable("identity provider unreachable");
      return doc;
    };
  }
  std::string doc;
  bool fail = false;
  std::atomic<int> calls{0};
};

TEST_F(JwtTest, CacheRotatesOnUnknownKid) {
  FakeSource src;
  src.doc = jwks_text({rsa_jwk(rsa_a(), "a")});
  JwksCache cache(src.fetch(), 600, 30);
  ASSERT_TRUE(cache.verify(token(rs_header("a"), claims(), rsa_a()), config(), kNow).ok());
  EXPECT_EQ(src.calls.load(), 1);
  // The provider rotates to key b: the first token with kid b refetches once, then verifies.
  src.doc = jwks_text({rsa_jwk(rsa_a(), "a"), ec_jwk(ec_b(), "b")});
  const auto r = cache.verify(token(es_header("b"), claims(), ec_b()), config(), kNow + 40);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kid, "b");
  EXPECT_EQ(src.calls.load(), 2);
  EXPECT_EQ(cache.loaded_at(), kNow + 40);
  EXPECT_EQ(cache.current()->size(), 2u);
  // Another unknown kid within min_refetch_interval_s: refused without a fetch.
  const auto again = cache.verify(token(rs_header("c"), claims(), rsa_b()), config(), kNow + 50);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(is_unknown_kid(again.error()));
  EXPECT_EQ(src.calls.load(), 2);
  // After the interval it may fetch again (and still not find c).
  EXPECT_FALSE(cache.verify(token(rs_header("c"), claims(), rsa_b()), config(), kNow + 75).ok());
  EXPECT_EQ(src.calls.load(), 3);
  // Known kids never fetch.
  ASSERT_TRUE(cache.verify(token(rs_header("a"), claims(), rsa_a()), config(), kNow + 76).ok());
  EXPECT_EQ(src.calls.load(), 3);
}

TEST_F(JwtTest, CacheKeepsLastGoodSet) {
  json long_lived = claims();
  long_lived["exp"] = kNow + 3600;
  FakeSource src;
  src.doc = jwks_text({rsa_jwk(rsa_a(), "a")});
  JwksCache cache(src.fetch(), 600, 30);
  ASSERT_TRUE(cache.refresh(kNow).ok());
  src.fail = true;
  const Status failed = cache.refresh(kNow + 1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(failed.error().message, StartsWith("JWKS refresh: "));
  src.fail = false;
  src.doc = "{not json";
  const Status bad = cache.refresh(kNow + 2);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(cache.loaded_at(), kNow);
  EXPECT_TRUE(cache.verify(token(rs_header("a"), claims(), rsa_a()), config(), kNow + 3).ok());
  // Stale after refresh_interval_s: verify refetches; a failure still keeps the old set.
  const int before = src.calls.load();
  EXPECT_TRUE(cache.verify(token(rs_header("a"), long_lived, rsa_a()), config(), kNow + 700).ok());
  EXPECT_EQ(src.calls.load(), before + 1);
  src.doc = jwks_text({rsa_jwk(rsa_b(), "b")});
  ASSERT_TRUE(cache.verify(token(rs_header("b"), long_lived, rsa_b()), config(), kNow + 731).ok());
  EXPECT_EQ(cache.loaded_at(), kNow + 731);
}

TEST_F(JwtTest, CacheWithNothingLoadedIsUnavailable) {
  FakeSource src;
  src.fail = true;
  JwksCache cache(src.fetch(), 600, 30);
  const std::string tok = token(rs_header("a"), claims(), rsa_a());
  auto r = cache.verify(tok, config(), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("identity provider unreachable"));
  EXPECT_FALSE(cache.current().has_value());
  r = cache.verify(tok, config(), kNow + 10);  // rate-limited: no second fetch
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_GT(r.error().retry_after_s, 0);
  EXPECT_EQ(src.calls.load(), 1);
  src.fail = false;
  src.doc = jwks_text({rsa_jwk(rsa_a(), "a")});
  EXPECT_TRUE(cache.verify(tok, config(), kNow + 31).ok());
  EXPECT_EQ(src.calls.load(), 2);
}

TEST_F(JwtTest, CacheFromManyThreads) {
  FakeSource src;
  src.doc = jwks_text({rsa_jwk(rsa_a(), "a"), ec_jwk(ec_a(), "e")});
  JwksCache cache(src.fetch(), 600, 0);
  const std::string good = token(es_header("e"), claims(), ec_a());
  const std::string unknown = token(es_header("zz"), claims(), ec_a());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (cache.verify(good, config(), kNow + i).ok()) ++accepted;
        if (cache.verify(unknown, config(), kNow + i).ok()) ++accepted;
        if (t == 0 && i % 5 == 0) (void)cache.refresh(kNow + i);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted, 100);
}

}  // namespace
}  // namespace hearth::auth
