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
      if (params) (*params)[std::string(pseg.substr(1, pseg.size() - 2))] = std::string(seg);
    } else if (pseg != seg) {
      return false;
    }
    pattern.remove_prefix(pe);
    path.remove_prefix(se);
  }
  return true;
}

}  // namespace

void Router::add(std::string method, std::string path, Handler handler) {
  routes_.push_back({std::move(method), std::move(path), std::move(handler)});
}

void Router::add_websocket(std::string path, WsHandler handler) {
  ws_routes_.emplace_back(std::move(path), std::move(handler));
}

void Router::use(std::unique_ptr<Middleware> middleware) { middleware_.push_back(std::move(middleware)); }

const WsHandler* Router::websocket_route(const std::string& path) const {
  for (const auto& [p, h] : ws_routes_) {
    if (p == path) return &h;
  }
  return nullptr;
}

std::optional<HttpResponse> Router::admit_upgrade(Exchange& ex) const {
  for (const auto& m : middleware_) {
    if (auto r = m->on_request(ex)) return r;
  }
  return std::nullopt;
}

void Router::complete_upgrade(Exchange& ex) const {
  for (auto it = middleware_.rbegin(); it != middleware_.rend(); ++it) (*it)->on_response(ex);
}

Task<> Router::dispatch(Exchange& ex) const {
  std::optional<HttpResponse> early;
  for (const auto& m : middleware_) {
    early = m->on_request(ex);
    if (early) break;
  }
  if (early) {
    co_await ex.respond(std::move(*early));
  } else {
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
    if (match) {
      ex.context().route = match->path;
      match_path(match->path, req.path, &ex.context().path_params);
      std::exception_ptr failure;
      try {
        co_await match->handler(ex);
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("[{}] handler for {} failed: {}", ex.context().request_id, match->path, what);
        if (!ex.responded()) co_await ex.respond(error_response(internal_error("internal error: " + what)));
      }
    } else if (path_known) {
      ex.context().route = "method_not_allowed";
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
      ex.context().route = "unmatched";
      co_await ex.respond(error_response(not_found(fmt::format("no route for {} {}", req.method, req.path))));
    }
  }
  for (auto it = middleware_.rbegin(); it != middleware_.rend(); ++it) (*it)->on_response(ex);
}

}  // namespace hearth
