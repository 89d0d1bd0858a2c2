#include "server/http_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cctype>
#include <deque>

#include "server/error_mapping.h"
#include "server/middleware.h"

namespace hearth {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
constexpr auto kTuple = asio::as_tuple(use_awaitable);

namespace {

HttpRequest to_request(const http::request<http::string_body>& r, const std::string& remote) {
  HttpRequest out;
  out.method = std::string(r.method_string());
  out.target = std::string(r.target());
  const auto q = out.target.find('?');
  out.path = out.target.substr(0, q);
  if (q != std::string::npos) out.query = out.target.substr(q + 1);
  for (const auto& f : r) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  out.body = r.body();
  out.remote = remote;
  return out;
}

bool peer_closed(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return false;
}

// Exchange over a Beast stream.
class BeastExchange final : public Exchange {
 public:
  BeastExchange(beast::tcp_stream& stream, HttpRequest req, unsigned version, bool keep_alive,
                std::chrono::seconds timeout)
      : stream_(stream), req_(std::move(req)), version_(version), keep_alive_(keep_alive), timeout_(timeout) {}

  const HttpRequest& request() const override { return req_; }
  RequestContext& context() override { return ctx_; }
  asio::any_io_executor executor() override { return stream_.get_executor(); }
  bool responded() const override { return responded_; }
  bool keep_alive() const { return keep_alive_ && !broken_; }

  Task<> respond(HttpResponse r) override {
    if (responded_) co_return;
    responded_ = true;
    http::response<http::string_body> res{static_cast<http::status>(r.status), version_};
    res.set(http::field::server, "hearth");
    res.set(http::field::content_type, r.content_type);
    if (!ctx_.request_id.empty()) res.set("X-Request-Id", ctx_.request_id);
    for (auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive_);
    res.body() = std::move(r.body);
    res.prepare_payload();
    ctx_.status = r.status;
    ctx_.bytes_out = res.body().size();
    stream_.expires_after(timeout_);
    auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
    if (ec) broken_ = true;
  }

  Task<bool> begin_stream(int status, std::string content_type,
                          std::vector<std::pair<std::string, std::string>> headers) override {
    if (responded_) co_return false;
    responded_ = true;
    ctx_.status = status;
    ctx_.streamed = true;
    http::response<http::empty_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::server, "hearth");
    res.set(http::field::content_type, content_type);
    if (!ctx_.request_id.empty()) res.set("X-Request-Id", ctx_.request_id);
    for (auto& [k, v] : headers) res.set(k, v);
    res.keep_alive(keep_alive_);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    stream_.expires_after(timeout_);
    auto [ec, n] = co_await http::async_write_header(stream_, sr, kTuple);
    if (ec) broken_ = true;
    co_return !broken_;
  }

  Task<bool> write(std::string_view chunk) override {
    if (broken_) co_return false;
    if (chunk.empty()) co_return true;
    stream_.expires_after(timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk(asio::buffer(chunk.data(), chunk.size())), kTuple);
    if (ec) broken_ = true;
    ctx_.bytes_out += chunk.size();
    co_return !broken_;
  }

  Task<> finish() override {
    if (broken_) co_return;
    stream_.expires_after(timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), kTuple);
    if (ec) broken_ = true;
  }

  bool client_gone() override { return broken_ || peer_closed(stream_.socket().native_handle()); }

 private:
  beast::tcp_stream& stream_;
  HttpRequest req_;
  RequestContext ctx_;
  unsigned version_;
  bool keep_alive_;
  std::chrono::seconds timeout_;
  bool responded_ = false;
  bool broken_ = false;
};

// WsConnection over a Beast websocket stream; writes are queued and sent one at a time.
class BeastWs final : public WsConnection {
 public:
  BeastWs(websocket::stream<beast::tcp_stream>& ws, std::string request_id)
      : ws_(ws), request_id_(std::move(request_id)), wake_(ws.get_executor()) {}

  Task<std::optional<std::string>> read() override {
    beast::flat_buffer buf;
    auto [ec, n] = co_await ws_.async_read(buf, kTuple);
    if (ec) {
      closed_ = true;
      co_return std::nullopt;
    }
    co_return beast::buffers_to_string(buf.data());
  }

  Task<bool> write(std::string text) override {
    // A simple async mutex: wait while another write is in flight (same strand, so no data race).
    while (writing_ && !closed_) {
      wake_.expires_after(std::chrono::seconds(1));
      co_await wake_.async_wait(kTuple);
    }
    if (closed_) co_return false;
    writing_ = true;
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(text), kTuple);
    writing_ = false;
    wake_.cancel();
    if (ec) closed_ = true;
    co_return !closed_;
  }

  Task<> close() override {
    while (writing_ && !closed_) {
      wake_.expires_after(std::chrono::seconds(1));
      co_await wake_.async_wait(kTuple);
    }
    if (closed_) co_return;
    writing_ = true;
    // Do not wait long for the peer's half of the close handshake: we are shutting down.
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::server);
    t.handshake_timeout = std::chrono::seconds(1);
    ws_.set_option(t);
    auto [ec] = co_await ws_.async_close(websocket::close_code::going_away, kTuple);
    (void)ec;
    writing_ = false;
    closed_ = true;
    wake_.cancel();
  }

  asio::any_io_executor executor() override { return ws_.get_executor(); }
  std::string request_id() const override { return request_id_; }

 private:
  websocket::stream<beast::tcp_stream>& ws_;
  std::string request_id_;
  asio::steady_timer wake_;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace

