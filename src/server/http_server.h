// HttpServer: the Boost.Beast transport (HTTP/1.1 keep-alive, chunked streaming, WebSocket
// upgrade) on C++20 coroutines, in plain TCP or TLS (1.2 and 1.3; then the port speaks only
// https and wss). Each connection runs on its own strand; handlers never see Beast types (see
// Exchange and WsConnection). This and its .cpp are the only Beast code.
//
// Limits: connections over server.max_connections or max_connections_per_ip are accepted and
// closed at once; a request's header must arrive within header_timeout_seconds (also a TLS
// handshake), its body within body_timeout_seconds; an idle keep-alive connection waits
// request_timeout_seconds for the next request.
//
// Threading: listen(), stop_accepting() and reload_tls() from any thread; run() blocks the
// calling threads.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "core/result.h"
#include "models/catalog.h"
#include "server/router.h"

namespace hearth {

class HttpMetrics;

class HttpServer {
 public:
  // With tls.enabled(), every connection is TLS. metrics (optional) counts open and refused
  // connections.
  HttpServer(boost::asio::io_context& ioc, const Router& router, const ServerSettings& settings,
             const TlsSettings& tls = {}, HttpMetrics* metrics = nullptr);
  ~HttpServer();

  // Loads the TLS certificate and key (when on), binds and starts accepting; returns the bound
  // port (useful with port 0).
  Result<int> listen();
  void stop_accepting();
  // Reads the TLS files again: new connections use them, open ones keep the old. On failure
  // (logged, naming the file) the old ones stay in use. A no-op without TLS.
  Status reload_tls();
  int open_connections() const { return connections_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<int> connections_{0};
};

}  // namespace hearth
