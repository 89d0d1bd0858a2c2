#include "server/auth_filter.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "auth/collection_access.h"
#include "auth/jwt.h"
#include "auth/key_store.h"
#include "auth/user_store.h"
#include "core/sha256.h"
#include "server/async_util.h"
#include "server/error_mapping.h"

namespace hearth {
namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

HttpResponse unauthenticated(std::string message, const char* code) {
  Error e{ErrorCode::kUnauthenticated, std::move(message)};
  e.type_override = code;
  return error_response(e);
}

std::shared_ptr<Principal> principal_of(const char* kind, std::string id, std::string name, std::string role) {
  auto p = std::make_shared<Principal>();
  p->kind = kind;
  p->id = std::move(id);
  p->name = std::move(name);
  p->role = std::move(role);
  return p;
}

bool looks_like_jwt(std::string_view t) { return std::count(t.begin(), t.end(), '.') == 2 && t.rfind("eyJ", 0) == 0; }

class AuthFilter final : public Middleware {
 public:
  explicit AuthFilter(AuthFilterOptions o) : o_(std::move(o)) {}

  Task<std::optional<HttpResponse>> on_request(Exchange& ex) override {
    RequestContext& ctx = ex.context();
    if (o_.mode == "none") {
      ctx.principal = anonymous_admin();
      co_return std::nullopt;
    }
    if (ctx.permission == Permission::kPublic && ctx.route_matched) co_return std::nullopt;
    std::string credential = presented_credential(ex.request());
    const bool via_cookie = credential.empty() && o_.users && !(credential = session_cookie(ex.request())).empty();
    if (via_cookie) {
      if (auto refused = check_cookie_request(ex.request(), credential)) {
        fail("forbidden");
        co_return refused;
      }
    }
    if (credential.empty()) {
      fail("missing");
      co_return unauthenticated(missing_message(), "missing_api_key");
    }
    auto found = co_await identify(credential);
    if (!found) {
      fail(found.error().code == ErrorCode::kUnauthenticated ? "invalid" : "forbidden");
      spdlog::warn("[{}] {} {} {}: {}", ctx.request_id, ex.request().remote, ex.request().method, ex.request().path,
                   found.error().message);
      if (found.error().code != ErrorCode::kUnauthenticated) co_return error_response(found.error());
      co_return unauthenticated(found.error().message, found.error().type_override.c_str());
    }
    std::shared_ptr<Principal> p = std::move(*found);
    p->acl = o_.acl;
    const PermissionSet* perms = o_.roles->find(p->role);
    if (perms) p->permissions = *perms;
    ctx.principal = p;
    if (!perms) {
      fail("forbidden");
      co_return error_response({ErrorCode::kPermissionDenied,
                                fmt::format("{} has role '{}', which this server does not define ([auth.roles])",
                                            p->id, p->role)});
    }
    if (!ctx.route_matched) co_return std::nullopt;  // 404 or 405 follows
    co_return check_route(ex, *p);
  }

 private:
  std::optional<HttpResponse> check_route(Exchange& ex, const Principal& p) {
    const RequestContext& ctx = ex.context();
    if (!p.may(ctx.permission)) {
      fail("forbidden");
      return error_response({ErrorCode::kPermissionDenied,
                             fmt::format("{} lacks the permission '{}' that {} {} requires", p.describe(),
                                         permission_name(ctx.permission), ex.request().method, ctx.route)});
    }
    const auto right = ctx.permission == Permission::kKnowledgeRead ? auth::CollectionRight::kRead
                                                                    : auth::CollectionRight::kWrite;
    if (auto c = ctx.path_params.find("collection"); c != ctx.path_params.end() && !p.may_use_collection(c->second, right)) {
      fail("forbidden");
      return error_response(collection_not_allowed(p, c->second));
    }
    return std::nullopt;
  }

