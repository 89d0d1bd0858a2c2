// JWT verification (jwt.h): strict compact-JWS parsing, JWKS -> OpenSSL 3 public keys via
// OSSL_PARAM_BLD / EVP_PKEY_fromdata, EVP_DigestVerify, claim checks, role mapping, and the
// rotating key-set cache. Thread-safety: see jwt.h.
#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <ctime>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/openssl_error.h"

namespace hearth::auth {

struct Jwks::Key {
  enum class Type { kRsa, kEc };
  std::string kid;
  bool has_kid = false;
  Type type = Type::kRsa;
  std::shared_ptr<EVP_PKEY> pkey;
};

// The one way into Jwks internals from this file (a friend of Jwks).
class JwksAccess {
 public:
  static const std::vector<std::shared_ptr<const Jwks::Key>>& keys(const Jwks& j) { return j.keys_; }
};

namespace {

using json = nlohmann::json;
using Key = Jwks::Key;
using KeyType = Key::Type;

constexpr std::int64_t kMaxSkewS = 3600;
constexpr std::size_t kMaxQuoted = 64;
constexpr std::size_t kMaxListed = 5;
constexpr std::size_t kP256CoordBytes = 32;
constexpr std::size_t kMinRsaBits = 2048, kMaxRsaBits = 16384;
constexpr std::string_view kUnknownKid = "unknown key id";

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

Error unauthenticated(std::string msg) { return {ErrorCode::kUnauthenticated, std::move(msg)}; }
Error malformed(std::string_view what) { return unauthenticated(fmt::format("malformed token: {}", what)); }

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// `s` in double quotes, cut to kMaxQuoted bytes, anything but printable ASCII (and quotes and
// backslashes) as '?': for quoting untrusted values in messages and logs.
std::string quote_value(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMaxQuoted; ++i) {
    const char c = s[i];
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
  }
  if (s.size() > kMaxQuoted) out += "...";
  return out += '"';
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kMaxListed; ++i) out += (i ? ", " : "") + quote_value(items[i]);
  if (items.size() > kMaxListed) out += fmt::format(" and {} more", items.size() - kMaxListed);
  return out;
}

std::string utc(std::int64_t t) {
  constexpr std::int64_t kYear9999End = 253402300799;
  if (t < 0 || t > kYear9999End) return std::to_string(t);
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  char buf[32];
  if (gmtime_r(&tt, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(t);
  }
  return buf;
}

std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  }
  return r;
}

// ---- base64url (RFC 4648 section 5) without padding, canonical only ----

int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = b64url_value(c);
    if (v < 0) return std::nullopt;
    acc = ((acc << 6) | static_cast<std::uint32_t>(v)) & 0xffffffu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xffu);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical: bits left over
  return out;
}

// ---- JSON Web Keys ----

std::string_view strip_leading_zeros(std::string_view s) {
  while (!s.empty() && s.front() == '\0') s.remove_prefix(1);
  return s;
}

std::size_t bit_length(std::string_view big_endian) {
  const std::string_view s = strip_leading_zeros(big_endian);
  if (s.empty()) return 0;
  return (s.size() - 1) * 8 + static_cast<std::size_t>(std::bit_width(static_cast<unsigned char>(s.front())));
}

// The public key `params` describe, checked (EVP_PKEY_public_check: e.g. the EC point lies on the curve).
Result<std::shared_ptr<EVP_PKEY>> pkey_from_params(const char* type, OSSL_PARAM_BLD* bld, const std::string& where) {
  const ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return invalid_argument(fmt::format("{}: not a valid {} public key: {}", where, type, openssl_errors()));
  }
  std::shared_ptr<EVP_PKEY> pkey(raw, EVP_PKEY_free);
  const PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return invalid_argument(fmt::format("{}: not a valid {} public key: {}", where, type, openssl_errors()));
  }
  return pkey;
}

