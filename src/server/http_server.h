// HttpServer: the Boost.Beast transport (HTTP/1.1 keep-alive, chunked streaming, WebSocket
// upgrade) on C++20 coroutines. Each connection runs on its own strand; handlers never see
// Beast types (see Exchange and WsConnection). This and its .cpp are the only Beast code.
//
// Threading: listen() and stop_accepting() from any thread; run() blocks the calling threads.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "core/result.h"
#include "models/catalog.h"
#include "server/router.h"

namespace hearth {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, const Router& router, const ServerSettings& settings);
  ~HttpServer();

  // Binds and starts accepting; returns the bound port (useful with port 0).
  Result<int> listen();
  void stop_accepting();
  int open_connections() const { return connections_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<int> connections_{0};
};

}  // namespace hearth
