#include "server/limits_filter.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "models/catalog.h"
#include "net/outbound_policy.h"
#include "server/async_util.h"
#include "server/error_mapping.h"
#include "server/middleware.h"

#include <boost/asio/post.hpp>

namespace hearth {
namespace {

// One caller's limits: its API key, or its address.
struct Subject {
  std::string id;  // "key:hk-..." or "ip:10.0.0.7"
  double rpm = 0, tpm = 0;
  int concurrent = 0;
};

std::string seconds_text(double s) { return fmt::format("{:.3g}s", std::max(0.0, s)); }

// A refused request: the error, and OpenAI's x-ratelimit-* headers for the bucket that refused.
struct Refusal {
  Error error;
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpResponse to_response(Refusal r) {
  HttpResponse res = error_response(r.error);
  for (auto& h : r.headers) res.headers.push_back(std::move(h));
  return res;
}

}  // namespace

std::string client_ip(const std::string& remote) {
  std::string ip = remote;
  if (remote.starts_with("[")) {
    ip = remote.substr(1, remote.find(']') - 1);
  } else if (const std::size_t colon = remote.rfind(':'); colon != std::string::npos) {
    ip = remote.substr(0, colon);
  }
  // One IPv6 client usually holds a whole /64: limit the network, not each of its addresses.
  if (auto addr = net::parse_ip(ip); addr && addr->family == net::IpAddress::Family::kV6 && !addr->ipv4()) {
    std::fill(addr->bytes.begin() + 8, addr->bytes.end(), std::uint8_t{0});
    return addr->to_string() + "/64";
  }
  return ip;
}

struct Limits::Impl {
  Impl(const LimitSettings& settings, std::unique_ptr<limits::Limiter> l, boost::asio::thread_pool* pool, HttpMetrics* m)
      : s(settings), limiter(std::move(l)), blocking(pool), metrics(m) {}
  const LimitSettings& s;
  std::unique_ptr<limits::Limiter> limiter;
  boost::asio::thread_pool* blocking;
  HttpMetrics* metrics;
  std::atomic<std::int64_t> last_failure_log{0};

  std::vector<Subject> subjects(const RequestContext& ctx) const {
    std::vector<Subject> out;
    // Every caller with an identity: an API key, a signed-in user, an identity provider's subject
    // (its own rpm/tpm, else [limits] key_*).
    if (ctx.principal && ctx.principal->kind != "anonymous") {
      const Principal& p = *ctx.principal;
      out.push_back({"key:" + p.id, static_cast<double>(p.rpm ? p.rpm : s.key_rpm),
                     static_cast<double>(p.tpm ? p.tpm : s.key_tpm), s.key_concurrent});
    }
    out.push_back({"ip:" + client_ip(ctx.remote), static_cast<double>(s.ip_rpm), static_cast<double>(s.ip_tpm),
                   s.ip_concurrent});
    return out;
  }

  static limits::Draw bucket(const Subject& sub, const char* kind, double capacity, double cost) {
    return {sub.id + ":" + kind, capacity, capacity / 60.0, cost};
  }

  // Runs a limiter call where it may block. A limiter that fails (Redis down) lets the request
  // through when fail_open, logging at most every 10 s; otherwise the request gets 503.
  template <typename F>
  Task<std::invoke_result_t<F&>> call(F& fn) {
    using R = std::invoke_result_t<F&>;
    std::optional<R> r;
    if (blocking) r.emplace(co_await run_blocking(*blocking, fn));
    else r.emplace(fn());
    co_return std::move(*r);
  }

  bool tolerate(const Error& e) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now().time_since_epoch()).count();
    if (now - last_failure_log.load() >= 10) {
      last_failure_log = now;
      spdlog::warn("limits: {} ({})", e.message, s.fail_open ? "requests pass unlimited meanwhile" : "requests get 503");
    }
    return s.fail_open;
  }