Result<std::string> b64_member(const json& jwk, const char* name, const std::string& where) {
  const auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return invalid_argument(fmt::format("{} has no \"{}\" string", where, name));
  auto decoded = base64url_decode(it->get_ref<const std::string&>());
  if (!decoded) return invalid_argument(fmt::format("{}: \"{}\" is not unpadded base64url", where, name));
  return std::move(*decoded);
}

Result<std::shared_ptr<EVP_PKEY>> rsa_key(const json& jwk, const std::string& where) {
  auto n = b64_member(jwk, "n", where);
  if (!n) return n.take_error();
  auto e = b64_member(jwk, "e", where);
  if (!e) return e.take_error();
  const std::size_t bits = bit_length(*n);
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return invalid_argument(
        fmt::format("{}: an RSA modulus of {} bits is outside {}..{}", where, bits, kMinRsaBits, kMaxRsaBits));
  }
  const std::string_view ev = strip_leading_zeros(*e);
  if (ev.empty() || ev.size() > 8 || (static_cast<unsigned char>(ev.back()) & 1u) == 0 || bit_length(ev) < 2) {
    return invalid_argument(fmt::format("{}: the RSA exponent must be odd, at least 3 and at most 64 bits", where));
  }
  const BnPtr bn_n(BN_bin2bn(bytes(*n), static_cast<int>(n->size()), nullptr));
  const BnPtr bn_e(BN_bin2bn(bytes(ev), static_cast<int>(ev.size()), nullptr));
  const ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return internal_error(fmt::format("{}: OpenSSL: {}", where, openssl_errors()));
  }
  return pkey_from_params("RSA", bld.get(), where);
}

Result<std::shared_ptr<EVP_PKEY>> p256_key(const json& jwk, const std::string& where) {
  auto x = b64_member(jwk, "x", where);
  if (!x) return x.take_error();
  auto y = b64_member(jwk, "y", where);
  if (!y) return y.take_error();
  if (x->size() != kP256CoordBytes || y->size() != kP256CoordBytes) {
    return invalid_argument(fmt::format("{}: P-256 \"x\" and \"y\" must be {} bytes each", where, kP256CoordBytes));
  }
  const std::string point = '\x04' + *x + *y;  // SEC 1 uncompressed point
  const ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    return internal_error(fmt::format("{}: OpenSSL: {}", where, openssl_errors()));
  }
  return pkey_from_params("EC", bld.get(), where);
}

bool string_member_is(const json& jwk, const char* name, std::string_view want) {
  const auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() && it->get_ref<const std::string&>() == want;
}

// Whether use / key_ops / alg allow this key to verify `alg` signatures (absent members allow it).
bool usable_for(const json& jwk, std::string_view alg) {
  if (jwk.contains("use") && !string_member_is(jwk, "use", "sig")) return false;
  if (jwk.contains("alg") && !string_member_is(jwk, "alg", alg)) return false;
  if (const auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->is_array() || std::find(ops->begin(), ops->end(), json("verify")) == ops->end()) return false;
  }
  return true;
}

// One entry of "keys": the key, nullptr if it is to be skipped, or an error.
Result<std::shared_ptr<const Key>> parse_jwk(const json& jwk, std::size_t index) {
  std::string where = fmt::format("JWKS key {}", index);
  if (!jwk.is_object()) return invalid_argument(where + " is not a JSON object");
  auto key = std::make_shared<Key>();
  if (const auto kid = jwk.find("kid"); kid != jwk.end()) {
    if (!kid->is_string()) return invalid_argument(where + ": \"kid\" is not a string");
    key->kid = kid->get<std::string>();
    key->has_kid = true;
    where += fmt::format(" (kid {})", quote_value(key->kid));
  }
  const auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) return invalid_argument(where + " has no \"kty\" string");
  if (*kty == "RSA" && usable_for(jwk, "RS256")) {
    auto pkey = rsa_key(jwk, where);
    if (!pkey) return pkey.take_error();
    key->type = KeyType::kRsa;
    key->pkey = std::move(*pkey);
  } else if (*kty == "EC" && string_member_is(jwk, "crv", "P-256") && usable_for(jwk, "ES256")) {
    auto pkey = p256_key(jwk, where);
    if (!pkey) return pkey.take_error();
    key->type = KeyType::kEc;
    key->pkey = std::move(*pkey);
  } else {
    return std::shared_ptr<const Key>();  // not for RS256 / ES256 signatures: skipped
  }
  return std::shared_ptr<const Key>(std::move(key));
}

