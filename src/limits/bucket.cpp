#include "limits/bucket.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace hearth::limits {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Seconds until `need` more tokens have flowed in at `per_second`.
double seconds_for(double need, double per_second) {
  if (need <= 0) return 0;
  return per_second > 0 ? need / per_second : kInfinity;
}

}  // namespace

Status check_draw(const Draw& d) {
  if (d.key.empty()) return invalid_argument("rate limiter: a bucket needs a key");
  if (!std::isfinite(d.capacity) || d.capacity <= 0) {
    // 0 is how configuration says "no limit"; the caller must skip the bucket, not draw from an
    // empty one (which would refuse everything).
    return invalid_argument(fmt::format("rate limiter: bucket '{}' has capacity {}; it must be above 0", d.key,
                                        d.capacity));
  }
  if (!std::isfinite(d.per_second) || d.per_second < 0) {
    return invalid_argument(fmt::format("rate limiter: bucket '{}' has refill rate {}", d.key, d.per_second));
  }
  if (!std::isfinite(d.cost) || d.cost < 0) {
    return invalid_argument(fmt::format("rate limiter: bucket '{}' has cost {}", d.key, d.cost));
  }
  return {};
}

Status check_draws(const std::vector<Draw>& draws) {
  for (std::size_t i = 0; i < draws.size(); ++i) {
    HEARTH_TRY(check_draw(draws[i]));
    // A handful of buckets per request: quadratic is cheaper than a set. A key twice would make
    // "all or nothing" ambiguous (is each cost checked alone or their sum?), so it is refused.
    for (std::size_t j = 0; j < i; ++j) {
      if (draws[j].key == draws[i].key) {
        return invalid_argument(fmt::format("rate limiter: bucket '{}' appears twice in one draw", draws[i].key));
      }
    }
  }
  return {};
}

Status check_amount(double amount) {
  if (!std::isfinite(amount)) return invalid_argument(fmt::format("rate limiter: adjustment {}", amount));
  return {};
}

Status check_lease(const std::string& key, int max, const std::string& lease_id, int ttl_seconds) {
  HEARTH_TRY(check_release(key, lease_id));
  if (max < 1) {
    return invalid_argument(
        fmt::format("rate limiter: concurrency limit '{}' has max {}; it must be at least 1", key, max));
  }
  if (ttl_seconds < 1) {
    return invalid_argument(fmt::format("rate limiter: lease ttl {} s; it must be at least 1", ttl_seconds));
  }
  return {};
}

Status check_release(const std::string& key, const std::string& lease_id) {
  if (key.empty()) return invalid_argument("rate limiter: a concurrency limit needs a key");
  if (lease_id.empty()) return invalid_argument("rate limiter: a lease needs an id");
  return {};
}

double refill(double tokens, double elapsed, double capacity, double per_second) {
  // A clock that stepped back (Redis's TIME is wall time) refills nothing rather than draining.
  const double gained = elapsed > 0 ? elapsed * per_second : 0;
  return std::min(capacity, tokens + gained);
}

BucketState state_of(const Draw& d, double tokens, bool allowed) {
  BucketState s;
  s.limit = d.capacity;
  s.remaining = std::max(0.0, tokens);
  s.reset_seconds = seconds_for(d.capacity - tokens, d.per_second);
  if (!allowed) s.retry_after_seconds = d.cost > d.capacity ? kInfinity : seconds_for(d.cost - tokens, d.per_second);
  return s;
}

}  // namespace hearth::limits
