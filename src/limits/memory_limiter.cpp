// The in-process limiter: buckets in a sharded hash map, leases in another. Buckets are only
// stored while they are not full (a missing bucket is a full one), and each shard drops the ones
// that have refilled every kSweepIntervalS, during a draw that locks it: memory follows the number
// of callers active within about one refill time, not the number ever seen.
#include <array>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "limits/bucket.h"
#include "limits/limiter.h"

namespace hearth::limits {
namespace {

constexpr std::size_t kShards = 16;
constexpr double kSweepIntervalS = 10;

struct Bucket {
  double tokens = 0;
  double ts = 0;  // when `tokens` was right
  double capacity = 0;
  double per_second = 0;
};

struct Shard {
  std::mutex mu;
  std::unordered_map<std::string, Bucket> buckets;  // guarded by mu
  double last_sweep = 0;                            // guarded by mu
};

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class MemoryLimiter final : public Limiter {
 public:
  explicit MemoryLimiter(Clock clock) : clock_(clock ? std::move(clock) : Clock(steady_seconds)) {
    const double now = clock_();
    for (Shard& s : shards_) s.last_sweep = now;
    lease_sweep_ = now;
  }

  Result<DrawResult> draw(const std::vector<Draw>& draws) override {
    HEARTH_TRY(check_draws(draws));
    // Every shard the draw touches is locked at once (in index order, so two draws cannot
    // deadlock): the check and the charge must see the same tokens.
    std::array<bool, kShards> used{};
    for (const Draw& d : draws) used[shard_of(d.key)] = true;
    std::vector<std::unique_lock<std::mutex>> locks;
    for (std::size_t i = 0; i < kShards; ++i) {
      if (used[i]) locks.emplace_back(shards_[i].mu);
    }
    const double now = clock_();

    std::vector<double> tokens(draws.size());
    bool allowed = true;
    for (std::size_t i = 0; i < draws.size(); ++i) {
      tokens[i] = current(shards_[shard_of(draws[i].key)], draws[i], now);
      if (tokens[i] < draws[i].cost) allowed = false;
    }
    DrawResult out;
    out.allowed = allowed;
    out.buckets.reserve(draws.size());
    for (std::size_t i = 0; i < draws.size(); ++i) {
      if (allowed) {
        tokens[i] -= draws[i].cost;
        store(shards_[shard_of(draws[i].key)], draws[i], tokens[i], now);
      }
      out.buckets.push_back(state_of(draws[i], tokens[i], allowed));
    }
    for (std::size_t i = 0; i < kShards; ++i) {
      if (used[i]) sweep_if_due(shards_[i], now);
    }
    return out;
  }

  Status adjust(const Draw& bucket, double amount) override {
    HEARTH_TRY(check_draw(bucket));
    HEARTH_TRY(check_amount(amount));
    Shard& shard = shards_[shard_of(bucket.key)];
    std::lock_guard lock(shard.mu);
    const double now = clock_();
    double tokens = current(shard, bucket, now) + amount;
    if (amount > 0 && tokens > bucket.capacity) tokens = bucket.capacity;
    store(shard, bucket, tokens, now);
    return {};
  }

  Result<bool> acquire(const std::string& key, int max, const std::string& lease_id, int ttl_seconds) override {
    HEARTH_TRY(check_lease(key, max, lease_id, ttl_seconds));
    std::lock_guard lock(lease_mu_);
    const double now = clock_();
    sweep_leases_if_due(now);
    auto& held = leases_[key];
    std::erase_if(held, [now](const auto& lease) { return lease.second <= now; });
    const double expiry = now + ttl_seconds;
    if (auto it = held.find(lease_id); it != held.end()) {
      it->second = expiry;
      return true;
    }
    if (held.size() >= static_cast<std::size_t>(max)) return false;
    held.emplace(lease_id, expiry);
    return true;
  }

  Status release(const std::string& key, const std::string& lease_id) override {
    HEARTH_TRY(check_release(key, lease_id));
    std::lock_guard lock(lease_mu_);
    auto it = leases_.find(key);
    if (it == leases_.end()) return {};
    it->second.erase(lease_id);
    if (it->second.empty()) leases_.erase(it);
    return {};
  }

 private:
  static std::size_t shard_of(const std::string& key) { return std::hash<std::string>{}(key) % kShards; }

  // The bucket's tokens at `now`; a bucket not stored is full. Caller holds shard.mu.
  static double current(const Shard& shard, const Draw& d, double now) {
    auto it = shard.buckets.find(d.key);
    if (it == shard.buckets.end()) return d.capacity;
    return refill(it->second.tokens, now - it->second.ts, d.capacity, d.per_second);
  }

  // Caller holds shard.mu. A full bucket is not stored (it is what a missing one means).
  static void store(Shard& shard, const Draw& d, double tokens, double now) {
    if (tokens >= d.capacity) {
      shard.buckets.erase(d.key);
      return;
    }
    shard.buckets.insert_or_assign(d.key, Bucket{tokens, now, d.capacity, d.per_second});
  }

  // Drops the buckets that have refilled since they were last drawn from. Caller holds shard.mu.
  static void sweep_if_due(Shard& shard, double now) {
    if (now - shard.last_sweep < kSweepIntervalS) return;
    shard.last_sweep = now;
    std::erase_if(shard.buckets, [now](const auto& entry) {
      const Bucket& b = entry.second;
      return refill(b.tokens, now - b.ts, b.capacity, b.per_second) >= b.capacity;
    });
  }

  // Drops expired leases under every key, and keys left with none. Caller holds lease_mu_.
  void sweep_leases_if_due(double now) {
    if (now - lease_sweep_ < kSweepIntervalS) return;
    lease_sweep_ = now;
    for (auto it = leases_.begin(); it != leases_.end();) {
      std::erase_if(it->second, [now](const auto& lease) { return lease.second <= now; });
      it = it->second.empty() ? leases_.erase(it) : std::next(it);
    }
  }

  Clock clock_;
  std::array<Shard, kShards> shards_;
  std::mutex lease_mu_;
  // key -> lease id -> expiry; guarded by lease_mu_.
  std::unordered_map<std::string, std::unordered_map<std::string, double>> leases_;
  double lease_sweep_ = 0;  // guarded by lease_mu_
};

}  // namespace

std::unique_ptr<Limiter> make_memory_limiter(Clock clock) { return std::make_unique<MemoryLimiter>(std::move(clock)); }

}  // namespace hearth::limits
