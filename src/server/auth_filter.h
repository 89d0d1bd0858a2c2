// The auth filter: finds who is calling (auth.mode) and refuses what the matched route's
// permission, or the caller's collection allow-list, does not allow. 401 for a missing or bad
// credential, 403 for a valid one without the right.
#pragma once

#include <memory>
#include <string>

#include "server/access.h"
#include "server/metrics.h"
#include "server/router.h"

namespace hearth {

namespace auth {
class KeyStore;
}

struct AuthFilterOptions {
  std::string mode = "none";          // "none" or "keys"
  const RoleTable* roles = nullptr;   // required for "keys"
  auth::KeyStore* keys = nullptr;     // required for "keys"
  HttpMetrics* metrics = nullptr;     // auth failures
};

std::unique_ptr<Middleware> make_auth_middleware(AuthFilterOptions options);

// The credential a request carries: "Authorization: Bearer <key>" or "X-Api-Key: <key>";
// empty when none.
std::string presented_credential(const HttpRequest& request);

}  // namespace hearth