// ---- tokens ----

const char* type_name(KeyType t) { return t == KeyType::kRsa ? "RSA" : "EC"; }

struct ParsedToken {
  std::string_view signing_input;  // header.payload, as signed
  std::string payload;             // decoded, not yet parsed
  std::string signature;
  KeyType type = KeyType::kRsa;  // what alg needs
  std::string alg;
  std::optional<std::string> kid;
};

Result<std::string> decode_segment(std::string_view seg, std::string_view what) {
  if (seg.find('=') != std::string_view::npos) {
    return malformed(fmt::format("the {} has base64 padding, which is not accepted", what));
  }
  auto decoded = base64url_decode(seg);
  if (!decoded) return malformed(fmt::format("the {} is not base64url", what));
  return std::move(*decoded);
}

Result<json> parse_object(std::string_view text, std::string_view what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return malformed(fmt::format("the {} is not a JSON object", what));
  return doc;
}

// Structure, header, payload bytes and signature bytes; the payload's JSON is left for after the
// signature check.
Result<ParsedToken> parse_token(std::string_view token) {
  if (token.empty()) return malformed("empty");
  if (token.size() > kMaxJwtBytes) {
    return unauthenticated(fmt::format("token is too large: {} bytes (the limit is {})", token.size(), kMaxJwtBytes));
  }
  const std::size_t dots = static_cast<std::size_t>(std::count(token.begin(), token.end(), '.'));
  if (dots != 2) return malformed(fmt::format("expected 3 dot-separated segments, found {}", dots + 1));
  const std::size_t d1 = token.find('.'), d2 = token.find('.', d1 + 1);
  ParsedToken t;
  t.signing_input = token.substr(0, d2);
  auto header_text = decode_segment(token.substr(0, d1), "header");
  if (!header_text) return header_text.take_error();
  auto header = parse_object(*header_text, "header");
  if (!header) return header.take_error();
  const auto alg = header->find("alg");
  if (alg == header->end()) return malformed("the header has no alg");
  if (!alg->is_string()) return malformed("alg is not a string");
  t.alg = alg->get<std::string>();
  if (t.alg == "RS256") t.type = KeyType::kRsa;
  else if (t.alg == "ES256") t.type = KeyType::kEc;
  else return unauthenticated(fmt::format("alg {} is not accepted (only RS256 and ES256 are)", quote_value(t.alg)));
  if (header->contains("crit")) return unauthenticated("the token header has \"crit\", which is not supported");
  if (const auto kid = header->find("kid"); kid != header->end()) {
    if (!kid->is_string()) return malformed("kid is not a string");
    t.kid = kid->get<std::string>();
  }
  auto payload = decode_segment(token.substr(d1 + 1, d2 - d1 - 1), "payload");
  if (!payload) return payload.take_error();
  t.payload = std::move(*payload);
  auto sig = decode_segment(token.substr(d2 + 1), "signature");
  if (!sig) return sig.take_error();
  t.signature = std::move(*sig);
  return t;
}

Result<const Key*> select_key(const Jwks& jwks, const ParsedToken& t) {
  const auto& keys = JwksAccess::keys(jwks);
  if (t.kid) {
    const Key* other_type = nullptr;
    for (const auto& k : keys) {
      if (!k->has_kid || k->kid != *t.kid) continue;
      if (k->type == t.type) return k.get();
      other_type = k.get();
    }
    if (other_type) {
      return unauthenticated(fmt::format("key {} is an {} key, but alg {} needs an {} key", quote_value(*t.kid),
                                         type_name(other_type->type), t.alg, type_name(t.type)));
    }
    return unauthenticated(fmt::format("{} {}", kUnknownKid, quote_value(*t.kid)));
  }
  const Key* only = nullptr;
  std::size_t count = 0;
  for (const auto& k : keys) {
    if (k->type == t.type) {
      only = k.get();
      ++count;
    }
  }
  if (count == 0) {
    return unauthenticated(
        fmt::format("{}: the token has none and the key set holds no {} key", kUnknownKid, type_name(t.type)));
  }
  if (count > 1) {
    return unauthenticated(
        fmt::format("the token has no key id and the key set holds {} {} keys", count, type_name(t.type)));
  }
  return only;
}

