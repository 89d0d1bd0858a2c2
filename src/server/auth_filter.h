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

}  // namespace hearth
