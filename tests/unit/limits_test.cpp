#include "limits/limiter.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace hearth::limits {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using Ms = std::chrono::milliseconds;

constexpr const char* kNoRedis = "redis-server is not installed (scripts/deps.sh installs it)";

Draw bucket(std::string key, double capacity, double per_second, double cost = 1) {
  return Draw{std::move(key), capacity, per_second, cost};
}

// A single draw, which must not fail.
DrawResult draw1(Limiter& l, const Draw& d) {
  auto r = l.draw({d});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : DrawResult{};
}

// A bucket's state without charging it (a draw of cost 0).
BucketState peek(Limiter& l, Draw d) {
  d.cost = 0;
  auto r = draw1(l, d);
  return r.buckets.empty() ? BucketState{} : r.buckets[0];
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Time the clock of the memory limiter: moved by hand.
struct FakeClock {
  std::shared_ptr<double> now = std::make_shared<double>(1000);
  Clock clock() const {
    return [t = now] { return *t; };
  }
  void advance(double s) const { *now += s; }
};

// ---------------------------------------------------------------------------------------------
// A real redis-server on a unix socket in a temporary directory, killed in the destructor.

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

// One inline command (no spaces in its arguments) over a fresh connection: the first line of the
// reply ("+PONG", ":42"), or "" when the server does not answer.
std::string inline_command(const std::string& socket_path, const std::string& command) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  const timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string reply;
  const std::string line = command + "\r\n";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
    char buf[256] = {};
    if (::recv(fd, buf, sizeof buf - 1, 0) > 0) reply = buf;
  }
  ::close(fd);
  return reply.substr(0, reply.find("\r\n"));
}

bool pings(const std::string& socket_path) { return inline_command(socket_path, "PING") == "+PONG"; }

// An integer reply (":42"), or -1000 when the reply is not one.
long long integer_reply(const std::string& reply) {
  return reply.starts_with(':') ? std::stoll(reply.substr(1)) : -1000;
}

class RedisServer {
 public:
  explicit RedisServer(std::string program)
      : program_(std::move(program)),
        dir_(fs::temp_directory_path() / ("hearth-limits-" + std::to_string(::getpid()) + "-" +
                                          std::to_string(counter_++))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~RedisServer() {
    stop();
    fs::remove_all(dir_);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string socket_path() const { return (dir_ / "r.sock").string(); }
  std::string url() const { return "unix://" + socket_path(); }
  pid_t pid() const { return pid_; }

  // Spawns the server and waits (10 s at most) until it answers PING. "" or what went wrong.
  std::string start() {
    const std::string sock = socket_path(), log = (dir_ / "r.log").string(), dir = dir_.string();
    std::vector<std::string> args{program_, "--port",       "0",  "--unixsocket", sock, "--save", "",
                                  "--appendonly", "no",   "--daemonize", "no", "--dir", dir};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = posix_spawn(&pid_, program_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return "posix_spawn failed: " + std::string(std::strerror(rc));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pings(sock)) return {};
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "redis-server exited at start; see its log in " + log;
      }
      std::this_thread::sleep_for(Ms(5));  // polling: the deadline bounds the wait
    }
    return "redis-server did not answer PING within 10 s";
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    fs::remove(socket_path());
  }

 private:
  static inline std::atomic<int> counter_{0};
  std::string program_;
  fs::path dir_;
  pid_t pid_ = -1;
};

// A started server, or nullptr with the test skipped (not installed) or failed (cannot start).
std::unique_ptr<RedisServer> start_redis() {
  const std::string program = find_program("redis-server");
  if (program.empty()) return nullptr;
  auto server = std::make_unique<RedisServer>(program);
  const std::string why = server->start();
  EXPECT_EQ(why, "");
  return why.empty() ? std::move(server) : nullptr;
}

std::unique_ptr<Limiter> redis_limiter(const RedisServer& server, int timeout_ms = 200) {
  auto l = make_redis_limiter(server.url(), timeout_ms);
  EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().message);
  return l.ok() ? std::move(*l) : nullptr;
}

