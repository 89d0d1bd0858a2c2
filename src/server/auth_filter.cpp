#include "server/auth_filter.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "auth/key_store.h"
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
    const std::string key = presented_credential(ex.request());
    if (key.empty()) {
      fail("missing");
      co_return unauthenticated("no API key: send one as 'Authorization: Bearer <key>' (an administrator creates keys "
                                "with `hearth keys create`)", "missing_api_key");
    }
    auto record = o_.keys->verify(key, unix_now());
    if (!record) {
      fail("invalid");
      spdlog::warn("[{}] {} {} {}: {}", ctx.request_id, ex.request().remote, ex.request().method, ex.request().path,
                   record.error().message);
      co_return unauthenticated(record.error().message, "invalid_api_key");
    }
    auto p = std::make_shared<Principal>();
    p->kind = "key";
    p->id = record->id;
    p->name = record->name;
    p->role = record->role;
    p->models = record->models;
    p->collections = record->collections;
    p->rpm = record->rpm;
    p->tpm = record->tpm;
    const PermissionSet* perms = o_.roles->find(record->role);
    if (perms) p->permissions = *perms;
    ctx.principal = p;
    o_.keys->touch(record->id, unix_now());
    if (!perms) {
      fail("forbidden");
      co_return error_response({ErrorCode::kPermissionDenied,
                                fmt::format("key {} has role '{}', which this server does not define ([auth.roles])",
                                            p->id, p->role)});
    }
    if (!ctx.route_matched) co_return std::nullopt;  // 404 or 405 follows
    if (!p->may(ctx.permission)) {
      fail("forbidden");
      co_return error_response({ErrorCode::kPermissionDenied,
                                fmt::format("{} lacks the permission '{}' that {} {} requires", p->describe(),
                                            permission_name(ctx.permission), ex.request().method, ctx.route)});
    }
    if (auto c = ctx.path_params.find("collection"); c != ctx.path_params.end() && !p->may_use_collection(c->second)) {
      fail("forbidden");
      co_return error_response(collection_not_allowed(*p, c->second));
    }
    co_return std::nullopt;
  }

 private:
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

std::unique_ptr<Middleware> make_auth_middleware(AuthFilterOptions options) {
  return std::make_unique<AuthFilter>(std::move(options));
}

}  // namespace hearth
