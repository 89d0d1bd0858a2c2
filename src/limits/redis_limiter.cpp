// The Redis limiter: a small pool of synchronous hiredis connections (one per calling thread at a
// time; idle ones kept for the next call), each call one EVALSHA of a script in redis_scripts.h.
// A connection that fails is dropped, so the next call reconnects; callers see kUnavailable and
// decide whether to fail open or closed.
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "limits/bucket.h"
#include "limits/limiter.h"
#include "limits/redis_scripts.h"
#include "limits/redis_url.h"

namespace hearth::limits {
namespace {

constexpr std::size_t kMaxIdle = 8;  // connections kept between calls; more are opened under load
// Prefixes that keep our keys apart from other data in the same Redis, and buckets from leases.
constexpr std::string_view kBucketPrefix = "hearth:limits:bucket:", kLeasePrefix = "hearth:limits:leases:";

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// hiredis writes with write(2), which raises SIGPIPE on a connection Redis has closed, and
// SIGPIPE's default action ends the process. It is blocked on this thread for the call, and one
// raised meanwhile is consumed before the old mask comes back (the process's handlers untouched).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_{}, old_{};
  bool was_pending_ = false;
};

std::string fmt_double(double v) { return fmt::format("{}", v); }

bool is_error(const Reply& r) { return r->type == REDIS_REPLY_ERROR; }
std::string_view text_of(const Reply& r) { return {r->str, r->len}; }

enum Script { kDrawScript, kAdjustScript, kAcquireScript, kScriptCount };

class RedisLimiter final : public Limiter {
 public:
  RedisLimiter(RedisTarget target, int timeout_ms) : target_(std::move(target)), timeout_ms_(timeout_ms) {
    sources_[kDrawScript] = std::string(scripts::kBucketPrelude) + scripts::kDrawBody;
    sources_[kAdjustScript] = std::string(scripts::kBucketPrelude) + scripts::kAdjustBody;
    sources_[kAcquireScript] = scripts::kAcquire;
  }

  // Connects and loads the scripts (their SHA1s are fixed by their text, so the ones learned here
  // stay right for any Redis, including one restarted empty: that answers NOSCRIPT and we reload).
  Status init() {
    for (int s = 0; s < kScriptCount; ++s) {
      auto r = command({"SCRIPT", "LOAD", sources_[s]});
      if (!r) return r.take_error();
      if (is_error(*r) || (*r)->type != REDIS_REPLY_STRING) return reply_error(*r, "SCRIPT LOAD");
      shas_[s] = std::string(text_of(*r));
    }
    return {};
  }

  Result<DrawResult> draw(const std::vector<Draw>& draws) override {
    HEARTH_TRY(check_draws(draws));
    if (draws.empty()) return DrawResult{true, {}};
    std::vector<std::string> keys, args;
    for (const Draw& d : draws) {
      keys.push_back(std::string(kBucketPrefix) + d.key);
      args.push_back(fmt_double(d.capacity));
      args.push_back(fmt_double(d.per_second));
      args.push_back(fmt_double(d.cost));
    }
    auto r = eval(kDrawScript, keys, args);
    if (!r) return r.take_error();
    const redisReply* a = r->get();
    if (a->type != REDIS_REPLY_ARRAY || a->elements != draws.size() + 1 ||
        a->element[0]->type != REDIS_REPLY_INTEGER) {
      return fail("unexpected reply to the draw script");
    }
    DrawResult out;
    out.allowed = a->element[0]->integer == 1;
    for (std::size_t i = 0; i < draws.size(); ++i) {
      const redisReply* e = a->element[i + 1];
      double tokens = 0;
      if (e->type != REDIS_REPLY_STRING ||
          std::from_chars(e->str, e->str + e->len, tokens).ec != std::errc()) {
        return fail("unexpected reply to the draw script");
      }
      out.buckets.push_back(state_of(draws[i], tokens, out.allowed));
    }
    return out;
  }

  Status adjust(const Draw& bucket, double amount) override {
    HEARTH_TRY(check_draw(bucket));
    HEARTH_TRY(check_amount(amount));
    auto r = eval(kAdjustScript, {std::string(kBucketPrefix) + bucket.key},
                  {fmt_double(bucket.capacity), fmt_double(bucket.per_second), fmt_double(amount)});
    if (!r) return r.take_error();
    return {};
  }

  Result<bool> acquire(const std::string& key, int max, const std::string& lease_id, int ttl_seconds) override {
    HEARTH_TRY(check_lease(key, max, lease_id, ttl_seconds));
    auto r = eval(kAcquireScript, {std::string(kLeasePrefix) + key},
                  {std::to_string(max), lease_id, std::to_string(static_cast<long long>(ttl_seconds) * 1000)});
    if (!r) return r.take_error();
    if ((*r)->type != REDIS_REPLY_INTEGER) return fail("unexpected reply to the acquire script");
    return (*r)->integer == 1;
  }

