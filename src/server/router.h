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
using WsHandler = std::function<Task<>(WsConnection&, const HttpRequest&)>;

class Middleware {
 public:
  virtual ~Middleware() = default;
  // Return a response to answer the request here; nullopt to continue.
  virtual std::optional<HttpResponse> on_request(Exchange&) { return std::nullopt; }
  virtual void on_response(Exchange&) {}
};

class Router {
 public:
  // `path` may hold {name} segments (e.g. /v1/knowledge/collections/{collection}); they match one
  // non-empty segment each and land in context().path_params.
  void add(std::string method, std::string path, Handler handler);
  void add_websocket(std::string path, WsHandler handler);
  void use(std::unique_ptr<Middleware> middleware);

  Task<> dispatch(Exchange& ex) const;
  const WsHandler* websocket_route(const std::string& path) const;
  // Runs the request-side filters for a WebSocket upgrade; a response means "refuse".
  std::optional<HttpResponse> admit_upgrade(Exchange& ex) const;
  // Runs the response-side filters once an upgraded connection ends (or was refused).
  void complete_upgrade(Exchange& ex) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    Handler handler;
  };
  std::vector<Route> routes_;
  std::vector<std::pair<std::string, WsHandler>> ws_routes_;
  std::vector<std::unique_ptr<Middleware>> middleware_;
};

}  // namespace hearth