void print_latency(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  std::printf("[ latency  ] %s single-bucket draw over %zu calls: p50 %.1f us, p99 %.1f us\n", what, us.size(),
              us[us.size() / 2], us[us.size() * 99 / 100]);
}

// ---------------------------------------------------------------------------------------------
// The memory limiter, on a clock moved by hand: exact values.

class LimitsMemoryTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  std::unique_ptr<Limiter> limiter_ = make_memory_limiter(clock_.clock());
};

TEST_F(LimitsMemoryTest, AllowsCapacityThenRefusesWithRetryAfter) {
  const Draw rpm = bucket("key:hk-a:rpm", 10, 10.0 / 60);
  for (int i = 0; i < 10; ++i) {
    const DrawResult r = draw1(*limiter_, rpm);
    ASSERT_TRUE(r.allowed) << i;
    EXPECT_DOUBLE_EQ(r.buckets[0].limit, 10);
    EXPECT_DOUBLE_EQ(r.buckets[0].remaining, 9 - i);
    EXPECT_DOUBLE_EQ(r.buckets[0].retry_after_seconds, 0);
    EXPECT_NEAR(r.buckets[0].reset_seconds, 6.0 * (i + 1), 1e-9);
  }
  const DrawResult refused = draw1(*limiter_, rpm);
  EXPECT_FALSE(refused.allowed);
  EXPECT_DOUBLE_EQ(refused.buckets[0].remaining, 0);
  EXPECT_NEAR(refused.buckets[0].retry_after_seconds, 6, 1e-9);
  EXPECT_NEAR(refused.buckets[0].reset_seconds, 60, 1e-9);
}

TEST_F(LimitsMemoryTest, RefillsWithElapsedTimeUpToCapacity) {
  const Draw b = bucket("key:hk-a:rpm", 10, 0.5);  // binary fractions: exact arithmetic
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(draw1(*limiter_, b).allowed);
  clock_.advance(1.5);
  const DrawResult refused = draw1(*limiter_, b);
  EXPECT_FALSE(refused.allowed);
  EXPECT_DOUBLE_EQ(refused.buckets[0].remaining, 0.75);
  EXPECT_DOUBLE_EQ(refused.buckets[0].retry_after_seconds, 0.5);
  clock_.advance(0.5);
  const DrawResult allowed = draw1(*limiter_, b);
  EXPECT_TRUE(allowed.allowed);
  EXPECT_DOUBLE_EQ(allowed.buckets[0].remaining, 0);
  clock_.advance(10);
  EXPECT_DOUBLE_EQ(peek(*limiter_, b).remaining, 5);
  EXPECT_DOUBLE_EQ(peek(*limiter_, b).reset_seconds, 10);
  clock_.advance(1000);  // never above capacity
  const DrawResult r = draw1(*limiter_, b);
  EXPECT_TRUE(r.allowed);
  EXPECT_DOUBLE_EQ(r.buckets[0].remaining, 9);
}

TEST_F(LimitsMemoryTest, AllOrNothingAcrossBuckets) {
  const Draw a = bucket("key:hk-a:rpm", 10, 10.0 / 60), b = bucket("ip:10.0.0.7:rpm", 1, 0.25);
  ASSERT_TRUE(draw1(*limiter_, b).allowed);
  auto none = limiter_->draw({});  // an empty draw is allowed and reports nothing
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->allowed);
  EXPECT_TRUE(none->buckets.empty());
  auto both = limiter_->draw({a, b});
  ASSERT_TRUE(both.ok());
  EXPECT_FALSE(both->allowed);
  ASSERT_EQ(both->buckets.size(), 2u);
  EXPECT_DOUBLE_EQ(both->buckets[0].remaining, 10);  // a: not charged
  EXPECT_DOUBLE_EQ(both->buckets[0].retry_after_seconds, 0);
  EXPECT_DOUBLE_EQ(both->buckets[1].remaining, 0);
  EXPECT_DOUBLE_EQ(both->buckets[1].retry_after_seconds, 4);
  EXPECT_DOUBLE_EQ(peek(*limiter_, a).remaining, 10);
  clock_.advance(4);
  both = limiter_->draw({a, b});
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(both->allowed);
  EXPECT_DOUBLE_EQ(both->buckets[0].remaining, 9);
  EXPECT_DOUBLE_EQ(both->buckets[1].remaining, 0);
}

