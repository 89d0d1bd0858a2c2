// Exchange: what a handler gets for one HTTP request: the request, its context, and a way to
// reply, either at once or as a stream (SSE). Implemented by the Beast transport; tests may
// implement it in memory.
//
// Threading: an Exchange is used only from its connection's strand (the handler coroutine).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http_types.h"

namespace hearth {

template <typename T = void>
using Task = boost::asio::awaitable<T>;

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const HttpRequest& request() const = 0;
  virtual RequestContext& context() = 0;
  virtual boost::asio::any_io_executor executor() = 0;

  // Sends a whole response. Only once per request.
  virtual Task<> respond(HttpResponse response) = 0;
  // Starts a chunked response (e.g. text/event-stream); then write() chunks; then finish().
  // Each returns false once the client is gone.
  virtual Task<bool> begin_stream(int status, std::string content_type,
                                  std::vector<std::pair<std::string, std::string>> headers) = 0;
  virtual Task<bool> write(std::string_view chunk) = 0;
  virtual Task<> finish() = 0;
  // True when the peer has closed its side (checked without consuming pipelined data).
  virtual bool client_gone() = 0;
  virtual bool responded() const = 0;
};

}  // namespace hearth
