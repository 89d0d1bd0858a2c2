#include "server/http_server.h"
#include "core/openssl_error.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cctype>
#include <map>
#include <mutex>
#include <utility>

#include "server/error_mapping.h"
#include "server/metrics.h"
#include "server/middleware.h"

namespace hearth {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
constexpr auto kTuple = asio::as_tuple(use_awaitable);

namespace {

// The two transports; the session code below is written once for both.
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
template <typename Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// The TCP layer under a stream (deadlines, the socket).
template <typename Stream>
beast::tcp_stream& tcp_of(Stream& s) {
  return beast::get_lowest_layer(s);
}

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

// Exchange over a Beast stream (plain or TLS). `hsts`: the Strict-Transport-Security value to
// send, or empty.
template <typename Stream>
class BeastExchange final : public Exchange {
 public:
  BeastExchange(Stream& stream, HttpRequest req, unsigned version, bool keep_alive, std::chrono::seconds timeout,
                const std::string& hsts)
      : stream_(stream), executor_(stream.get_executor()), fd_(tcp_of(stream).socket().native_handle()),
        req_(std::move(req)), version_(version), keep_alive_(keep_alive), timeout_(timeout), hsts_(hsts) {}

  const HttpRequest& request() const override { return req_; }
  RequestContext& context() override { return ctx_; }
  asio::any_io_executor executor() override { return executor_; }
  bool responded() const override { return responded_; }
  bool keep_alive() const { return keep_alive_ && !broken_; }

  Task<> respond(HttpResponse r) override {
    if (responded_) co_return;
    responded_ = true;
    ctx_.run_before_last_write();
    http::response<http::string_body> res{static_cast<http::status>(r.status), version_};
    decorate(res, r.content_type, r.headers);
    res.body() = std::move(r.body);
    res.prepare_payload();
    ctx_.status = r.status;
    ctx_.bytes_out = res.body().size();
    tcp_of(stream_).expires_after(timeout_);
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
    decorate(res, content_type, headers);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    tcp_of(stream_).expires_after(timeout_);
    auto [ec, n] = co_await http::async_write_header(stream_, sr, kTuple);
    if (ec) broken_ = true;
    co_return !broken_;
  }

  Task<bool> write(std::string_view chunk) override {
    if (broken_) co_return false;
    if (chunk.empty()) co_return true;
    tcp_of(stream_).expires_after(timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk(asio::buffer(chunk.data(), chunk.size())), kTuple);
    if (ec) broken_ = true;
    ctx_.bytes_out += chunk.size();
    co_return !broken_;
  }

  Task<> finish() override {
    ctx_.run_before_last_write();
    if (broken_) co_return;
    tcp_of(stream_).expires_after(timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), kTuple);
    if (ec) broken_ = true;
  }

  bool client_gone() override { return broken_ || peer_closed(fd_); }

 private:
  template <typename Response>
  void decorate(Response& res, const std::string& content_type,
                const std::vector<std::pair<std::string, std::string>>& headers) {
    res.set(http::field::server, "hearth");
    res.set(http::field::content_type, content_type);
    if (!hsts_.empty()) res.set(http::field::strict_transport_security, hsts_);
    if (!ctx_.request_id.empty()) res.set("X-Request-Id", ctx_.request_id);
    for (auto& [k, v] : headers) {
      if (boost::beast::iequals(k, "set-cookie")) res.insert(k, v);  // several cookies are several headers
      else res.set(k, v);
    }
    res.keep_alive(keep_alive_);
  }

