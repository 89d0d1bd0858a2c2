#include "server/router.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <map>
#include <string_view>

#include "server/error_mapping.h"

namespace hearth {
namespace {

// A path segment as the client meant it: %XX escapes decoded (browsers send a collection or user
// named 锅炉 as %E9%94%85%E7%82%89). A malformed escape stays as it is.
std::string percent_decoded(std::string_view seg) {
  std::string out;
  out.reserve(seg.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == '%' && i + 2 < seg.size() && hex(seg[i + 1]) >= 0 && hex(seg[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(seg[i + 1]) * 16 + hex(seg[i + 2])));
      i += 2;
    } else {
      out.push_back(seg[i]);
    }
  }
  return out;
}

// Matches a route pattern against a request path segment by segment; {name} captures one segment.
bool match_path(std::string_view pattern, std::string_view path, std::map<std::string, std::string>* params) {
  if (pattern.find('{') == std::string_view::npos) return pattern == path;
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    const std::size_t pe = std::min(pattern.find('/'), pattern.size());
    const std::size_t se = std::min(path.find('/'), path.size());
    const std::string_view pseg = pattern.substr(0, pe), seg = path.substr(0, se);
    if (pseg.size() > 2 && pseg.front() == '{' && pseg.back() == '}') {
      if (seg.empty()) return false;
      if (params) (*params)[std::string(pseg.substr(1, pseg.size() - 2))] = percent_decoded(seg);
    } else if (pseg != seg) {
      return false;
    }
    pattern.remove_prefix(pe);
    path.remove_prefix(se);
  }
  return true;
}

}  // namespace

void Router::add(std::string method, std::string path, Permission permission, Handler handler) {
  routes_.push_back({std::move(method), std::move(path), permission, std::move(handler)});
}

void Router::add_websocket(std::string path, Permission permission, WsHandler handler) {
  ws_routes_.push_back({std::move(path), permission, std::move(handler)});
}

void Router::set_ui_fallback(std::function<bool(const std::string& path)> serves, Handler handler) {
  ui_serves_ = std::move(serves);
  ui_fallback_ = Route{"GET", "ui", Permission::kPublic, std::move(handler)};
}

void Router::use(std::unique_ptr<Middleware> middleware) { middleware_.push_back(std::move(middleware)); }

std::vector<RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_) out.push_back({r.method, r.path, r.permission});
  for (const auto& r : ws_routes_) out.push_back({"WS", r.path, r.permission});
  return out;
}

const WsHandler* Router::websocket_route(const std::string& path) const {
  for (const auto& r : ws_routes_) {
    if (r.path == path) return &r.handler;
  }
  return nullptr;
}

Task<std::optional<HttpResponse>> Router::run_filters(Exchange& ex) const {
  for (const auto& m : middleware_) {
    auto r = co_await m->on_request(ex);
    if (r) co_return r;
  }
  co_return std::nullopt;
}

Task<std::optional<HttpResponse>> Router::admit_upgrade(Exchange& ex) const {
  for (const auto& r : ws_routes_) {
    if (r.path != ex.request().path) continue;
    ex.context().route = r.path;
    ex.context().route_matched = true;
    ex.context().permission = r.permission;
  }
  co_return co_await run_filters(ex);
}

void Router::complete_upgrade(Exchange& ex) const {
  for (auto it = middleware_.rbegin(); it != middleware_.rend(); ++it) (*it)->on_response(ex);
}

Task<> Router::dispatch(Exchange& ex) const {
  // The route first, so that every filter knows what is asked and what it requires.
  const HttpRequest& req = ex.request();
  const Route* match = nullptr;
  bool path_known = false;
  for (const auto& r : routes_) {
    if (!match_path(r.path, req.path, nullptr)) continue;
    path_known = true;
    if (r.method == req.method) {
      match = &r;
      break;
    }
  }
  const bool api_path = req.path == "/v1" || req.path.rfind("/v1/", 0) == 0;
  if (!match && !path_known && ui_fallback_ && req.method == "GET" && !api_path && ui_serves_(req.path)) {
    match = &*ui_fallback_;
  }
  RequestContext& ctx = ex.context();
  if (match) {
    ctx.route = match->path;
    ctx.route_matched = true;
    ctx.permission = match->permission;
    match_path(match->path, req.path, &ctx.path_params);
  } else {
    ctx.route = path_known ? "method_not_allowed" : "unmatched";
  }
  if (auto early = co_await run_filters(ex)) {
    co_await ex.respond(std::move(*early));
  } else if (match) {
    co_await run_handler(*match, ex);
  } else if (path_known) {
    std::string allow;
    for (const auto& r : routes_) {
      if (match_path(r.path, req.path, nullptr)) allow += (allow.empty() ? "" : ", ") + r.method;
    }
    HttpResponse res = error_response(
        Error{ErrorCode::kInvalidArgument, fmt::format("method {} is not allowed on {}", req.method, req.path)});
    res.status = 405;
    res.headers.emplace_back("Allow", allow);
    co_await ex.respond(std::move(res));
  } else {
    co_await ex.respond(error_response(not_found(fmt::format("no route for {} {}", req.method, req.path))));
  }
  for (auto it = middleware_.rbegin(); it != middleware_.rend(); ++it) (*it)->on_response(ex);
}

Task<> Router::run_handler(const Route& route, Exchange& ex) const {
  std::exception_ptr failure;
  try {
    co_await route.handler(ex);
  } catch (...) {
    failure = std::current_exception();
  }
  if (!failure) co_return;
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  spdlog::error("[{}] handler for {} failed: {}", ex.context().request_id, route.path, what);
  if (!ex.responded()) co_await ex.respond(error_response(internal_error("internal error: " + what)));
}

}  // namespace hearth