// JOSE ES256 signatures are r || s (32 bytes each); OpenSSL verifies DER ECDSA-Sig-Value.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  constexpr int kLen = static_cast<int>(kP256CoordBytes);
  BnPtr r(BN_bin2bn(bytes(raw), kLen, nullptr));
  BnPtr s(BN_bin2bn(bytes(raw.substr(kP256CoordBytes)), kLen, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  (void)r.release();  // now owned by sig
  (void)s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) return std::nullopt;
  return der;
}

Status check_signature(const Key& key, const ParsedToken& t) {
  std::string der;
  std::string_view sig = t.signature;
  if (key.type == KeyType::kEc) {
    if (sig.size() != 2 * kP256CoordBytes) {
      return malformed(fmt::format("an ES256 signature is {} bytes, not {}", 2 * kP256CoordBytes, sig.size()));
    }
    auto converted = ecdsa_raw_to_der(sig);
    if (!converted) return internal_error("ES256 signature conversion failed: " + openssl_errors());
    der = std::move(*converted);
    sig = der;
  } else if (const int want = EVP_PKEY_get_size(key.pkey.get());
             want <= 0 || sig.size() != static_cast<std::size_t>(want)) {
    return malformed(fmt::format("an RS256 signature for this key is {} bytes, not {}", want, sig.size()));
  }
  const MdCtxPtr md(EVP_MD_CTX_new());
  const bool ok = md && EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) == 1 &&
                  EVP_DigestVerify(md.get(), bytes(sig), sig.size(), bytes(t.signing_input),
                                   t.signing_input.size()) == 1;
  ERR_clear_error();  // a bad signature leaves entries in this thread's queue
  if (!ok) return unauthenticated("the token signature is invalid");
  return {};
}

// ---- claims ----