  Stream& stream_;
  asio::any_io_executor executor_;  // kept: a WebSocket upgrade moves the stream away
  int fd_;
  HttpRequest req_;
  RequestContext ctx_;
  unsigned version_;
  bool keep_alive_;
  std::chrono::seconds timeout_;
  std::string hsts_;
  bool responded_ = false;
  bool broken_ = false;
};

// WsConnection over a Beast websocket stream; writes are queued and sent one at a time.
template <typename Stream>
class BeastWs final : public WsConnection {
 public:
  BeastWs(websocket::stream<Stream>& ws, std::string request_id)
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
  websocket::stream<Stream>& ws_;
  std::string request_id_;
  asio::steady_timer wake_;
  bool writing_ = false;
  bool closed_ = false;
};

// A server context from the [tls] files: TLS 1.2+ (1.0, 1.1 and SSL refused), ECDHE with AES-GCM
// or ChaCha20-Poly1305 for 1.2 (1.3: OpenSSL's suites, all AEAD), the server's cipher order, no
// compression, no renegotiation; client certificates required when client_ca_file is set.
Result<std::shared_ptr<ssl::context>> make_tls_context(const TlsSettings& tls) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION |
                             SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                             "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  // An encrypted key fails to load instead of prompting on the terminal.
  SSL_CTX_set_default_passwd_cb(c, [](char*, int, int, void*) { return 0; });
  static constexpr unsigned char kSessionContext[] = "hearth";
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
  if (SSL_CTX_use_certificate_chain_file(c, tls.cert_file.c_str()) != 1) {
    return invalid_argument(fmt::format("tls: cannot load the certificate {}: {}", tls.cert_file, openssl_errors()),
                            "cert_file");
  }
  if (SSL_CTX_use_PrivateKey_file(c, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return invalid_argument(fmt::format("tls: cannot load the private key {}: {}", tls.key_file, openssl_errors()),
                            "key_file");
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return invalid_argument(fmt::format("tls: the private key {} does not match the certificate {}: {}", tls.key_file,
                                        tls.cert_file, openssl_errors()), "key_file");
  }
  if (!tls.client_ca_file.empty()) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (!names || SSL_CTX_load_verify_locations(c, tls.client_ca_file.c_str(), nullptr) != 1) {
      if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
      return invalid_argument(fmt::format("tls: cannot load the client CA file {}: {}", tls.client_ca_file,
                                          openssl_errors()), "client_ca_file");
    }
    SSL_CTX_set_client_CA_list(c, names);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

// Raises the soft limit on open files towards what max_connections needs (up to the hard limit).
void raise_fd_limit(int max_connections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + 1024;  // models, databases, logs
  const rlim_t target = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
  if (rl.rlim_cur < target) {
    rl.rlim_cur = target;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < wanted) {
    spdlog::warn("server.max_connections = {}, but this process may open only {} files (ulimit -n)", max_connections,
                 static_cast<unsigned long long>(rl.rlim_cur));
  }
}

// Open connections in all and per client address. admit() never blocks on I/O.
class ConnectionTable {
 public:
  enum class Verdict { kAdmitted, kOverTotal, kOverPerIp };

  ConnectionTable(std::atomic<int>& total, const ServerSettings& settings, HttpMetrics* metrics)
      : total_(total), settings_(settings), metrics_(metrics) {}

  Verdict admit(const std::string& ip) {
    std::lock_guard lk(mu_);
    if (total_.load() >= settings_.max_connections) return Verdict::kOverTotal;
    auto it = per_ip_.find(ip);
    if (it != per_ip_.end() && it->second >= settings_.max_connections_per_ip) return Verdict::kOverPerIp;
    if (it == per_ip_.end()) it = per_ip_.emplace(ip, 0).first;
    ++it->second;
    ++total_;
    if (metrics_) metrics_->connections_open_add(1);
    return Verdict::kAdmitted;
  }

  void release(const std::string& ip) {
    std::lock_guard lk(mu_);
    if (detached_) return;  // the server is gone (coroutine frames destroyed with the io_context)
    --total_;
    if (metrics_) metrics_->connections_open_add(-1);
    auto it = per_ip_.find(ip);
    if (it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
  }

  // Called when the server goes: connections still open release into nothing afterwards.
  void detach() {
    std::lock_guard lk(mu_);
    detached_ = true;
  }

 private:
  std::mutex mu_;
  bool detached_ = false;
  std::atomic<int>& total_;
  const ServerSettings& settings_;
  HttpMetrics* metrics_;
  std::map<std::string, int> per_ip_;
};

// One admitted connection's place in the table, given back when its coroutine ends. It shares
// the table: the coroutine's frame may be destroyed after the server, when the io_context goes.
// A local of the coroutine, not a parameter (g++ 12 mis-destroys by-value coroutine parameters
// that own memory; see async_util.h).
class Slot {
 public:
  Slot(std::shared_ptr<ConnectionTable> table, const std::string& ip) : table_(std::move(table)), ip_(ip) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { table_->release(ip_); }

 private:
  std::shared_ptr<ConnectionTable> table_;
  std::string ip_;
};

// A fault in the request itself (answered with 400), not in the transport under it.
bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::bad_target).category() && ec != http::error::end_of_stream;
}

}  // namespace

