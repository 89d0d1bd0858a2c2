// JWT bearer tokens from an OIDC identity provider: a JSON Web Key Set (RS256 / ES256 public keys),
// the verification of a compact JWS token against it and a JwtConfig, and a cache of the key set
// that refetches it when a token names a key it does not hold (key rotation).
// Tokens are strict compact JWS: three base64url segments WITHOUT padding ('=' is refused, as are
// characters outside the URL-safe alphabet and non-canonical trailing bits), at most 16 KiB, alg
// exactly "RS256" or "ES256". Keys embedded in or pointed to by the token (jwk, jku, x5u, x5c) are
// never used; a token with a "crit" header is refused.
// Thread-safety: JwtConfig, JwtIdentity and Jwks are values (a Jwks shares its immutable OpenSSL keys
// between copies; a const Jwks may be used from any number of threads). verify_jwt() is a pure
// function. Every JwksCache method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace hearth::auth {

inline constexpr std::size_t kMaxJwtBytes = 16 * 1024;    // a longer token is refused unread
inline constexpr std::size_t kMaxJwksBytes = 1024 * 1024;  // a larger key set is an error
inline constexpr std::size_t kMaxJwksKeys = 256;           // entries in "keys", usable or not

struct JwtConfig {
  std::vector<std::string> issuers;    // accepted "iss" values (exact match); at least one
  std::vector<std::string> audiences;  // accepted "aud" values; the token's aud (string or array) must hold one
  int clock_skew_s = 60;               // allowed on exp, nbf and iat; 0..3600
  // Claims are found by their exact name first, then, if the name holds dots, as a path through
  // nested objects ("realm_access.roles"); so "https://example.com/roles" works as a name.
  std::string role_claim = "roles";  // its value: a string or an array (non-string items ignored)
  // claim value -> Hearth role; the first pair (in this order) whose value the token holds wins
  std::vector<std::pair<std::string, std::string>> role_map;
  std::string default_role;  // a token none of whose values map gets this; empty = such a token is refused
  std::string subject_claim = "sub";                 // required, a non-empty string
  std::string name_claim = "preferred_username";     // optional; the subject when absent or not a string
};

// kInvalidArgument (param: the field) if `cfg` cannot be used: no issuers or audiences, a skew
// outside 0..3600, an empty claim name, an empty role in role_map.
Status validate_jwt_config(const JwtConfig& cfg);

// A parsed JSON Web Key Set holding only usable verification keys: kty "RSA" (n, e; modulus of
// 2048..16384 bits; for RS256) and kty "EC" with crv "P-256" (x, y of 32 bytes each; for ES256).
class Jwks {
 public:
  struct Key;  // defined in jwt.cpp: kid, type, the OpenSSL public key

  // Keys whose "use" is not "sig", whose "key_ops" lacks "verify", whose "alg" is present but not
  // the one their type allows, or whose kty / crv is unsupported are skipped. Errors
  // (kInvalidArgument, naming the key by index and kid): not a JSON object with a "keys" array,
  // over kMaxJwksBytes or kMaxJwksKeys, a supported key with missing or malformed members (bad
  // base64url, an RSA modulus under 2048 bits, an EC point not on the curve), a key set with no
  // usable key. A second key with the kid and type of an earlier one is skipped.
  static Result<Jwks> parse(std::string_view json);

  std::size_t size() const { return keys_.size(); }
  std::vector<std::string> kids() const;  // in order; "" for a key without kid

 private:
  Jwks() = default;
  std::vector<std::shared_ptr<const Key>> keys_;
  friend class JwksAccess;  // jwt.cpp
};

struct JwtIdentity {
  std::string subject, name, issuer, role;
  std::vector<std::string> groups;  // the raw string values of the role claim, in token order
  std::int64_t expires_at = 0;      // exp, unix seconds
  std::string kid;                  // the key that verified the token ("" if it had none)
  std::string nonce;                // the nonce claim (OpenID Connect ID tokens), "" if none
};

// Verifies signature and claims of `token` at `now_s` (unix seconds).
// Key choice: a token with a kid uses the key of that kid whose type fits alg (an EC key for an
// RS256 token is refused, and the reverse); a token without a kid uses the only key of the right
// type, and is refused if the set holds several. A key without kid serves only tokens without kid.
// Claims: exp required (refused once now >= exp + skew), nbf and iat optional (refused while
// now < nbf - skew, or if iat > now + skew), iss in cfg.issuers, aud intersecting cfg.audiences,
// the subject claim a non-empty string. Numeric dates may be integers or finite decimals.
// Errors: kUnauthenticated with a message naming the problem, never the whole token (short header
// and claim values it quotes are cut to 64 bytes of printable ASCII); an unknown kid is reported so
// that is_unknown_kid() is true. kPermissionDenied "no role claim maps to a Hearth role ..." for a
// valid token without a mapped role and no default_role. kInternal if validate_jwt_config fails.
Result<JwtIdentity> verify_jwt(std::string_view token, const Jwks& keys, const JwtConfig& cfg, std::int64_t now_s);

// True for the error verify_jwt returns when the key set holds no key for the token (its kid is
// unknown, or it has none and the set holds no key of its type): a refetch of the set may help.
// (The message starts "unknown key id"; code kUnauthenticated.)
bool is_unknown_kid(const Error& e);

// The current key set of one source (a file, an https URL), as fetched by the caller's `fetch`
// (which returns the JWKS document; it is called by one thread at a time, never under the lock
// verifiers take, and may block). The first verify() loads the set; a set older than
// refresh_interval_s is refetched by the verify() that notices (others meanwhile use the old one);
// a token with an unknown kid triggers one refetch and a retry, unless the last fetch attempt
// was less than min_refetch_interval_s ago. A failed refresh keeps the last good set; failed
// attempts also count towards min_refetch_interval_s, so a failing source is not hammered.
class JwksCache {
 public:
  using Fetch = std::function<Result<std::string>()>;
  explicit JwksCache(Fetch fetch, std::int64_t refresh_interval_s = 600, std::int64_t min_refetch_interval_s = 30);
  JwksCache(const JwksCache&) = delete;
  JwksCache& operator=(const JwksCache&) = delete;

  // verify_jwt against the current set (loading / refreshing it as above). With no set loaded and
  // none loadable: kUnavailable naming the fetch or parse error (the token may be fine).
  Result<JwtIdentity> verify(std::string_view token, const JwtConfig& cfg, std::int64_t now_s);
  // Fetches and parses now (waiting for a refresh in progress), regardless of the intervals.
  // The fetch's error, or the parse error (kInvalidArgument), prefixed "JWKS refresh: ".
  Status refresh(std::int64_t now_s);

  std::optional<Jwks> current() const;               // the set in use, if one was ever loaded
  std::optional<std::int64_t> loaded_at() const;     // now_s of the last successful refresh

 private:
  struct Snapshot {
    std::shared_ptr<const Jwks> keys;
    std::uint64_t generation = 0;
    std::int64_t loaded_at = 0;
  };
  Snapshot snapshot() const;
  Status refresh_locked(std::int64_t now_s);  // refresh_mu_ held
  bool may_fetch_locked(std::int64_t now_s) const;
  Result<Snapshot> usable_snapshot(std::int64_t now_s);

  const Fetch fetch_;
  const std::int64_t refresh_interval_s_, min_refetch_interval_s_;

  std::mutex refresh_mu_;  // serialises fetches; guards the two fields below
  std::optional<std::int64_t> last_attempt_at_;
  std::string last_error_;

  mutable std::shared_mutex set_mu_;  // guards set_
  Snapshot set_;
};

}  // namespace hearth::auth
