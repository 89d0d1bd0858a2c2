// Router: the route table (one line per route, in app.cpp) and the middleware chain every
// request passes through. Envoy-style filters: each may answer the request itself (auth, rate
// limits, draining) or let it continue, and each sees the response on the way out (logs, metrics).
// Threading: built at start-up, then read-only; dispatch() runs on connection strands.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/exchange.h"
#include "server/websocket.h"

namespace hearth {

using Handler = std::function<Task<>(Exchange&)>;
// A WebSocket handler gets the upgrade's Exchange for its request and context (principal,
// request id); it must not respond through it.
using WsHandler = std::function<Task<>(WsConnection&, Exchange&)>;

// A filter. Filters run after the route is matched, so context() names the route and the
// permission it requires. on_request may finish asynchronously (a lookup in Redis, a key fetch)
// without blocking the I/O thread; it returns a response to answer the request here, or nullopt
// to continue. on_response sees every request on its way out (logs, metrics).
class Middleware {
 public:
  virtual ~Middleware() = default;
  virtual Task<std::optional<HttpResponse>> on_request(Exchange&) { co_return std::nullopt; }
  virtual void on_response(Exchange&) {}
};

struct RouteInfo {
  std::string method;  // "GET", ...; "WS" for a WebSocket route
  std::string path;
  Permission permission;
};

class Router {
 public:
  // `path` may hold {name} segments (e.g. /v1/knowledge/collections/{collection}); they match one
  // non-empty segment each and land in context().path_params.
  // Every route declares the permission it requires.
  void add(std::string method, std::string path, Permission permission, Handler handler);
  void add_websocket(std::string path, Permission permission, WsHandler handler);
  void use(std::unique_ptr<Middleware> middleware);
  // GET of a path no route matches, outside the API (/v1/...), that `serves` accepts: the web
  // app's page and files. Public, reported as route "ui".
  void set_ui_fallback(std::function<bool(const std::string& path)> serves, Handler handler);
  // The table, WebSocket routes included (GET /v1/admin/routes; the auth matrix test).
  std::vector<RouteInfo> routes() const;

  Task<> dispatch(Exchange& ex) const;
  const WsHandler* websocket_route(const std::string& path) const;
  // Matches the WebSocket route and runs the request-side filters for its upgrade; a response
  // means "refuse".
  Task<std::optional<HttpResponse>> admit_upgrade(Exchange& ex) const;
  // Runs the response-side filters once an upgraded connection ends (or was refused).
  void complete_upgrade(Exchange& ex) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    Permission permission;
    Handler handler;
  };
  struct WsRoute {
    std::string path;
    Permission permission;
    WsHandler handler;
  };
  Task<std::optional<HttpResponse>> run_filters(Exchange& ex) const;
  Task<> run_handler(const Route& route, Exchange& ex) const;
  std::vector<Route> routes_;
  std::vector<WsRoute> ws_routes_;
  std::vector<std::unique_ptr<Middleware>> middleware_;
  std::optional<Route> ui_fallback_;
  std::function<bool(const std::string&)> ui_serves_;
};

}  // namespace hearth