struct HttpServer::Impl {
  asio::io_context& ioc;
  const Router& router;
  const ServerSettings& settings;
  const TlsSettings tls;
  const std::string hsts;  // Strict-Transport-Security value; empty: not sent
  tcp::acceptor acceptor;
  HttpMetrics* metrics;
  std::shared_ptr<ConnectionTable> table;
  std::mutex tls_mu;
  std::shared_ptr<ssl::context> tls_ctx;  // guarded by tls_mu; connections hold their own reference
  std::atomic<std::int64_t> last_refusal_log{0};

  Impl(asio::io_context& io, const Router& r, const ServerSettings& s, const TlsSettings& t, HttpMetrics* m,
       std::atomic<int>& c)
      : ioc(io), router(r), settings(s), tls(t),
        hsts(t.enabled() && t.hsts_seconds > 0 ? fmt::format("max-age={}", t.hsts_seconds) : ""), acceptor(io),
        metrics(m), table(std::make_shared<ConnectionTable>(c, s, m)) {}
  ~Impl() { table->detach(); }

  std::chrono::seconds header_timeout() const { return std::chrono::seconds(settings.header_timeout_seconds); }

  std::shared_ptr<ssl::context> current_tls() {
    std::lock_guard lk(tls_mu);
    return tls_ctx;
  }

