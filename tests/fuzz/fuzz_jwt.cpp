// libFuzzer: JWT verification and JWKS parsing (auth/jwt.h) on arbitrary bytes, against a fixed
// key set of one EC P-256 key generated at startup. Invariants: nothing crashes; every refusal is
// kUnauthenticated (or kPermissionDenied for a validly signed token without a mapped role); a token
// made of the input bytes is never accepted (it cannot carry a valid signature); a token whose
// payload or header is the input, signed here with the real key, is accepted only with claims that
// meet the config. Jwks::parse of the input never crashes and yields 1..kMaxJwksKeys keys if it succeeds.
// Input layout: [mode byte][bytes]; mode % 3: 0 = raw token, 1 = signed payload, 2 = signed header.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "auth/jwt.h"

using namespace hearth;
using namespace hearth::auth;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

std::string b64url(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = ((acc << 8) | static_cast<unsigned char>(c)) & 0xffffu;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63u];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63u];
  return out;
}

std::string coord(EVP_PKEY* key, const char* param) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) __builtin_trap();
  std::string out(32, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_free(bn);
  return out;
}

struct Fixture {
  EVP_PKEY* key = nullptr;  // lives for the process
  std::unique_ptr<Jwks> jwks;
  JwtConfig cfg;

  Fixture() {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_CTX_set_group_name(ctx, "P-256") != 1 ||
        EVP_PKEY_keygen(ctx, &key) != 1) {
      __builtin_trap();
    }
    EVP_PKEY_CTX_free(ctx);
    const std::string doc = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"f","use":"sig","x":")" +
                            b64url(coord(key, OSSL_PKEY_PARAM_EC_PUB_X)) + R"(","y":")" +
                            b64url(coord(key, OSSL_PKEY_PARAM_EC_PUB_Y)) + R"("}]})";
    auto parsed = Jwks::parse(doc);
    if (!parsed.ok()) __builtin_trap();
    jwks = std::make_unique<Jwks>(std::move(parsed).value());
    cfg.issuers = {"https://idp.example"};
    cfg.audiences = {"hearth"};
    cfg.role_claim = "realm_access.roles";
    cfg.role_map = {{"admins", "admin"}, {"users", "user"}};
  }

  // ES256 over `input`, as raw r || s.
  std::string sign(std::string_view input) const {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    unsigned char der[80];
    std::size_t len = sizeof der;
    if (!md || EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key) != 1 ||
        EVP_DigestSign(md, der, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
      __builtin_trap();
    }
    EVP_MD_CTX_free(md);
    const unsigned char* p = der;
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
    if (!sig) __builtin_trap();
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    return raw;
  }
};

const Fixture& fixture() {
  static const Fixture* f = new Fixture();
  return *f;
}

void check_refusal(const Error& e, bool signed_here) {
  if (e.code == ErrorCode::kUnauthenticated) return;
  if (signed_here && e.code == ErrorCode::kPermissionDenied) return;
  __builtin_trap();
}

void check_accepted(const JwtIdentity& id, const JwtConfig& cfg) {
  if (id.subject.empty() || id.name.empty() || id.role.empty()) __builtin_trap();
  if (std::find(cfg.issuers.begin(), cfg.issuers.end(), id.issuer) == cfg.issuers.end()) __builtin_trap();
  if (id.expires_at <= kNow - cfg.clock_skew_s) __builtin_trap();  // accepted only while now < exp + skew
  if (id.kid != "f") __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Fixture& f = fixture();
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string token;
  bool signed_here = true;
  switch (data[0] % 3) {
    case 0:
      token = bytes;
      signed_here = false;
      if (auto set = Jwks::parse(bytes); set.ok() && (set->size() == 0 || set->size() > kMaxJwksKeys)) {
        __builtin_trap();
      }
      break;
    case 1:  // the input as the payload of a token signed with the real key
      token = b64url(R"({"alg":"ES256","kid":"f"})") + "." + b64url(bytes);
      break;
    default:  // the input as the header, over a valid payload
      token = b64url(bytes) + "." +
              b64url(R"({"iss":"https://idp.example","aud":"hearth","sub":"s","exp":1800000100,)"
                     R"("realm_access":{"roles":["users"]}})");
      break;
  }
  if (signed_here) token += "." + b64url(f.sign(token));
  const auto r = verify_jwt(token, *f.jwks, f.cfg, kNow);
  if (r.ok()) {
    if (!signed_here) __builtin_trap();
    check_accepted(*r, f.cfg);
  } else {
    check_refusal(r.error(), signed_here);
  }
  return 0;
}
