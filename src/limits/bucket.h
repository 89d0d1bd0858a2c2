// The token-bucket arithmetic and argument checks both limiters share. The Redis limiter repeats
// the arithmetic in Lua (redis_limiter.cpp); the two must agree, and limits_test.cpp runs the same
// behavioural tests against both.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "limits/limiter.h"

namespace hearth::limits {

Status check_draw(const Draw& d);
Status check_draws(const std::vector<Draw>& draws);  // also: no key twice
Status check_amount(double amount);
Status check_lease(const std::string& key, int max, const std::string& lease_id, int ttl_seconds);
Status check_release(const std::string& key, const std::string& lease_id);

// `tokens` as of `elapsed` seconds later: refilled at `per_second`, never above `capacity`. A
// bucket above its capacity (the limit was lowered) comes down to it.
double refill(double tokens, double elapsed, double capacity, double per_second);

// The state to report for a bucket that holds `tokens` (after the draw, when it was allowed);
// `allowed` says whether the whole draw was.
BucketState state_of(const Draw& d, double tokens, bool allowed);

}  // namespace hearth::limits