struct HttpServer::Impl {
  asio::io_context& ioc;
  const Router& router;
  const ServerSettings& settings;
  tcp::acceptor acceptor;
  std::atomic<int>& connections;

  Impl(asio::io_context& io, const Router& r, const ServerSettings& s, std::atomic<int>& c)
      : ioc(io), router(r), settings(s), acceptor(io), connections(c) {}

  Task<> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        continue;
      }
      // Streams are many small writes: never hold one back waiting for the previous ACK (Nagle).
      beast::error_code nd_ec;
      socket.set_option(tcp::no_delay(true), nd_ec);
      asio::co_spawn(socket.get_executor(), session(std::move(socket)), asio::detached);
    }
  }

  // Answers a request we will not read fully (413, 400) and closes the connection, draining what
  // the client still sends so that it sees the answer instead of a reset.
  Task<> refuse_and_close(beast::tcp_stream& stream, http::status status, const Error& err, unsigned version) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "hearth");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = error_body(err);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(10));
    co_await http::async_write(stream, res, kTuple);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    char sink[65536];
    std::size_t drained = 0;
    stream.expires_after(std::chrono::seconds(5));
    while (drained < 4 * settings.max_body_bytes + (1u << 20)) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      drained += n;
    }
  }

  Task<> session(tcp::socket socket) {
    ++connections;
    struct Guard {
      std::atomic<int>& c;
      ~Guard() { --c; }
    } guard{connections};
    beast::error_code ec0;
    const auto ep = socket.remote_endpoint(ec0);
    const std::string remote = ec0 ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    const auto timeout = std::chrono::seconds(settings.request_timeout_seconds);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(settings.max_body_bytes);
      parser.header_limit(64 * 1024);
      stream.expires_after(timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
        break;
      }
      if (ec == http::error::body_limit) {
        Error e{ErrorCode::kPayloadTooLarge,
                fmt::format("the request body is larger than the limit of {} bytes", settings.max_body_bytes)};
        co_await refuse_and_close(stream, http::status::payload_too_large, e, 11);
        break;
      }
      if (ec) {
        Error e = invalid_argument(fmt::format("malformed HTTP request: {}", ec.message()));
        co_await refuse_and_close(stream, http::status::bad_request, e, 11);
        break;
      }
      auto& raw = parser.get();
      if (websocket::is_upgrade(raw)) {
        co_await upgrade(std::move(stream), parser.release(), remote);
        co_return;
      }
      BeastExchange ex(stream, to_request(raw, remote), raw.version(), raw.keep_alive(), timeout);
      co_await router.dispatch(ex);
      if (!ex.responded()) co_await ex.respond(error_response(internal_error("the handler sent no response")));
      if (!ex.keep_alive()) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  Task<> upgrade(beast::tcp_stream stream, http::request<http::string_body> raw, std::string remote) {
    HttpRequest req = to_request(raw, remote);
    const WsHandler* handler = router.websocket_route(req.path);
    BeastExchange ex(stream, req, raw.version(), false, std::chrono::seconds(30));
    if (!handler) {
      co_await ex.respond(error_response(not_found(fmt::format("no WebSocket route for {}", req.path))));
      co_return;
    }
    if (auto refusal = co_await router.admit_upgrade(ex)) {
      co_await ex.respond(std::move(*refusal));
      router.complete_upgrade(ex);
      co_return;
    }
    ex.context().status = 101;
    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.read_message_max(settings.max_body_bytes);
    const std::string request_id = ex.context().request_id;
    ws.set_option(websocket::stream_base::decorator([request_id](websocket::response_type& res) {
      res.set(http::field::server, "hearth");
      res.set("X-Request-Id", request_id);
    }));
    auto [ec] = co_await ws.async_accept(raw, kTuple);
    if (ec) {
      router.complete_upgrade(ex);
      co_return;
    }
    spdlog::info("[{}] {} websocket {} opened", request_id, remote, req.path);
    BeastWs conn(ws, request_id);
    co_await (*handler)(conn, ex);
    if (ws.is_open()) {
      auto [cec] = co_await ws.async_close(websocket::close_code::normal, kTuple);
      (void)cec;
    }
    router.complete_upgrade(ex);
  }
};

HttpServer::HttpServer(asio::io_context& ioc, const Router& router, const ServerSettings& settings)
    : impl_(std::make_unique<Impl>(ioc, router, settings, connections_)) {}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::listen() {
  beast::error_code ec;
  const auto addr = asio::ip::make_address(impl_->settings.host, ec);
  if (ec) return invalid_argument(fmt::format("server.host '{}' is not an IP address", impl_->settings.host), "host");
  const tcp::endpoint ep(addr, static_cast<unsigned short>(impl_->settings.port));
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return unavailable(fmt::format("cannot listen on {}:{}: {}", impl_->settings.host, impl_->settings.port, ec.message()));
  const int port = a.local_endpoint().port();
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  return port;
}

void HttpServer::stop_accepting() {
  asio::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
}

}  // namespace hearth