  // Draws from every bucket of `kind`; the refusal (with headers) when one lacks it.
  Task<std::optional<Refusal>> draw(const std::vector<Subject>& subs, const char* kind, double cost) {
    std::vector<limits::Draw> draws;
    std::vector<const Subject*> who;
    for (const Subject& sub : subs) {
      const double cap = std::string_view(kind) == "rpm" ? sub.rpm : sub.tpm;
      if (cap <= 0) continue;
      draws.push_back(bucket(sub, kind, cap, cost));
      who.push_back(&sub);
    }
    if (draws.empty()) co_return std::nullopt;
    auto work = [this, &draws] { return limiter->draw(draws); };
    auto r = co_await call(work);
    if (!r) {
      if (tolerate(r.error())) co_return std::nullopt;
      co_return Refusal{unavailable("rate limiter unavailable: " + r.error().message, 1), {}};
    }
    if (r->allowed) co_return std::nullopt;
    co_return refusal(*r, draws, who, kind, cost);
  }

  Refusal refusal(const limits::DrawResult& r, const std::vector<limits::Draw>& draws,
                       const std::vector<const Subject*>& who, const char* kind, double cost) {
    std::size_t worst = 0;
    for (std::size_t i = 0; i < r.buckets.size(); ++i) {
      if (r.buckets[i].retry_after_seconds > r.buckets[worst].retry_after_seconds) worst = i;
    }
    limits::BucketState b = r.buckets[worst];
    // Waiting cannot help a cost above the whole limit (infinite times): say a minute.
    if (!std::isfinite(b.retry_after_seconds)) b.retry_after_seconds = 60;
    if (!std::isfinite(b.reset_seconds)) b.reset_seconds = 60;
    const bool requests = std::string_view(kind) == "rpm";
    std::string message =
        requests ? fmt::format("rate limit: {} may send {} requests per minute", who[worst]->id, b.limit)
                 : fmt::format("rate limit: {} may use {} tokens per minute; this request needs up to {}",
                               who[worst]->id, b.limit, cost);
    if (!requests && cost > draws[worst].capacity) message += " (more than the whole limit: lower max_tokens)";
    Error e = resource_exhausted(message + fmt::format("; retry in {}", seconds_text(b.retry_after_seconds)),
                                 std::max(1, static_cast<int>(std::ceil(b.retry_after_seconds))));
    e.type_override = requests ? "rate_limit_requests" : "rate_limit_tokens";
    const std::string suffix = requests ? "requests" : "tokens";
    Refusal out{std::move(e), {}};
    out.headers.emplace_back("x-ratelimit-limit-" + suffix, fmt::format("{}", b.limit));
    out.headers.emplace_back("x-ratelimit-remaining-" + suffix, fmt::format("{}", std::floor(b.remaining)));
    out.headers.emplace_back("x-ratelimit-reset-" + suffix, seconds_text(b.reset_seconds));
    if (metrics) metrics->limit_rejection(requests ? "requests" : "tokens");
    return out;
  }

  Task<std::optional<HttpResponse>> take_slots(RequestContext& ctx, const std::vector<Subject>& subs) {
    ctx.limit_lease = new_request_id();  // the server's own id: a client's X-Request-Id could repeat
    for (std::size_t i = 0; i < subs.size(); ++i) {
      if (subs[i].concurrent <= 0) continue;
      auto work = [this, &sub = subs[i], &ctx] {
        return limiter->acquire(sub.id + ":conc", sub.concurrent, ctx.limit_lease, 3600);
      };
      auto got = co_await call(work);
      if (got && *got) continue;
      if (!got && tolerate(got.error())) continue;
      co_await release(ctx, std::vector<Subject>(subs.begin(), subs.begin() + static_cast<std::ptrdiff_t>(i)));
      ctx.limit_lease.clear();
      if (!got) co_return error_response(unavailable("rate limiter unavailable: " + got.error().message, 1));
      if (metrics) metrics->limit_rejection("concurrent");
      Error e = resource_exhausted(fmt::format("rate limit: {} may have {} requests in flight at once",
                                               subs[i].id, subs[i].concurrent), 1);
      e.type_override = "rate_limit_concurrent";
      co_return error_response(e);
    }
    co_return std::nullopt;
  }