  Status release(const std::string& key, const std::string& lease_id) override {
    HEARTH_TRY(check_release(key, lease_id));
    auto r = command({"ZREM", std::string(kLeasePrefix) + key, lease_id});
    if (!r) return r.take_error();
    if (is_error(*r)) return reply_error(*r, "ZREM");
    return {};
  }

 private:
  Error fail(std::string_view reason) const {
    return unavailable(fmt::format("rate limiter: redis at {}: {}", target_.display, reason), 1);
  }
  Error reply_error(const Reply& r, std::string_view what) const {
    if (r->type != REDIS_REPLY_ERROR) return fail(fmt::format("unexpected reply to {}", what));
    return fail(fmt::format("{}: {}", what, text_of(r)));
  }

  // The reason a connection failed, in words ("timed out" rather than hiredis's EAGAIN text).
  std::string io_reason(const redisContext* c) const {
    if (c->err == REDIS_ERR_IO && std::strstr(c->errstr, "temporarily unavailable") != nullptr) {
      return fmt::format("no reply within {} ms", timeout_ms_);
    }
    if (c->err == REDIS_ERR_EOF) return "the server closed the connection";
    return c->errstr;
  }

  Result<Context> connect() const {
    const timeval tv{timeout_ms_ / 1000, static_cast<suseconds_t>(timeout_ms_ % 1000) * 1000};
    Context c(target_.unix_path.empty() ? redisConnectWithTimeout(target_.host.c_str(), target_.port, tv)
                                        : redisConnectUnixWithTimeout(target_.unix_path.c_str(), tv));
    if (!c) return fail("cannot allocate a connection");
    if (c->err) return fail(io_reason(c.get()));
    if (redisSetTimeout(c.get(), tv) != REDIS_OK) return fail(io_reason(c.get()));
    if (target_.unix_path.empty()) (void)redisEnableKeepAlive(c.get());
    std::vector<std::vector<std::string>> setup;
    if (!target_.password.empty()) {
      setup.push_back(target_.user.empty() ? std::vector<std::string>{"AUTH", target_.password}
                                           : std::vector<std::string>{"AUTH", target_.user, target_.password});
    }
    if (target_.db != 0) setup.push_back({"SELECT", std::to_string(target_.db)});
    for (const auto& args : setup) {
      auto r = command_on(c.get(), args);
      if (!r) return r.take_error();
      if (is_error(*r)) return reply_error(*r, args[0]);
    }
    return c;
  }

  // One command on one connection: its reply (perhaps an error reply), or kUnavailable when the
  // connection failed (c->err is then set, and the connection must be dropped).
  Result<Reply> command_on(redisContext* c, const std::vector<std::string>& args) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    SigpipeBlock no_sigpipe;
    Reply r(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) return fail(c->err ? io_reason(c) : std::string("no reply"));
    return r;
  }

  // A command on a pooled connection; a connection that failed is not returned to the pool.
  Result<Reply> command(const std::vector<std::string>& args) {
    Context c;
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!c) {
      auto fresh = connect();
      if (!fresh) return fresh.take_error();
      c = std::move(*fresh);
    }
    auto r = command_on(c.get(), args);
    if (r && c->err == 0) {
      std::lock_guard lock(mu_);
      if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
    }
    return r;
  }

  // EVALSHA of one of our scripts, loading it again when Redis has lost it (a restart, SCRIPT
  // FLUSH). Error replies become kUnavailable.
  Result<Reply> eval(Script s, const std::vector<std::string>& keys, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"EVALSHA", shas_[s], std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = command(argv);
    if (r && is_error(*r) && text_of(*r).starts_with("NOSCRIPT")) {
      auto loaded = command({"SCRIPT", "LOAD", sources_[s]});
      if (!loaded) return loaded.take_error();
      if (is_error(*loaded)) return reply_error(*loaded, "SCRIPT LOAD");
      r = command(argv);
    }
    if (!r) return r.take_error();
    if (is_error(*r)) return reply_error(*r, "EVALSHA");
    return r;
  }

  const RedisTarget target_;
  const int timeout_ms_;
  std::array<std::string, kScriptCount> sources_;
  std::array<std::string, kScriptCount> shas_;  // set by init(), before the limiter is shared
  std::mutex mu_;
  std::vector<Context> idle_;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Limiter>> make_redis_limiter(const std::string& url, int timeout_ms) {
  auto target = parse_redis_url(url);
  if (!target) return target.take_error();
  if (timeout_ms < 1) {
    return invalid_argument(fmt::format("rate limiter: redis timeout {} ms; it must be at least 1", timeout_ms));
  }
  auto limiter = std::make_unique<RedisLimiter>(std::move(*target), timeout_ms);
  HEARTH_TRY(limiter->init());
  return std::unique_ptr<Limiter>(std::move(limiter));
}

}  // namespace hearth::limits
