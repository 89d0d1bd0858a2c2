// Sign-in for people (the web app): POST /v1/auth/login gives a session token for a user name and
// password (Argon2id), /v1/auth/logout ends it, /v1/auth/me says who the caller is (any
// credential). Admins manage users under /v1/admin/users. Sessions are checked by the auth filter
// like API keys ("Authorization: Bearer hs-...").
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/user_store.h"
#include "server/api.h"
#include "server/async_util.h"
#include "server/audit_filter.h"
#include "server/auth_filter.h"
#include "server/error_mapping.h"

namespace hearth {
using json = nlohmann::json;

namespace {

json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

json user_json(const auth::UserRecord& u) {
  return {{"object", "user"},         {"id", u.id},
          {"name", u.name},           {"role", u.role},
          {"models", u.models},       {"collections", u.collections},
          {"rpm", u.rpm},             {"tpm", u.tpm},
          {"created_at", u.created_at}, {"disabled_at", opt(u.disabled_at)},
          {"last_login_at", opt(u.last_login_at)}};
}

json session_json(const auth::NewSession& s) {
  return {{"object", "session"},
          {"token", s.token},
          {"session_id", s.session.session_id},
          {"expires_at", s.session.expires_at},
          {"user", user_json(s.session.user)}};
}

json me_json(const Principal& p) {
  json perms = json::array();
  for (std::size_t i = 1; i < static_cast<std::size_t>(Permission::kCount); ++i) {
    if (p.permissions.test(i)) perms.push_back(permission_name(static_cast<Permission>(i)));
  }
  return {{"object", "principal"}, {"kind", p.kind},     {"id", p.id},
          {"name", p.name},         {"role", p.role},    {"permissions", perms},
          {"models", p.models},     {"collections", p.collections}};
}

Result<auth::UserStore*> users(ApiContext& api) {
  if (!api.users) return invalid_argument("sign-in is off on this server (auth.mode = \"none\")");
  return api.users;
}

Result<std::string> string_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
    return invalid_argument(fmt::format("'{}' is required (a non-empty string)", key), key);
  }
  return it->get<std::string>();
}

Status only_fields(const json& body, std::initializer_list<const char*> known) {
  if (!body.is_object()) return invalid_argument("the request body must be a JSON object", "body");
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return it.key() == k; })) {
      return invalid_argument(fmt::format("unknown field '{}'", it.key()), it.key());
    }
  }
  return {};
}

Result<auth::UserSpec> user_spec(const ApiContext& api, const json& body) {
  HEARTH_TRY(only_fields(body, {"name", "role", "password", "models", "collections", "rpm", "tpm"}));
  auth::UserSpec spec;
  for (auto [key, out] : {std::pair{"name", &spec.name}, {"role", &spec.role}, {"password", &spec.password}}) {
    auto v = string_field(body, key);
    if (!v) return v.take_error();
    *out = std::move(*v);
  }
  if (!api.roles->find(spec.role)) return invalid_argument(fmt::format("unknown role '{}'", spec.role), "role");
  for (auto [key, out] : {std::pair{"models", &spec.models}, {"collections", &spec.collections}}) {
    if (auto it = body.find(key); it != body.end()) {
      if (!it->is_array()) return invalid_argument(fmt::format("'{}' must be an array of strings", key), key);
      for (const auto& v : *it) {
        if (!v.is_string()) return invalid_argument(fmt::format("'{}' must be an array of strings", key), key);
        out->push_back(v.get<std::string>());
      }
    }
  }
  for (auto [key, out] : {std::pair{"rpm", &spec.rpm}, {"tpm", &spec.tpm}}) {
    if (auto it = body.find(key); it != body.end()) {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 1'000'000'000) {
        return invalid_argument(fmt::format("'{}' must be a non-negative integer", key), key);
      }
      *out = it->get<int>();
    }
  }
  return spec;
}

// Runs `fn(store)` on the blocking pool (Argon2id takes tens of milliseconds) and answers with
// `status` and render(result).
template <typename F, typename Render>
Task<> answer(ApiContext& api, Exchange& ex, int status, F& fn, Render render) {
  auto store = users(api);
  if (!store) co_return co_await ex.respond(error_response(store.error()));
  auto work = [s = *store, &fn] { return fn(*s); };
  auto out = co_await run_blocking(api.blocking, work);
  if (!out) co_return co_await ex.respond(error_response(out.error()));
  co_await ex.respond(json_response(status, render(*out).dump(-1, ' ', false, json::error_handler_t::replace)));
}

// The response to a successful sign-in. With "session": "cookie" (the web app) the token goes
// only into an HttpOnly cookie, and the body carries the CSRF token the page must echo instead.
HttpResponse login_response(const ApiContext& api, const auth::NewSession& s, bool cookie) {
  json body = session_json(s);
  HttpResponse res = json_response(200, "");
  if (cookie) {
    body.erase("token");
    body["csrf_token"] = csrf_token_for(s.token);
    res.headers.emplace_back("Set-Cookie", session_cookie_header(s.token, s.session.expires_at - unix_time_now(),
                                                                 api.config.tls.enabled()));
  }
  res.headers.emplace_back("Cache-Control", "no-store");
  res.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return res;
}

}  // namespace