TEST_F(LimitsMemoryTest, AdjustReturnsAndChargesWithDebt) {
  const Draw tpm = bucket("key:hk-a:tpm", 10, 10.0 / 60, 5);
  ASSERT_TRUE(draw1(*limiter_, tpm).allowed);
  ASSERT_TRUE(limiter_->adjust(tpm, 3).ok());
  EXPECT_DOUBLE_EQ(peek(*limiter_, tpm).remaining, 8);
  ASSERT_TRUE(limiter_->adjust(tpm, 100).ok());  // never above capacity
  EXPECT_DOUBLE_EQ(peek(*limiter_, tpm).remaining, 10);
  ASSERT_TRUE(limiter_->adjust(tpm, -15).ok());  // 5 tokens of debt
  const DrawResult r = draw1(*limiter_, bucket("key:hk-a:tpm", 10, 10.0 / 60, 1));
  EXPECT_FALSE(r.allowed);
  EXPECT_DOUBLE_EQ(r.buckets[0].remaining, 0);               // reported floored
  EXPECT_NEAR(r.buckets[0].retry_after_seconds, 36, 1e-9);   // 6 tokens at 1/6 per second
  EXPECT_NEAR(r.buckets[0].reset_seconds, 90, 1e-9);         // 15 tokens
  clock_.advance(36.001);
  EXPECT_TRUE(draw1(*limiter_, bucket("key:hk-a:tpm", 10, 10.0 / 60, 1)).allowed);
}

TEST_F(LimitsMemoryTest, CostAboveCapacityOrNoRefillNeverFits) {
  const DrawResult big = draw1(*limiter_, bucket("k:tpm", 10, 1, 11));
  EXPECT_FALSE(big.allowed);
  EXPECT_TRUE(std::isinf(big.buckets[0].retry_after_seconds));
  EXPECT_DOUBLE_EQ(big.buckets[0].remaining, 10);
  ASSERT_TRUE(draw1(*limiter_, bucket("k:once", 1, 0)).allowed);
  const DrawResult again = draw1(*limiter_, bucket("k:once", 1, 0));
  EXPECT_FALSE(again.allowed);
  EXPECT_TRUE(std::isinf(again.buckets[0].retry_after_seconds));
  EXPECT_TRUE(std::isinf(again.buckets[0].reset_seconds));
}

TEST_F(LimitsMemoryTest, LeasesUpToMaxReleaseAndExpiry) {
  auto acquire = [&](const std::string& id) {
    auto r = limiter_->acquire("key:hk-a:concurrent", 2, id, 30);
    EXPECT_TRUE(r.ok());
    return r.ok() && *r;
  };
  EXPECT_TRUE(acquire("req-1"));
  EXPECT_TRUE(acquire("req-2"));
  EXPECT_FALSE(acquire("req-3"));
  EXPECT_TRUE(acquire("req-2"));  // renewing takes no second slot
  ASSERT_TRUE(limiter_->release("key:hk-a:concurrent", "req-1").ok());
  ASSERT_TRUE(limiter_->release("key:hk-a:concurrent", "never-held").ok());
  EXPECT_TRUE(acquire("req-3"));
  EXPECT_FALSE(acquire("req-4"));
  auto other = limiter_->acquire("key:hk-b:concurrent", 1, "req-4", 30);  // keys are separate
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(*other);
  clock_.advance(29.9);
  EXPECT_FALSE(acquire("req-4"));
  clock_.advance(0.1);  // req-2 and req-3 expire (a crashed replica's slots come back)
  EXPECT_TRUE(acquire("req-4"));
  EXPECT_TRUE(acquire("req-5"));
  EXPECT_FALSE(acquire("req-6"));
}