  // Cross-site request forgery: a page of another site can make the browser send the cookie
  // (SameSite keeps most of it off), but cannot read the CSRF token or forge the Origin.
  static std::optional<HttpResponse> check_cookie_request(const HttpRequest& req, const std::string& token) {
    if (!req.header("upgrade").empty()) {
      const std::string_view origin = req.header("origin");
      const std::size_t scheme = origin.find("://");
      if (scheme == std::string_view::npos || origin.substr(scheme + 3) != req.header("host")) {
        return error_response({ErrorCode::kPermissionDenied,
                               "a WebSocket signed in by the session cookie must come from this server's own pages "
                               "(the Origin does not match the Host)"});
      }
      return std::nullopt;
    }
    if (req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS") return std::nullopt;
    if (req.header("x-csrf-token") == csrf_token_for(token)) return std::nullopt;
    return error_response({ErrorCode::kPermissionDenied,
                           "a request signed in by the session cookie must carry the X-CSRF-Token header that "
                           "/v1/auth/login and /v1/auth/me give (csrf_token)"});
  }

  std::string missing_message() const {
    std::string what = o_.keys ? "an API key" : "a bearer token";
    if (o_.keys && o_.jwks) what = "an API key or your identity provider's token";
    return fmt::format("no credential: send {} as 'Authorization: Bearer <token>' (an administrator creates keys with "
                       "`hearth keys create`; people sign in with POST /v1/auth/login)", what);
  }

  static Error invalid(std::string message, const char* code) {
    Error e{ErrorCode::kUnauthenticated, std::move(message)};
    e.type_override = code;
    return e;
  }

  // The principal a credential stands for: an API key, a sign-in session or a JWT.
  Task<Result<std::shared_ptr<Principal>>> identify(const std::string& credential) {
    const std::int64_t now = unix_now();
    if (o_.users && auth::session_id_of(credential)) co_return session_principal(credential, now);
    if (o_.jwks && looks_like_jwt(credential)) {
      // Verifying may fetch the provider's key set: off the I/O thread.
      auto work = [this, token = credential, now] { return jwt_principal(token, now); };
      co_return co_await run_blocking(*o_.blocking, work);
    }
    if (!o_.keys) co_return invalid("unrecognised bearer token: expected a JWT from the identity provider or a session token",
                                    "invalid_token");
    auto record = o_.keys->verify(credential, now);
    if (!record) co_return invalid(record.error().message, "invalid_api_key");
    o_.keys->touch(record->id, now);
    auto p = principal_of("key", record->id, record->name, record->role);
    p->models = record->models;
    p->collections = record->collections;
    p->rpm = record->rpm;
    p->tpm = record->tpm;
    co_return p;
  }

  Result<std::shared_ptr<Principal>> session_principal(const std::string& token, std::int64_t now) {
    auto s = o_.users->verify_session(token, now);
    if (!s) return invalid(s.error().message, "invalid_session");
    const auth::UserRecord& u = s->user;
    auto p = principal_of("user", "user:" + u.name, u.name, u.role);
    p->models = u.models;
    p->collections = u.collections;
    p->rpm = u.rpm;
    p->tpm = u.tpm;
    return p;
  }

  Result<std::shared_ptr<Principal>> jwt_principal(const std::string& token, std::int64_t now) {
    auto id = o_.jwks->verify(token, *o_.jwt, now);
    if (!id) {
      if (id.error().code == ErrorCode::kUnauthenticated) return invalid(id.error().message, "invalid_token");
      return id.take_error();  // 403 (no role maps) or 503 (the key set cannot be loaded)
    }
    auto p = principal_of("jwt", "oidc:" + id->subject, id->name, id->role);
    p->expires_at = id->expires_at + o_.jwt->clock_skew_s;
    return p;
  }

  void fail(const char* reason) {
    if (o_.metrics) o_.metrics->auth_failure(reason);
  }
  AuthFilterOptions o_;
};

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::string presented_credential(const HttpRequest& request) {
  std::string_view auth = request.header("authorization");
  if (iequals_prefix(auth, "bearer ")) {
    auth.remove_prefix(7);
    while (!auth.empty() && auth.front() == ' ') auth.remove_prefix(1);
    while (!auth.empty() && auth.back() == ' ') auth.remove_suffix(1);
    return std::string(auth);
  }
  return std::string(request.header("x-api-key"));
}

std::string session_cookie(const HttpRequest& request) {
  std::string_view cookies = request.header("cookie");
  const std::string_view name = kSessionCookie;
  while (!cookies.empty()) {
    const std::size_t end = std::min(cookies.find(';'), cookies.size());
    std::string_view pair = cookies.substr(0, end);
    cookies.remove_prefix(std::min(end + 1, cookies.size()));
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
      const std::string token(pair.substr(name.size() + 1));
      // A sign-in session, or the ID token of single sign-on; never an API key.
      return auth::session_id_of(token) || looks_like_jwt(token) ? token : std::string();
    }
  }
  return {};
}

std::string csrf_token_for(const std::string& session_token) {
  return sha256_hex("hearth-csrf\n" + session_token).substr(0, 32);
}

std::string session_cookie_header(const std::string& token, long long max_age_s, bool secure) {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kSessionCookie, token,
                     std::max(0LL, max_age_s), secure ? "; Secure" : "");
}

std::unique_ptr<Middleware> make_auth_middleware(AuthFilterOptions options) {
  return std::make_unique<AuthFilter>(std::move(options));
}

}  // namespace hearth