  Task<> release(const RequestContext& ctx, const std::vector<Subject>& subs) {
    for (const Subject& sub : subs) {
      if (sub.concurrent <= 0 || ctx.limit_lease.empty()) continue;
      auto work = [this, &sub, &ctx] { return limiter->release(sub.id + ":conc", ctx.limit_lease); };
      (void)co_await call(work);
    }
  }
};

namespace {

class LimitFilter final : public Middleware {
 public:
  explicit LimitFilter(Limits::Impl& impl) : impl_(impl) {}

  Task<std::optional<HttpResponse>> on_request(Exchange& ex) override {
    RequestContext& ctx = ex.context();
    if (!ctx.route_matched || ctx.permission == Permission::kPublic) co_return std::nullopt;
    const auto subs = impl_.subjects(ctx);
    if (auto refused = co_await impl_.draw(subs, "rpm", 1)) co_return to_response(std::move(*refused));
    // A caller in token debt waits before starting anything new.
    if (auto refused = co_await impl_.draw(subs, "tpm", 0)) co_return to_response(std::move(*refused));
    auto refused = co_await impl_.take_slots(ctx, subs);
    // The slot is freed just before the response's last bytes go out (a client that sends its
    // next request at once must find it free), or at the end if the response never finishes.
    if (!refused && !ctx.limit_lease.empty()) ctx.before_last_write.push_back([this, &ctx] { release(ctx); });
    co_return refused;
  }

  void on_response(Exchange& ex) override { release(ex.context()); }

 private:
  void release(RequestContext& ctx) {
    if (ctx.limit_lease.empty()) return;
    // Off the I/O thread (a Redis round trip), without waiting.
    auto work = [&impl = impl_, subs = impl_.subjects(ctx), lease = ctx.limit_lease] {
      for (const auto& sub : subs) {
        if (sub.concurrent > 0) (void)impl.limiter->release(sub.id + ":conc", lease);
      }
    };
    ctx.limit_lease.clear();
    if (impl_.blocking) boost::asio::post(*impl_.blocking, std::move(work));  // Redis: freed a round trip later
    else work();
  }

  Limits::Impl& impl_;
};

}  // namespace

Limits::Limits(const LimitSettings& settings, std::unique_ptr<limits::Limiter> limiter,
               boost::asio::thread_pool* blocking, HttpMetrics* metrics)
    : impl_(std::make_unique<Impl>(settings, std::move(limiter), blocking, metrics)) {}

Limits::~Limits() = default;

std::unique_ptr<Middleware> Limits::filter() { return std::make_unique<LimitFilter>(*impl_); }

Task<Status> Limits::admit_turn(RequestContext& ctx) {
  const auto subs = impl_->subjects(ctx);
  if (auto refused = co_await impl_->draw(subs, "rpm", 1)) co_return Status(std::move(refused->error));
  co_return Status{};
}

Task<Status> Limits::reserve(RequestContext& ctx, std::uint64_t tokens) {
  const auto subs = impl_->subjects(ctx);
  if (auto refused = co_await impl_->draw(subs, "tpm", static_cast<double>(tokens))) {
    co_return Status(std::move(refused->error));
  }
  co_return Status{};
}

void Limits::settle(RequestContext& ctx, std::uint64_t reserved, std::uint64_t used) {
  if (used >= reserved) return;
  for (const Subject& sub : impl_->subjects(ctx)) {
    if (sub.tpm <= 0) continue;
    // Returned tokens: a failure only leaves the bucket emptier than it should be.
    (void)impl_->limiter->adjust(Impl::bucket(sub, "tpm", sub.tpm, 0), static_cast<double>(reserved - used));
  }
}

}  // namespace hearth