Task<> handle_auth_login(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  Status fields = only_fields(*body, {"username", "password", "session"});
  auto name = string_field(*body, "username");
  auto password = string_field(*body, "password");
  if (!fields || !name || !password) {
    const Error e = !fields ? fields.error() : !name ? name.error() : password.error();
    co_return co_await ex.respond(error_response(e));
  }
  const json mode = body->value("session", json("token"));
  if (mode != "token" && mode != "cookie") {
    co_return co_await ex.respond(error_response(invalid_argument("'session' must be \"token\" or \"cookie\"", "session")));
  }
  ex.context().principal.reset();
  auto store = users(api);
  if (!store) co_return co_await ex.respond(error_response(store.error()));
  auto work = [s = *store, n = *name, pw = *password, ip = client_ip_of(ex.request().remote),
               agent = std::string(ex.request().header("user-agent"))] {
    return s->login(n, pw, unix_time_now(), 0, ip, agent);
  };
  auto session = co_await run_blocking(api.blocking, work);
  if (!session) co_return co_await ex.respond(error_response(session.error()));
  co_await ex.respond(login_response(api, *session, mode == "cookie"));
}

Task<> handle_auth_logout(ApiContext& api, Exchange& ex) {
  std::string token = presented_credential(ex.request());
  const bool cookie = token.empty() && !(token = session_cookie(ex.request())).empty();
  if (cookie && !auth::session_id_of(token)) {  // single sign-on: the ID token cannot be revoked, only forgotten
    HttpResponse res = json_response(200, R"({"object":"session","signed_out":true})");
    res.headers.emplace_back("Set-Cookie", session_cookie_header("", 0, api.config.tls.enabled()));
    co_return co_await ex.respond(std::move(res));
  }
  if (!auth::session_id_of(token)) {
    co_return co_await ex.respond(error_response(invalid_argument("only a sign-in session can sign out (this credential "
                                                                  "is not one)")));
  }
  auto store = users(api);
  if (!store) co_return co_await ex.respond(error_response(store.error()));
  auto work = [s = *store, token]() -> Status { return s->logout(token, unix_time_now()); };
  auto out = co_await run_blocking(api.blocking, work);
  if (!out) co_return co_await ex.respond(error_response(out.error()));
  HttpResponse res = json_response(200, R"({"object":"session","signed_out":true})");
  if (cookie) res.headers.emplace_back("Set-Cookie", session_cookie_header("", 0, api.config.tls.enabled()));
  co_await ex.respond(std::move(res));
}

// Who the caller is; for the web app also the server's sign-in mode and, when the session cookie
// signed the request in, the CSRF token its changes must carry.
Task<> handle_auth_me(ApiContext& api, Exchange& ex) {
  json me = me_json(caller(ex));
  me["auth_mode"] = api.config.auth.mode;
  if (presented_credential(ex.request()).empty()) {
    if (std::string cookie = session_cookie(ex.request()); !cookie.empty()) me["csrf_token"] = csrf_token_for(cookie);
  }
  HttpResponse res = json_response(200, me.dump(-1, ' ', false, json::error_handler_t::replace));
  res.headers.emplace_back("Cache-Control", "no-store");
  co_await ex.respond(std::move(res));
}

// How people may sign in here (public: the sign-in page asks before anyone is signed in).
Task<> handle_auth_providers(ApiContext& api, Exchange& ex) {
  const json body = {{"object", "auth.providers"},
                     {"auth_mode", api.config.auth.mode},
                     {"password", api.users != nullptr},
                     {"oidc", api.config.auth.oidc.enabled()
                                  ? json{{"name", api.config.auth.oidc.name}, {"login_url", "/v1/auth/oidc/start"}}
                                  : json(nullptr)}};
  co_await ex.respond(json_response(200, body.dump()));
}

Task<> handle_admin_list_users(ApiContext& api, Exchange& ex) {
  auto fn = [](auth::UserStore& s) { return s.list(); };
  co_await answer(api, ex, 200, fn, [](const std::vector<auth::UserRecord>& list) {
    json data = json::array();
    for (const auto& u : list) data.push_back(user_json(u));
    return json{{"object", "list"}, {"data", std::move(data)}};
  });
}

Task<> handle_admin_create_user(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  auto spec = user_spec(api, *body);
  if (!spec) co_return co_await ex.respond(error_response(spec.error()));
  auto fn = [sp = *spec](auth::UserStore& s) { return s.create(sp, unix_time_now()); };
  co_await answer(api, ex, 201, fn, user_json);
}

Task<> handle_admin_disable_user(ApiContext& api, Exchange& ex) {
  auto fn = [who = ex.context().path_params["user"]](auth::UserStore& s) { return s.disable(who, unix_time_now()); };
  co_await answer(api, ex, 200, fn, user_json);
}

Task<> handle_admin_set_password(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  Status fields = only_fields(*body, {"password"});
  auto password = string_field(*body, "password");
  if (!fields || !password) co_return co_await ex.respond(error_response(!fields ? fields.error() : password.error()));
  auto fn = [who = ex.context().path_params["user"], pw = *password](auth::UserStore& s) {
    return s.set_password(who, pw, unix_time_now());
  };
  co_await answer(api, ex, 200, fn, user_json);
}

}  // namespace hearth
