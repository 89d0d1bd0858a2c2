// Limits per caller: requests per minute, tokens per minute and concurrent requests, per API key
// and per client IP, as token buckets in a Limiter (in-process, or Redis shared by replicas).
// The filter counts a request and takes a concurrency slot after auth (so it knows the key);
// Admission (pipeline.h) counts WebSocket turns and reserves and settles tokens. Refusals are 429
// with Retry-After and OpenAI's x-ratelimit-* headers.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <string>

#include "limits/limiter.h"
#include "server/metrics.h"
#include "server/pipeline.h"
#include "server/router.h"

namespace hearth {

struct LimitSettings;

class Limits final : public Admission {
 public:
  // `blocking`: where limiter calls run when they may block (Redis); null: inline.
  Limits(const LimitSettings& settings, std::unique_ptr<limits::Limiter> limiter, boost::asio::thread_pool* blocking,
         HttpMetrics* metrics);
  ~Limits() override;

  std::unique_ptr<Middleware> filter();  // the request-side filter; this object must outlive it

  Task<Status> admit_turn(RequestContext& ctx) override;
  Task<Status> reserve(RequestContext& ctx, std::uint64_t tokens) override;
  void settle(RequestContext& ctx, std::uint64_t reserved, std::uint64_t used) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The client address of "address:port" ("[v6]:port" or "v6:port" too).
std::string client_ip(const std::string& remote);

}  // namespace hearth