// Sweeps drop buckets that have refilled (which changes nothing: a missing bucket is full), never
// one still in debt or partly drawn.
TEST_F(LimitsMemoryTest, SweepsOnlyFullBuckets) {
  const Draw debt = bucket("key:hk-debt:tpm", 10, 1, 1), half = bucket("key:hk-half:rpm", 100, 1, 50);
  ASSERT_TRUE(limiter_->adjust(debt, -50).ok());  // -40: 50 s from full
  ASSERT_TRUE(draw1(*limiter_, half).allowed);    // 50: 50 s from full
  auto spray = [&] {  // draws on every shard, so that each one's periodic sweep runs
    for (int i = 0; i < 1000; ++i) draw1(*limiter_, bucket("ip:10.1." + std::to_string(i), 5, 5));
  };
  clock_.advance(20);
  spray();
  clock_.advance(15);
  spray();
  EXPECT_DOUBLE_EQ(peek(*limiter_, half).remaining, 85);
  const DrawResult r = draw1(*limiter_, debt);  // -5
  EXPECT_FALSE(r.allowed);
  EXPECT_DOUBLE_EQ(r.buckets[0].retry_after_seconds, 6);
  clock_.advance(6);
  EXPECT_TRUE(draw1(*limiter_, debt).allowed);
}

TEST_F(LimitsMemoryTest, FourThreadsTakeExactlyTheCapacity) {
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        auto r = limiter_->draw({bucket("shared:rpm", 1000, 0), bucket("other:" + std::to_string(i % 64), 1e9, 0)});
        if (r.ok() && r->allowed) ++allowed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

TEST(LimitsArgumentsTest, BadArgumentsAreInvalid) {
  auto limiter = make_memory_limiter();
  auto invalid = [](const auto& r) { return !r.ok() && r.error().code == ErrorCode::kInvalidArgument; };
  EXPECT_TRUE(invalid(limiter->draw({bucket("", 1, 1)})));
  EXPECT_TRUE(invalid(limiter->draw({bucket("k", 0, 1)})));  // 0 = no limit: skip the draw instead
  EXPECT_TRUE(invalid(limiter->draw({bucket("k", 1, -1)})));
  EXPECT_TRUE(invalid(limiter->draw({bucket("k", 1, 1, -1)})));
  EXPECT_TRUE(invalid(limiter->draw({bucket("k", NAN, 1)})));
  EXPECT_TRUE(invalid(limiter->draw({bucket("k", 5, 1), bucket("k", 5, 1)})));
  EXPECT_TRUE(invalid(limiter->adjust(bucket("k", 5, 1), INFINITY)));
  EXPECT_TRUE(invalid(limiter->acquire("k", 0, "r", 10)));
  EXPECT_TRUE(invalid(limiter->acquire("k", 1, "", 10)));
  EXPECT_TRUE(invalid(limiter->acquire("k", 1, "r", 0)));
  EXPECT_TRUE(invalid(limiter->release("", "r")));
}

// ---------------------------------------------------------------------------------------------
// The same behaviour from both limiters, on real time (small windows, large rates).

class LimiterBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      limiter_ = make_memory_limiter();
      return;
    }
    if (find_program("redis-server").empty()) GTEST_SKIP() << kNoRedis;
    server_ = start_redis();
    ASSERT_TRUE(server_);
    limiter_ = redis_limiter(*server_);
    ASSERT_TRUE(limiter_);
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<Limiter> limiter_;
};

