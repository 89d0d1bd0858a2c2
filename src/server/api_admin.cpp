// /v1/admin: the route table with each route's permission, and API keys (list, create, revoke).
// Every route here requires an admin permission (server.read, keys.manage) in the route table.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/key_store.h"
#include "server/api.h"
#include "server/async_util.h"
#include "server/error_mapping.h"

namespace hearth {
using json = nlohmann::json;

namespace {

// (Built outside the coroutines: g++ 12 mishandles braced JSON initializers inside them.)
json route_json(const RouteInfo& r) {
  return {{"method", r.method}, {"path", r.path}, {"permission", permission_name(r.permission)}};
}

std::string list_of(json data) { return json{{"object", "list"}, {"data", std::move(data)}}.dump(); }

json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

json key_json(const auth::KeyRecord& k) {
  return {{"object", "api_key"}, {"id", k.id},       {"name", k.name},         {"role", k.role},
          {"models", k.models},  {"collections", k.collections}, {"rpm", k.rpm}, {"tpm", k.tpm},
          {"created_at", k.created_at}, {"expires_at", opt(k.expires_at)}, {"revoked_at", opt(k.revoked_at)},
          {"last_used_at", opt(k.last_used_at)}};
}

Result<auth::KeyStore*> key_store(ApiContext& api) {
  if (!api.keys) {
    return invalid_argument("API keys are off on this server (auth.mode = \"none\"); set [auth] mode = \"keys\"");
  }
  return api.keys;
}

Status read_strings(const json& body, const char* key, std::vector<std::string>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_array()) return invalid_argument(fmt::format("'{}' must be an array of strings", key), key);
  for (const auto& v : *it) {
    if (!v.is_string() || v.get<std::string>().empty()) {
      return invalid_argument(fmt::format("'{}' must be an array of non-empty strings", key), key);
    }
    out.push_back(v.get<std::string>());
  }
  return {};
}

Status read_int(const json& body, const char* key, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi) {
    return invalid_argument(fmt::format("'{}' must be an integer from {} to {}", key, lo, hi), key);
  }
  out = it->get<std::int64_t>();
  return {};
}

Result<auth::KeySpec> key_spec(const ApiContext& api, const json& body) {
  if (!body.is_object()) return invalid_argument("the request body must be a JSON object", "body");
  static const std::set<std::string> known = {"name", "role", "models", "collections", "rpm", "tpm", "expires_at"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (!known.count(it.key())) return invalid_argument(fmt::format("unknown field '{}'", it.key()), it.key());
  }
  auth::KeySpec spec;
  for (const char* k : {"name", "role"}) {
    auto it = body.find(k);
    if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
      return invalid_argument(fmt::format("'{}' is required (a non-empty string)", k), k);
    }
    (std::string_view(k) == "name" ? spec.name : spec.role) = it->get<std::string>();
  }
  if (!api.roles->find(spec.role)) {
    std::string roles;
    for (const auto& r : api.roles->names()) roles += (roles.empty() ? "" : ", ") + r;
    return invalid_argument(fmt::format("unknown role '{}' (this server's roles: {})", spec.role, roles), "role");
  }
  HEARTH_TRY(read_strings(body, "models", spec.models));
  HEARTH_TRY(read_strings(body, "collections", spec.collections));
  std::int64_t rpm = 0, tpm = 0, expires = 0;
  HEARTH_TRY(read_int(body, "rpm", 0, 1'000'000, rpm));
  HEARTH_TRY(read_int(body, "tpm", 0, 1'000'000'000, tpm));
  HEARTH_TRY(read_int(body, "expires_at", unix_time_now() + 1, std::int64_t{1} << 40, expires));
  spec.rpm = static_cast<int>(rpm);
  spec.tpm = static_cast<int>(tpm);
  if (expires) spec.expires_at = expires;
  return spec;
}

}  // namespace

Task<> handle_admin_routes(ApiContext& api, Exchange& ex) {
  json data = json::array();
  for (const RouteInfo& r : api.routes) data.push_back(route_json(r));
  co_await ex.respond(json_response(200, list_of(std::move(data))));
}

Task<> handle_admin_list_keys(ApiContext& api, Exchange& ex) {
  auto store = key_store(api);
  if (!store) co_return co_await ex.respond(error_response(store.error()));
  // Named callables: g++ 12 mis-destroys temporaries that own memory inside co_await (async_util.h).
  auto work = [s = *store] { return s->list(); };
  auto keys = co_await run_blocking(api.blocking, work);
  if (!keys) co_return co_await ex.respond(error_response(keys.error()));
  json data = json::array();
  for (const auto& k : *keys) data.push_back(key_json(k));
  co_await ex.respond(json_response(200, list_of(std::move(data))));
}

Task<> handle_admin_create_key(ApiContext& api, Exchange& ex) {
  auto store = key_store(api);
  if (!store) co_return co_await ex.respond(error_response(store.error()));
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  auto spec = key_spec(api, *body);
  if (!spec) co_return co_await ex.respond(error_response(spec.error()));
  auto work = [s = *store, sp = *spec] { return s->create(sp, unix_time_now()); };
  auto made = co_await run_blocking(api.blocking, work);
  if (!made) co_return co_await ex.respond(error_response(made.error()));
  json out = key_json(made->record);
  out["key"] = made->key;  // shown once; only its keyed hash is stored
  co_await ex.respond(json_response(201, out.dump()));
}

Task<> handle_admin_revoke_key(ApiContext& api, Exchange& ex) {
  auto store = key_store(api);
  if (!store) co_return co_await ex.respond(error_response(store.error()));
  auto work = [s = *store, id = ex.context().path_params["key"]] { return s->revoke(id, unix_time_now()); };
  auto revoked = co_await run_blocking(api.blocking, work);
  if (!revoked) co_return co_await ex.respond(error_response(revoked.error()));
  co_await ex.respond(json_response(200, key_json(*revoked).dump()));
}

}  // namespace hearth
