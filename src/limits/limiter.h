// Rate limits (issue 24): token buckets for requests and tokens per minute, and leases on a number
// of concurrent slots, per key / user / client IP. In-process by default; in Redis when several
// Hearth replicas must share one limit (the bucket arithmetic then runs in Lua inside Redis, on
// Redis's clock, so every replica sees the same buckets whatever its own clock says).
//
// A bucket holds up to `capacity` tokens and refills continuously at `per_second`; a draw takes
// `cost` tokens if there are that many. A bucket nobody has drawn from is full, so a limiter only
// stores buckets that are not full: dropping a bucket once it has refilled loses nothing.
//
// Argument rules (kInvalidArgument otherwise): keys non-empty, capacity > 0 (a limit of 0 means
// "no limit": skip the draw), per_second >= 0, cost >= 0, all finite, no key twice in one draw();
// acquire: max >= 1, ttl_seconds >= 1, lease_id non-empty.
//
// Reported times are +infinity where waiting cannot help: a bucket with per_second == 0 that is
// not full, or a cost above the capacity. Check std::isfinite before turning one into a header.
//
// Thread-safety: every method of every Limiter may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace hearth::limits {

// One bucket to draw from: `key` names it ("key:hk-abc:rpm", "ip:10.0.0.7:tpm"), `capacity` is
// its size (e.g. rpm), `per_second` its refill rate (capacity / 60 for per-minute limits), `cost`
// what this draw takes. Buckets start full.
struct Draw {
  std::string key;
  double capacity = 0;
  double per_second = 0;
  double cost = 0;
};

struct BucketState {
  double limit = 0;                // capacity
  double remaining = 0;            // after this draw (if it was allowed), floored at 0 for reporting
  double reset_seconds = 0;        // until the bucket is full again
  double retry_after_seconds = 0;  // until `cost` would fit (0 when allowed)
};

struct DrawResult {
  bool allowed = false;
  std::vector<BucketState> buckets;  // one state per draw, in order
};

class Limiter {
 public:
  virtual ~Limiter() = default;
  // All or nothing: takes every draw's cost, or none when any bucket lacks it. A draw of cost 0
  // reads a bucket's state without changing it.
  virtual Result<DrawResult> draw(const std::vector<Draw>& draws) = 0;
  // Corrects a bucket after the fact: `amount` > 0 returns tokens (never above capacity),
  // < 0 charges more (the bucket may go below zero: a debt that delays later draws).
  virtual Status adjust(const Draw& bucket, double amount) = 0;
  // Concurrency: a lease on one of `max` slots under `key`, identified by `lease_id` (a request
  // id). Leases expire after `ttl_seconds` so a crashed replica cannot hold slots forever.
  // Acquiring a lease already held renews it (true, taking no second slot).
  virtual Result<bool> acquire(const std::string& key, int max, const std::string& lease_id, int ttl_seconds) = 0;
  // Releasing a lease that is not held (expired, never acquired) is not an error.
  virtual Status release(const std::string& key, const std::string& lease_id) = 0;
};

using Clock = std::function<double()>;  // seconds, monotonic for memory; Redis uses its own TIME

std::unique_ptr<Limiter> make_memory_limiter(Clock clock = {});  // {}: steady_clock

// url: "redis://[[user]:password@]host[:port][/db]" (port 6379 by default; IPv6 hosts in
// brackets) or "unix:///path/to.sock"; connect/command timeouts in ms. Connects and loads the
// scripts before returning: a malformed URL is kInvalidArgument, a Redis that cannot be reached
// kUnavailable. Later calls that fail (connection refused, timeout) are kUnavailable and the
// next call reconnects. Messages name the URL with its password replaced by "***".
Result<std::unique_ptr<Limiter>> make_redis_limiter(const std::string& url, int timeout_ms = 200);

}  // namespace hearth::limits