TEST_P(LimiterBackendTest, AllowsCapacityThenRefusesWithRetryAfter) {
  const Draw rpm = bucket("key:hk-a:rpm", 10, 10.0 / 60);
  for (int i = 0; i < 10; ++i) {
    const DrawResult r = draw1(*limiter_, rpm);
    ASSERT_TRUE(r.allowed) << i;
    EXPECT_DOUBLE_EQ(r.buckets[0].limit, 10);
    EXPECT_NEAR(r.buckets[0].remaining, 9 - i, 0.05);
  }
  const DrawResult refused = draw1(*limiter_, rpm);
  EXPECT_FALSE(refused.allowed);
  EXPECT_NEAR(refused.buckets[0].retry_after_seconds, 6, 0.3);
  EXPECT_NEAR(refused.buckets[0].reset_seconds, 60, 0.3);
}

TEST_P(LimiterBackendTest, RefillsWithElapsedTime) {
  const Draw b = bucket("ip:10.0.0.7:rpm", 5, 20);  // a token every 50 ms
  ASSERT_TRUE(draw1(*limiter_, bucket("ip:10.0.0.7:rpm", 5, 20, 5)).allowed);
  const DrawResult refused = draw1(*limiter_, b);
  ASSERT_FALSE(refused.allowed);
  const double wait = refused.buckets[0].retry_after_seconds;
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 0.05);
  std::this_thread::sleep_for(std::chrono::duration<double>(wait + 0.005));
  EXPECT_TRUE(draw1(*limiter_, b).allowed);
}

TEST_P(LimiterBackendTest, AllOrNothingAcrossBuckets) {
  const Draw a = bucket("key:hk-a:rpm", 10, 10.0 / 60), b = bucket("user:u1:rpm", 1, 1.0 / 3600);
  ASSERT_TRUE(draw1(*limiter_, b).allowed);
  auto both = limiter_->draw({a, b});
  ASSERT_TRUE(both.ok()) << both.error().message;
  EXPECT_FALSE(both->allowed);
  ASSERT_EQ(both->buckets.size(), 2u);
  EXPECT_DOUBLE_EQ(both->buckets[0].retry_after_seconds, 0);
  EXPECT_GT(both->buckets[1].retry_after_seconds, 3500);
  EXPECT_DOUBLE_EQ(peek(*limiter_, a).remaining, 10);  // not charged
}

TEST_P(LimiterBackendTest, AdjustReturnsAndChargesWithDebt) {
  const Draw tpm = bucket("key:hk-a:tpm", 10, 1.0 / 60, 5);
  ASSERT_TRUE(draw1(*limiter_, tpm).allowed);
  ASSERT_TRUE(limiter_->adjust(tpm, 3).ok());
  EXPECT_NEAR(peek(*limiter_, tpm).remaining, 8, 0.01);
  ASSERT_TRUE(limiter_->adjust(tpm, 100).ok());
  EXPECT_DOUBLE_EQ(peek(*limiter_, tpm).remaining, 10);
  ASSERT_TRUE(limiter_->adjust(tpm, -15).ok());
  const DrawResult r = draw1(*limiter_, bucket("key:hk-a:tpm", 10, 1.0 / 60, 1));
  EXPECT_FALSE(r.allowed);
  EXPECT_DOUBLE_EQ(r.buckets[0].remaining, 0);
  EXPECT_NEAR(r.buckets[0].retry_after_seconds, 360, 1);  // 6 tokens at 1/60 per second
  EXPECT_NEAR(r.buckets[0].reset_seconds, 900, 1);
}

TEST_P(LimiterBackendTest, LeasesUpToMaxAndRelease) {
  auto acquire = [&](const std::string& id) {
    auto r = limiter_->acquire("key:hk-a:concurrent", 2, id, 30);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() && *r;
  };
  EXPECT_TRUE(acquire("req-1"));
  EXPECT_TRUE(acquire("req-2"));
  EXPECT_FALSE(acquire("req-3"));
  EXPECT_TRUE(acquire("req-2"));
  ASSERT_TRUE(limiter_->release("key:hk-a:concurrent", "req-1").ok());
  ASSERT_TRUE(limiter_->release("key:hk-a:concurrent", "never-held").ok());
  EXPECT_TRUE(acquire("req-3"));
  EXPECT_FALSE(acquire("req-4"));
}

