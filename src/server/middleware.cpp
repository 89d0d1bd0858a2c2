#include "server/middleware.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <random>

#include "server/error_mapping.h"

namespace hearth {
namespace {

bool sane_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

class RequestId final : public Middleware {
 public:
  Task<std::optional<HttpResponse>> on_request(Exchange& ex) override {
    const auto given = ex.request().header("x-request-id");
    ex.context().request_id = sane_id(given) ? std::string(given) : new_request_id();
    ex.context().remote = ex.request().remote;
    co_return std::nullopt;
  }
};

class Draining final : public Middleware {
 public:
  explicit Draining(std::atomic<bool>& d) : draining_(d) {}
  Task<std::optional<HttpResponse>> on_request(Exchange& ex) override {
    if (!draining_.load()) co_return std::nullopt;
    const std::string& p = ex.request().path;
    if (p == "/health" || p == "/metrics") co_return std::nullopt;
    co_return error_response(unavailable("the server is shutting down", 5));
  }

 private:
  std::atomic<bool>& draining_;
};

class AccessLog final : public Middleware {
 public:
  void on_response(Exchange& ex) override {
    const RequestContext& c = ex.context();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - c.start).count();
    spdlog::info("[{}] {} {} {} {} {}B {:.1f}ms{}{}{}{}", c.request_id, ex.request().remote, ex.request().method,
                 ex.request().path, c.status, c.bytes_out, ms, c.model.empty() ? "" : " model=", c.model,
                 c.principal ? " by=" : "", c.principal ? c.principal->id : "");
  }
};

class Metrics final : public Middleware {
 public:
  explicit Metrics(HttpMetrics& m) : m_(m) {}
  Task<std::optional<HttpResponse>> on_request(Exchange&) override {
    m_.in_flight_add(1);
    co_return std::nullopt;
  }
  void on_response(Exchange& ex) override {
    m_.in_flight_add(-1);
    const RequestContext& c = ex.context();
    if (c.streamed) m_.stream_started();
    if (c.principal) {
      m_.principal_request(c.principal->id);
      if (c.prompt_tokens || c.completion_tokens) m_.principal_tokens(c.principal->id, c.prompt_tokens, c.completion_tokens);
    }
    m_.observe(c.route.empty() ? "unmatched" : c.route, c.status,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - c.start).count());
  }

 private:
  HttpMetrics& m_;
};

}  // namespace

std::string new_request_id() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:08x}{:08x}", static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(++counter));
}

std::unique_ptr<Middleware> make_request_id_middleware() { return std::make_unique<RequestId>(); }
std::unique_ptr<Middleware> make_draining_middleware(std::atomic<bool>& d) { return std::make_unique<Draining>(d); }
std::unique_ptr<Middleware> make_access_log_middleware() { return std::make_unique<AccessLog>(); }
std::unique_ptr<Middleware> make_metrics_middleware(HttpMetrics& m) { return std::make_unique<Metrics>(m); }

}  // namespace hearth
