// The auth filter: finds who is calling (auth.mode) and refuses what the matched route's
// permission, or the caller's collection allow-list, does not allow. 401 for a missing or bad
// credential, 403 for a valid one without the right.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <string>

#include "server/access.h"
#include "server/metrics.h"
#include "server/router.h"

namespace hearth {

namespace auth {
class KeyStore;
class UserStore;
class JwksCache;
class CollectionAccessStore;
struct JwtConfig;
}

// What a request may present as "Authorization: Bearer <credential>": an API key (hk-...), a
// sign-in session (hs-...) or, with JWT on, the identity provider's token (eyJ...). Each is
// checked by its own store; the principal's id says which ("hk-...", "user:<name>", "oidc:<sub>").
struct AuthFilterOptions {
  std::string mode = "none";                   // auth.mode: "none", "keys", "jwt" or "keys+jwt"
  const RoleTable* roles = nullptr;            // required unless "none"
  auth::KeyStore* keys = nullptr;              // API keys; null: not accepted
  auth::UserStore* users = nullptr;            // sign-in sessions; null: not accepted
  auth::JwksCache* jwks = nullptr;             // JWTs; null: not accepted
  const auth::JwtConfig* jwt = nullptr;        // with jwks
  boost::asio::thread_pool* blocking = nullptr;  // with jwks: verification may fetch the key set
  auth::CollectionAccessStore* acl = nullptr;  // collections' owners and access lists
  HttpMetrics* metrics = nullptr;              // auth failures
};

std::unique_ptr<Middleware> make_auth_middleware(AuthFilterOptions options);

// The credential a request carries: "Authorization: Bearer <key>" or "X-Api-Key: <key>";
// empty when none.
std::string presented_credential(const HttpRequest& request);

// The web app's sign-in: the session token in an HttpOnly, SameSite=Strict cookie that page
// scripts cannot read. A request authenticated by the cookie (and by nothing else) that changes
// anything (any method but GET, HEAD, OPTIONS) must carry "X-CSRF-Token: csrf_token_for(token)",
// which the login and /v1/auth/me responses give the page; a WebSocket upgrade must come from
// the same origin.
inline constexpr const char* kSessionCookie = "hearth_session";
// The session token (or single sign-on's ID token) in the request's Cookie header ("" otherwise).
std::string session_cookie(const HttpRequest& request);
// A value only the holder of the token can know: hex SHA-256 of the token, tagged (32 characters).
std::string csrf_token_for(const std::string& session_token);
// The Set-Cookie value that stores `token` for `max_age_s` seconds (0: deletes the cookie).
std::string session_cookie_header(const std::string& token, long long max_age_s, bool secure);

}  // namespace hearth
