// The Lua scripts the Redis limiter runs (EVALSHA). Each runs atomically inside Redis and reads
// Redis's own clock (TIME), so replicas with skewed clocks agree on every bucket. Lua numbers
// come back from Redis truncated to integers, so token counts are returned as strings.
//
// A bucket is a hash {tokens, ts (microseconds of Redis time)}; a full bucket is deleted (a
// missing bucket is full), and the others expire about twice their time to refill, after which
// they would be full anyway. Leases are a sorted set: member the lease id, score its expiry (ms).
#pragma once

namespace hearth::limits::scripts {

// Goes before each bucket script's body: the clock, a bucket's tokens now, and storing them.
inline constexpr const char* kBucketPrelude =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local function current(key, cap, rate)\n"
    "  local b = redis.call('HMGET', key, 'tokens', 'ts')\n"
    "  local tk, ts = tonumber(b[1]), tonumber(b[2])\n"
    "  if tk == nil or ts == nil then return cap end\n"
    "  if now > ts then tk = tk + (now - ts) / 1000000 * rate end\n"
    "  return math.min(cap, tk)\n"
    "end\n"
    "local function store(key, tk, cap, rate)\n"
    "  if tk >= cap then redis.call('DEL', key) return end\n"
    "  redis.call('HSET', key, 'tokens', string.format('%.17g', tk), 'ts', string.format('%.0f', now))\n"
    "  local ms = 1000\n"
    "  if rate > 0 then ms = ms + math.ceil(2000 * (cap - tk) / rate) end\n"
    "  if rate > 0 and ms < 3e11 then\n"
    "    redis.call('PEXPIRE', key, string.format('%.0f', ms))\n"
    "  else\n"
    "    redis.call('PERSIST', key)\n"
    "  end\n"
    "end\n";

// KEYS: the buckets. ARGV: capacity, per_second, cost of each, in order. All or nothing.
// Returns {1 or 0 (allowed), then each bucket's tokens after the draw (before it, if refused)}.
inline constexpr const char* kDrawBody =
    "local n = #KEYS\n"
    "local tokens = {}\n"
    "local allowed = true\n"
    "for i = 1, n do\n"
    "  tokens[i] = current(KEYS[i], tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]))\n"
    "  if tokens[i] < tonumber(ARGV[3*i]) then allowed = false end\n"
    "end\n"
    "local out = {allowed and 1 or 0}\n"
    "for i = 1, n do\n"
    "  if allowed then\n"
    "    tokens[i] = tokens[i] - tonumber(ARGV[3*i])\n"
    "    store(KEYS[i], tokens[i], tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]))\n"
    "  end\n"
    "  out[i+1] = string.format('%.17g', tokens[i])\n"
    "end\n"
    "return out\n";

// KEYS[1]: the bucket. ARGV: capacity, per_second, amount (> 0 returns, never above capacity).
inline constexpr const char* kAdjustBody =
    "local cap, rate, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tk = current(KEYS[1], cap, rate) + amount\n"
    "if amount > 0 and tk > cap then tk = cap end\n"
    "store(KEYS[1], tk, cap, rate)\n"
    "return 1\n";

// KEYS[1]: the leases. ARGV: max, lease id, ttl (ms). Returns 1 (held, new or renewed) or 0.
// The set itself expires with its last lease.
inline constexpr const char* kAcquire =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[3])), ARGV[2])\n"
    "local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')\n"
    "redis.call('PEXPIREAT', KEYS[1], last[2])\n"
    "return 1\n";

}  // namespace hearth::limits::scripts
