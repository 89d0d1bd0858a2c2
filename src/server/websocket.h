// WsConnection: a WebSocket as handlers see it (text messages in and out), so protocol logic
// stays out of the Beast transport. One read and any number of write() calls may be pending at
// once; writes are sent in order. Threading: used only on the connection's strand.
#pragma once

#include <optional>
#include <string>

#include "server/exchange.h"

namespace hearth {

class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // The next text message, or nullopt once the peer closed or the connection failed.
  virtual Task<std::optional<std::string>> read() = 0;
  // False once the connection is gone.
  virtual Task<bool> write(std::string text) = 0;
  // Sends a close frame ("going away"); a pending read() then returns nullopt.
  virtual Task<> close() = 0;
  virtual boost::asio::any_io_executor executor() = 0;
  virtual std::string request_id() const = 0;
};

}  // namespace hearth