TEST_P(LimiterBackendTest, LeasesExpireAfterTheirTtl) {
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(*limiter_->acquire("ip:10.0.0.7:concurrent", 1, "crashed", 1));
  bool freed = false;
  while (!freed && seconds_since(start) < 3) {
    auto r = limiter_->acquire("ip:10.0.0.7:concurrent", 1, "next", 1);
    ASSERT_TRUE(r.ok());
    freed = *r;
    if (!freed) std::this_thread::sleep_for(Ms(20));
  }
  EXPECT_TRUE(freed);
  EXPECT_GE(seconds_since(start), 0.95);
}

TEST_P(LimiterBackendTest, ThreadsTakeExactlyTheCapacity) {
  const int per_thread = GetParam() == "memory" ? 10'000 : 500;
  std::atomic<int> allowed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        auto r = limiter_->draw({bucket("shared:rpm", 1000, 0)});
        if (!r.ok()) ++failed;
        else if (r->allowed) ++allowed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(allowed.load(), 1000);
}

TEST_P(LimiterBackendTest, RejectsBadArguments) {
  auto r = limiter_->draw({bucket("k", 0, 1)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  auto l = limiter_->acquire("k", 0, "r", 1);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(LimiterBackendTest, LatencyOfASingleBucketDraw) {
  std::vector<double> us;
  const Draw d = bucket("key:hk-a:rpm", 1e12, 1e6);
  for (int i = 0; i < 2000; ++i) {
    const auto t = std::chrono::steady_clock::now();
    auto r = limiter_->draw({d});
    us.push_back(seconds_since(t) * 1e6);
    ASSERT_TRUE(r.ok() && r->allowed);
  }
  print_latency(GetParam().c_str(), us);
}

INSTANTIATE_TEST_SUITE_P(Limits, LimiterBackendTest, ::testing::Values("memory", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// ---------------------------------------------------------------------------------------------
// Redis only: replicas, failures, URLs.

class LimitsRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (find_program("redis-server").empty()) GTEST_SKIP() << kNoRedis;
    server_ = start_redis();
    ASSERT_TRUE(server_);
  }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(LimitsRedisTest, TwoReplicasShareOneLimitExactly) {
  auto a = redis_limiter(*server_), b = redis_limiter(*server_);
  ASSERT_TRUE(a && b);
  std::atomic<int> allowed{0}, failed{0};
  auto run = [&](Limiter* l) {
    for (int i = 0; i < 200; ++i) {
      auto r = l->draw({bucket("user:u1:rpm", 100, 0)});
      if (!r.ok()) ++failed;
      else if (r->allowed) ++allowed;
    }
  };
  std::thread ta(run, a.get()), tb(run, b.get());
  ta.join();
  tb.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(allowed.load(), 100);
}

TEST_F(LimitsRedisTest, KilledServerIsUnavailableThenReconnects) {
  auto limiter = redis_limiter(*server_);
  ASSERT_TRUE(limiter);
  const Draw d = bucket("key:hk-a:rpm", 10, 1);
  ASSERT_TRUE(draw1(*limiter, d).allowed);
  server_->stop();
  for (int i = 0; i < 3; ++i) {  // each call tries again; none crashes or hangs
    const auto t = std::chrono::steady_clock::now();
    auto r = limiter->draw({d});
    EXPECT_LT(seconds_since(t), 1.0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_THAT(r.error().message, HasSubstr("rate limiter: redis at " + server_->url() + ": "));
  }
  EXPECT_EQ(limiter->adjust(d, 1).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(limiter->acquire("k", 1, "r", 1).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(limiter->release("k", "r").error().code, ErrorCode::kUnavailable);
  // A fresh, empty server on the same socket: the next call reconnects and reloads the scripts.
  ASSERT_EQ(server_->start(), "");
  const DrawResult r = draw1(*limiter, d);
  EXPECT_TRUE(r.allowed);
  EXPECT_NEAR(r.buckets[0].remaining, 9, 0.01);
}

TEST_F(LimitsRedisTest, StalledServerTimesOut) {
  auto limiter = redis_limiter(*server_, 100);
  ASSERT_TRUE(limiter);
  const Draw d = bucket("key:hk-a:rpm", 10, 1);
  ASSERT_TRUE(draw1(*limiter, d).allowed);
  ::kill(server_->pid(), SIGSTOP);
  const auto t = std::chrono::steady_clock::now();
  auto r = limiter->draw({d});
  const double took = seconds_since(t);
  ::kill(server_->pid(), SIGCONT);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("no reply within 100 ms"));
  EXPECT_LT(took, 1.0);
  EXPECT_TRUE(draw1(*limiter, d).allowed);  // a new connection once it answers again
}

// What the scripts leave in Redis: drawn buckets expire about twice their time to refill, full
// ones are deleted, lease sets expire with their last lease and vanish when emptied.
TEST_F(LimitsRedisTest, KeysExpireAndFullBucketsAreDeleted) {
  auto limiter = redis_limiter(*server_);
  ASSERT_TRUE(limiter);
  const std::string sock = server_->socket_path(), key = "hearth:limits:bucket:key:hk-a:rpm";
  const Draw d = bucket("key:hk-a:rpm", 10, 1, 5);  // 5 s from full
  ASSERT_TRUE(draw1(*limiter, d).allowed);
  const long long pttl = integer_reply(inline_command(sock, "PTTL " + key));
  EXPECT_GT(pttl, 10'000);
  EXPECT_LE(pttl, 11'000);
  ASSERT_TRUE(limiter->adjust(d, 100).ok());
  EXPECT_EQ(integer_reply(inline_command(sock, "EXISTS " + key)), 0);
  ASSERT_TRUE(*limiter->acquire("ip:10.0.0.7:concurrent", 3, "req-1", 30));
  const std::string leases = "hearth:limits:leases:ip:10.0.0.7:concurrent";
  const long long lease_pttl = integer_reply(inline_command(sock, "PTTL " + leases));
  EXPECT_GT(lease_pttl, 29'000);
  EXPECT_LE(lease_pttl, 30'000);
  ASSERT_TRUE(limiter->release("ip:10.0.0.7:concurrent", "req-1").ok());
  EXPECT_EQ(integer_reply(inline_command(sock, "EXISTS " + leases)), 0);
}

TEST(LimitsRedisUrlTest, MalformedUrlsAreInvalidAndNamed) {
  for (const std::string url : {"", "http://localhost:6379", "redis://", "redis://host:abc", "redis://host:0",
                                "redis://host:70000", "redis://host:1/x", "redis://[::1", "redis://::1:6379",
                                "unix://", "unix://relative.sock", "rediss://host:6379"}) {
    auto r = make_redis_limiter(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << url;
    EXPECT_THAT(r.error().message, HasSubstr("'" + url + "'"));
  }
  // Passwords never reach a message; credentials without a ':' are hidden whole.
  auto r = make_redis_limiter("redis://:s3cret@host:port");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("'redis://:***@host:port'"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("s3cret")));
  auto bare = make_redis_limiter("redis://s3cret@host");
  ASSERT_FALSE(bare.ok());
  EXPECT_EQ(bare.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(bare.error().message, HasSubstr("'redis://***@host'"));
  auto t = make_redis_limiter("redis://localhost:6379", 0);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
}

TEST(LimitsRedisUrlTest, UnreachableServerIsUnavailable) {
  const std::string url = "unix://" + (fs::temp_directory_path() / "hearth-limits-nothing-here.sock").string();
  auto r = make_redis_limiter(url);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("rate limiter: redis at " + url + ": "));
  auto secret = make_redis_limiter("redis://:s3cret@127.0.0.1:1");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(secret.error().message, Not(HasSubstr("s3cret")));
}

}  // namespace
}  // namespace hearth::limits