  Task<> accept_loop() {
    asio::steady_timer backoff(ioc);
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
            ec.value() == ENFILE) {
          // Out of files or memory: do not spin; what waits in the backlog is accepted later.
          backoff.expires_after(std::chrono::milliseconds(100));
          co_await backoff.async_wait(kTuple);
        }
        continue;
      }
      beast::error_code ep_ec;
      const auto ep = socket.remote_endpoint(ep_ec);
      const std::string ip = ep_ec ? "?" : ep.address().to_string();
      const auto verdict = table->admit(ip);
      if (verdict != ConnectionTable::Verdict::kAdmitted) {
        refuse(socket, ip, verdict == ConnectionTable::Verdict::kOverPerIp);
        continue;
      }
      // Streams are many small writes: never hold one back waiting for the previous ACK (Nagle).
      beast::error_code nd_ec;
      socket.set_option(tcp::no_delay(true), nd_ec);
      std::string remote = ep_ec ? "?" : fmt::format("{}:{}", ip, ep.port());
      asio::co_spawn(socket.get_executor(), connection(std::move(socket), ip, std::move(remote)),
                     asio::detached);
    }
  }

  // Over a cap: a plain-HTTP client gets a 503 if it fits the socket buffer now; then the
  // connection is closed. Nothing here waits.
  template <typename Socket>
  void refuse(Socket& socket, const std::string& ip, bool per_ip) {
    if (metrics) metrics->connection_refused(per_ip);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count();
    std::int64_t last = last_refusal_log.load();
    if (now - last >= 10 && last_refusal_log.compare_exchange_strong(last, now)) {
      spdlog::warn("refusing connections from {}: over server.{} ({}; more refusals are counted in /metrics)", ip,
                   per_ip ? "max_connections_per_ip" : "max_connections",
                   per_ip ? settings.max_connections_per_ip : settings.max_connections);
    }
    if (!tls.enabled()) {
      Error e = unavailable(per_ip ? "too many connections from this address" : "too many connections", 1);
      const std::string body = error_body(e);
      const std::string res = fmt::format(
          "HTTP/1.1 503 Service Unavailable\r\nServer: hearth\r\nContent-Type: application/json\r\n"
          "Retry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}", body.size(), body);
      [[maybe_unused]] const ssize_t n =
          ::send(socket.native_handle(), res.data(), res.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  Task<> connection(tcp::socket socket, std::string ip, std::string remote) {
    [[maybe_unused]] const Slot slot(table, ip);  // admitted by the acceptor; released when this ends
    beast::tcp_stream tcp(std::move(socket));
    if (!tls.enabled()) {
      co_await serve(tcp, remote);
      co_return;
    }
    const std::shared_ptr<ssl::context> ctx = current_tls();  // this connection's, even after a reload
    TlsStream stream(std::move(tcp), *ctx);
    tcp_of(stream).expires_after(header_timeout());
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    if (ec) {
      spdlog::debug("{} TLS handshake failed: {}", remote, ec.message());
      co_return;
    }
    co_await serve(stream, remote);
  }

  // Reads one request: an idle keep-alive connection waits request_timeout_seconds for its first
  // bytes; then the header must arrive within header_timeout_seconds (the first request's from
  // the start), the body within body_timeout_seconds.
  template <typename Stream>
  Task<beast::error_code> read_request(Stream& stream, beast::flat_buffer& buffer,
                                       http::request_parser<http::string_body>& parser, bool first) {
    auto& t = tcp_of(stream);
    if (!first && buffer.size() == 0) {
      t.expires_after(std::chrono::seconds(settings.request_timeout_seconds));
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
      if (ec) co_return ec;
      buffer.commit(n);
    }
    t.expires_after(header_timeout());
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kTuple);
    if (hec || parser.is_done()) co_return hec;
    t.expires_after(std::chrono::seconds(settings.body_timeout_seconds));
    auto [bec, bn] = co_await http::async_read(stream, buffer, parser, kTuple);
    co_return bec;
  }

  // Answers a request we will not read fully (413, 400) and closes the connection, draining what
  // the client still sends so that it sees the answer instead of a reset.
  template <typename Stream>
  Task<> refuse_and_close(Stream& stream, http::status status, const Error& err, unsigned version) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "hearth");
    res.set(http::field::content_type, "application/json");
    if (!hsts.empty()) res.set(http::field::strict_transport_security, hsts);
    res.keep_alive(false);
    res.body() = error_body(err);
    res.prepare_payload();
    tcp_of(stream).expires_after(std::chrono::seconds(10));
    co_await http::async_write(stream, res, kTuple);
    if constexpr (kIsTls<Stream>) {
      co_await close(stream);  // close_notify stands for the half-close
      co_return;
    }
    beast::error_code ec;
    tcp_of(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
    char sink[65536];
    std::size_t drained = 0;
    tcp_of(stream).expires_after(std::chrono::seconds(5));
    while (drained < 4 * settings.max_body_bytes + (1u << 20)) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      drained += n;
    }
  }

  // Ends a connection: TLS sends close_notify (waiting briefly for the peer's), TCP a FIN.
  template <typename Stream>
  Task<> close(Stream& stream) {
    if constexpr (kIsTls<Stream>) {
      tcp_of(stream).expires_after(std::chrono::seconds(2));
      auto [ec] = co_await stream.async_shutdown(kTuple);
      (void)ec;
    } else {
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  template <typename Stream>
  Task<> serve(Stream& stream, const std::string& remote) {
    beast::flat_buffer buffer;
    const auto timeout = std::chrono::seconds(settings.request_timeout_seconds);
    for (bool first = true;; first = false) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(settings.max_body_bytes);
      parser.header_limit(64 * 1024);
      const beast::error_code ec = co_await read_request(stream, buffer, parser, first);
      if (ec == http::error::body_limit) {
        Error e{ErrorCode::kPayloadTooLarge,
                fmt::format("the request body is larger than the limit of {} bytes", settings.max_body_bytes)};
        co_await refuse_and_close(stream, http::status::payload_too_large, e, 11);
        co_return;
      }
      if (is_http_parse_error(ec)) {
        Error e = invalid_argument(fmt::format("malformed HTTP request: {}", ec.message()));
        co_await refuse_and_close(stream, http::status::bad_request, e, 11);
        co_return;
      }
      if (ec) break;  // the peer left, a deadline passed, or the transport failed
      auto& raw = parser.get();
      if (websocket::is_upgrade(raw)) {
        co_await upgrade(std::move(stream), parser.release(), remote);
        co_return;
      }
      BeastExchange<Stream> ex(stream, to_request(raw, remote), raw.version(), raw.keep_alive(), timeout, hsts);
      co_await router.dispatch(ex);
      if (!ex.responded()) co_await ex.respond(error_response(internal_error("the handler sent no response")));
      if (!ex.keep_alive()) break;
    }
    co_await close(stream);
  }

  template <typename Stream>
  Task<> upgrade(Stream stream, http::request<http::string_body> raw, std::string remote) {
    HttpRequest req = to_request(raw, remote);
    const WsHandler* handler = router.websocket_route(req.path);
    BeastExchange<Stream> ex(stream, req, raw.version(), false, std::chrono::seconds(30), hsts);
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
    websocket::stream<Stream> ws(std::move(stream));
    tcp_of(ws).expires_never();  // the WebSocket keeps its own timeouts
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.read_message_max(settings.max_body_bytes);
    const std::string request_id = ex.context().request_id;
    ws.set_option(websocket::stream_base::decorator([request_id, h = hsts](websocket::response_type& res) {
      res.set(http::field::server, "hearth");
      res.set("X-Request-Id", request_id);
      if (!h.empty()) res.set(http::field::strict_transport_security, h);
    }));
    auto [ec] = co_await ws.async_accept(raw, kTuple);
    if (ec) {
      router.complete_upgrade(ex);
      co_return;
    }
    spdlog::info("[{}] {} websocket {} opened", request_id, remote, req.path);
    BeastWs<Stream> conn(ws, request_id);
    co_await (*handler)(conn, ex);
    if (ws.is_open()) {
      auto [cec] = co_await ws.async_close(websocket::close_code::normal, kTuple);
      (void)cec;
    }
    router.complete_upgrade(ex);
  }
};

HttpServer::HttpServer(asio::io_context& ioc, const Router& router, const ServerSettings& settings,
                       const TlsSettings& tls, HttpMetrics* metrics)
    : impl_(std::make_unique<Impl>(ioc, router, settings, tls, metrics, connections_)) {}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::listen() {
  if (impl_->tls.enabled()) {
    auto ctx = make_tls_context(impl_->tls);
    if (!ctx) return ctx.take_error();
    impl_->tls_ctx = std::move(*ctx);
  }
  raise_fd_limit(impl_->settings.max_connections);
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

Status HttpServer::reload_tls() {
  if (!impl_->tls.enabled()) {
    spdlog::info("tls: not enabled; nothing to reload");
    return {};
  }
  auto ctx = make_tls_context(impl_->tls);
  if (!ctx) {
    spdlog::error("{} (the previous certificate stays in use)", ctx.error().message);
    return ctx.take_error();
  }
  {
    std::lock_guard lk(impl_->tls_mu);
    impl_->tls_ctx = std::move(*ctx);
  }
  spdlog::info("tls: certificate reloaded from {} (key {})", impl_->tls.cert_file, impl_->tls.key_file);
  return {};
}

}  // namespace hearth