// A claim by its exact name, else (for a dotted name) by path through nested objects.
const json* find_claim(const json& claims, const std::string& name) {
  if (const auto it = claims.find(name); it != claims.end()) return &*it;
  if (name.find('.') == std::string::npos) return nullptr;
  const json* cur = &claims;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    const auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

// A NumericDate (integer or finite decimal, floored, saturated), or nullopt if not a number.
std::optional<std::int64_t> numeric_date(const json& v) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(kMax) ? kMax : static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    if (d >= 9.2e18) return kMax;
    if (d <= -9.2e18) return kMin;
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

// An optional date claim: absent -> nullopt; present but not a number -> an error.
Result<std::optional<std::int64_t>> date_claim(const json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::int64_t>();
  const auto v = numeric_date(*it);
  if (!v) return unauthenticated(fmt::format("the {} claim is not a number", name));
  return v;
}

// exp, nbf, iat at `now`; returns exp.
Result<std::int64_t> check_times(const json& claims, std::int64_t skew, std::int64_t now) {
  const auto exp = date_claim(claims, "exp");
  if (!exp) return exp.error();
  if (!*exp) return unauthenticated("the token has no exp claim");
  if (now >= sat_add(**exp, skew)) {
    return unauthenticated(fmt::format("token expired at {} (now {}, clock skew {}s)", utc(**exp), utc(now), skew));
  }
  const auto nbf = date_claim(claims, "nbf");
  if (!nbf) return nbf.error();
  if (*nbf && now < sat_add(**nbf, -skew)) {
    return unauthenticated(
        fmt::format("token is not valid before {} (now {}, clock skew {}s)", utc(**nbf), utc(now), skew));
  }
  const auto iat = date_claim(claims, "iat");
  if (!iat) return iat.error();
  if (*iat && **iat > sat_add(now, skew)) {
    return unauthenticated(
        fmt::format("token was issued in the future, at {} (now {}, clock skew {}s)", utc(**iat), utc(now), skew));
  }
  return **exp;
}

Result<std::string> check_issuer_audience(const json& claims, const JwtConfig& cfg) {
  const auto iss = claims.find("iss");
  if (iss == claims.end()) return unauthenticated("the token has no iss claim");
  if (!iss->is_string()) return unauthenticated("the iss claim is not a string");
  const auto& issuer = iss->get_ref<const std::string&>();
  if (std::find(cfg.issuers.begin(), cfg.issuers.end(), issuer) == cfg.issuers.end()) {
    return unauthenticated(fmt::format("issuer {} is not accepted", quote_value(issuer)));
  }
  const auto aud = claims.find("aud");
  if (aud == claims.end()) return unauthenticated("the token has no aud claim");
  std::vector<std::string> auds;
  if (aud->is_string()) auds.push_back(aud->get<std::string>());
  if (aud->is_array()) {
    for (const auto& a : *aud) {
      if (!a.is_string()) return unauthenticated("the aud claim is not a string or an array of strings");
      auds.push_back(a.get<std::string>());
    }
  }
  if (auds.empty()) return unauthenticated("the aud claim is not a string or a non-empty array of strings");
  for (const auto& a : auds) {
    if (std::find(cfg.audiences.begin(), cfg.audiences.end(), a) != cfg.audiences.end()) return issuer;
  }
  return unauthenticated(fmt::format("audience {} is not accepted", quoted_list(auds)));
}

std::vector<std::string> role_values(const json* claim) {
  std::vector<std::string> out;
  if (claim == nullptr) return out;
  if (claim->is_string()) out.push_back(claim->get<std::string>());
  if (claim->is_array()) {
    for (const auto& v : *claim) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

Status map_role(JwtIdentity& id, const json& claims, const JwtConfig& cfg) {
  const json* claim = find_claim(claims, cfg.role_claim);
  id.groups = role_values(claim);
  for (const auto& [from, to] : cfg.role_map) {
    if (std::find(id.groups.begin(), id.groups.end(), from) != id.groups.end()) {
      id.role = to;
      return {};
    }
  }
  if (!cfg.default_role.empty()) {
    id.role = cfg.default_role;
    return {};
  }
  const std::string held = claim == nullptr ? "the token has no such claim"
                           : id.groups.empty() ? "it holds no strings"
                                               : "it holds " + quoted_list(id.groups);
  return Error{ErrorCode::kPermissionDenied,
               fmt::format("no role claim maps to a Hearth role (claim {}: {})", quote_value(cfg.role_claim), held)};
}

Result<JwtIdentity> identity_from(const json& claims, const JwtConfig& cfg, std::int64_t now) {
  JwtIdentity id;
  auto exp = check_times(claims, cfg.clock_skew_s, now);
  if (!exp) return exp.take_error();
  id.expires_at = *exp;
  auto issuer = check_issuer_audience(claims, cfg);
  if (!issuer) return issuer.take_error();
  id.issuer = std::move(*issuer);
  const json* sub = find_claim(claims, cfg.subject_claim);
  if (sub == nullptr) return unauthenticated(fmt::format("the token has no {} claim", quote_value(cfg.subject_claim)));
  if (!sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    return unauthenticated(fmt::format("the {} claim is not a non-empty string", quote_value(cfg.subject_claim)));
  }
  id.subject = sub->get<std::string>();
  const json* name = cfg.name_claim.empty() ? nullptr : find_claim(claims, cfg.name_claim);
  id.name = name != nullptr && name->is_string() && !name->get_ref<const std::string&>().empty()
                ? name->get<std::string>()
                : id.subject;
  if (auto n = claims.find("nonce"); n != claims.end() && n->is_string()) id.nonce = n->get<std::string>();
  HEARTH_TRY(map_role(id, claims, cfg));
  return id;
}

}  // namespace

// ---- public API ----

Status validate_jwt_config(const JwtConfig& cfg) {
  auto check_list = [](const std::vector<std::string>& list, const char* field) -> Status {
    if (list.empty()) return invalid_argument(fmt::format("JWT config: {} must name at least one value", field), field);
    for (const auto& v : list) {
      if (v.empty()) return invalid_argument(fmt::format("JWT config: {} must not hold an empty value", field), field);
    }
    return {};
  };
  HEARTH_TRY(check_list(cfg.issuers, "issuers"));
  HEARTH_TRY(check_list(cfg.audiences, "audiences"));
  if (cfg.clock_skew_s < 0 || cfg.clock_skew_s > kMaxSkewS) {
    return invalid_argument(fmt::format("JWT config: clock_skew_s must be 0..{}", kMaxSkewS), "clock_skew_s");
  }
  if (cfg.role_claim.empty()) return invalid_argument("JWT config: role_claim must not be empty", "role_claim");
  if (cfg.subject_claim.empty()) {
    return invalid_argument("JWT config: subject_claim must not be empty", "subject_claim");
  }
  for (const auto& [from, to] : cfg.role_map) {
    if (from.empty() || to.empty()) {
      return invalid_argument("JWT config: role_map entries need a claim value and a role", "role_map");
    }
  }
  return {};
}

Result<Jwks> Jwks::parse(std::string_view text) {
  if (text.size() > kMaxJwksBytes) {
    return invalid_argument(fmt::format("JWKS: {} bytes is over the limit of {}", text.size(), kMaxJwksBytes));
  }
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return invalid_argument("JWKS: not a JSON object");
  const auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return invalid_argument("JWKS: no \"keys\" array");
  if (keys->size() > kMaxJwksKeys) {
    return invalid_argument(fmt::format("JWKS: {} keys is over the limit of {}", keys->size(), kMaxJwksKeys));
  }
  Jwks out;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    auto key = parse_jwk((*keys)[i], i);
    if (!key) return key.take_error();
    if (*key == nullptr) continue;
    const bool duplicate = std::any_of(out.keys_.begin(), out.keys_.end(), [&](const auto& k) {
      return k->has_kid == (*key)->has_kid && k->kid == (*key)->kid && k->type == (*key)->type;
    });
    if (!duplicate) out.keys_.push_back(std::move(*key));
  }
  if (out.keys_.empty()) {
    return invalid_argument("JWKS: no usable key (RSA keys for RS256 or EC P-256 keys for ES256, for signatures)");
  }
  return out;
}

std::vector<std::string> Jwks::kids() const {
  std::vector<std::string> out;
  out.reserve(keys_.size());
  for (const auto& k : keys_) out.push_back(k->kid);
  return out;
}

Result<JwtIdentity> verify_jwt(std::string_view token, const Jwks& keys, const JwtConfig& cfg, std::int64_t now_s) {
  if (Status valid = validate_jwt_config(cfg); !valid.ok()) return internal_error(valid.error().message);
  auto parsed = parse_token(token);
  if (!parsed) return parsed.take_error();
  auto key = select_key(keys, *parsed);
  if (!key) return key.take_error();
  HEARTH_TRY(check_signature(**key, *parsed));
  auto claims = parse_object(parsed->payload, "payload");
  if (!claims) return claims.take_error();
  auto id = identity_from(*claims, cfg, now_s);
  if (id.ok()) id->kid = (*key)->kid;
  return id;
}

bool is_unknown_kid(const Error& e) {
  return e.code == ErrorCode::kUnauthenticated && std::string_view(e.message).starts_with(kUnknownKid);
}

// ---- JwksCache ----

JwksCache::JwksCache(Fetch fetch, std::int64_t refresh_interval_s, std::int64_t min_refetch_interval_s)
    : fetch_(std::move(fetch)),
      refresh_interval_s_(std::max<std::int64_t>(1, refresh_interval_s)),
      min_refetch_interval_s_(std::max<std::int64_t>(0, min_refetch_interval_s)) {}

JwksCache::Snapshot JwksCache::snapshot() const {
  std::shared_lock lock(set_mu_);
  return set_;
}

bool JwksCache::may_fetch_locked(std::int64_t now_s) const {
  // A clock that went back also allows a fetch (rather than none until it catches up).
  return !last_attempt_at_ || now_s < *last_attempt_at_ || now_s - *last_attempt_at_ >= min_refetch_interval_s_;
}

Status JwksCache::refresh_locked(std::int64_t now_s) {
  last_attempt_at_ = now_s;
  auto fail = [this](Error e) {
    e.message = "JWKS refresh: " + e.message;
    last_error_ = e.message;
    return e;
  };
  if (!fetch_) return fail(internal_error("no fetch function"));
  auto doc = fetch_();
  if (!doc) return fail(doc.take_error());
  auto parsed = Jwks::parse(*doc);
  if (!parsed) return fail(parsed.take_error());
  auto keys = std::make_shared<const Jwks>(std::move(parsed).value());
  {
    std::unique_lock lock(set_mu_);
    set_.keys = std::move(keys);
    ++set_.generation;
    set_.loaded_at = now_s;
  }
  last_error_.clear();
  return {};
}

Status JwksCache::refresh(std::int64_t now_s) {
  std::lock_guard lock(refresh_mu_);
  return refresh_locked(now_s);
}

Result<JwksCache::Snapshot> JwksCache::usable_snapshot(std::int64_t now_s) {
  Snapshot snap = snapshot();
  if (!snap.keys) {  // nothing loaded yet: wait for a fetch
    std::lock_guard lock(refresh_mu_);
    snap = snapshot();
    if (snap.keys) return snap;
    if (!may_fetch_locked(now_s)) {
      const auto retry = static_cast<int>(std::clamp<std::int64_t>(
          min_refetch_interval_s_ - (now_s - last_attempt_at_.value_or(now_s)), 1, min_refetch_interval_s_ + 1));
      return unavailable("no JSON Web Key Set is loaded: " + last_error_, retry);
    }
    if (Status st = refresh_locked(now_s); !st.ok()) {
      return unavailable("no JSON Web Key Set is loaded: " + st.error().message,
                         static_cast<int>(std::max<std::int64_t>(1, min_refetch_interval_s_)));
    }
    return snapshot();
  }
  if (now_s >= snap.loaded_at && now_s - snap.loaded_at >= refresh_interval_s_) {
    // Stale: one caller refreshes, the others go on with the old set meanwhile.
    std::unique_lock lock(refresh_mu_, std::try_to_lock);
    if (lock.owns_lock() && snapshot().generation == snap.generation && may_fetch_locked(now_s)) {
      (void)refresh_locked(now_s);  // a failure keeps the old set (last_error_ says why)
      snap = snapshot();
    }
  }
  return snap;
}

Result<JwtIdentity> JwksCache::verify(std::string_view token, const JwtConfig& cfg, std::int64_t now_s) {
  auto snap = usable_snapshot(now_s);
  if (!snap) return snap.take_error();
  auto first = verify_jwt(token, *snap->keys, cfg, now_s);
  if (first.ok() || !is_unknown_kid(first.error())) return first;
  Snapshot now_set;
  {
    std::lock_guard lock(refresh_mu_);
    now_set = snapshot();
    if (now_set.generation == snap->generation) {  // nobody refreshed since: maybe the keys rotated
      if (!may_fetch_locked(now_s) || !refresh_locked(now_s).ok()) return first;
      now_set = snapshot();
    }
  }
  return verify_jwt(token, *now_set.keys, cfg, now_s);
}

std::optional<Jwks> JwksCache::current() const {
  const Snapshot snap = snapshot();
  if (!snap.keys) return std::nullopt;
  return *snap.keys;
}

std::optional<std::int64_t> JwksCache::loaded_at() const {
  const Snapshot snap = snapshot();
  if (!snap.keys) return std::nullopt;
  return snap.loaded_at;
}

}  // namespace hearth::auth
