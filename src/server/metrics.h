// Request counters and latency histograms, exported in Prometheus text format at /metrics.
// Threading: all methods are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

namespace hearth {

class HttpMetrics {
 public:
  void observe(const std::string& route, int status, double seconds);
  void stream_started() { ++streams_; }
  void in_flight_add(int d) { in_flight_ += d; }
  int in_flight() const { return in_flight_.load(); }
  std::uint64_t requests(const std::string& route, int status) const;
  std::string render() const;
  // Refused credentials by reason (missing, invalid, forbidden).
  void auth_failure(const std::string& reason);
  // Requests and tokens per caller (key id; "anonymous"). Labels are bounded: past
  // kMaxPrincipals distinct callers the rest count as "other".
  void principal_request(const std::string& principal);
  void principal_tokens(const std::string& principal, std::uint64_t prompt, std::uint64_t completion);
  static constexpr std::size_t kMaxPrincipals = 500;
  // Requests refused by a limit ("requests", "tokens", "concurrent").
  void limit_rejection(const std::string& kind);
  // Content filter hits: direction "input" or "output", the rule (a PII entity), the action.
  void filter_hit(const std::string& direction, const std::string& rule, const std::string& action);
  // Connections: open ones (a gauge) and those refused over a cap ("total" or "per_ip").
  void connections_open_add(int d) { connections_open_ += d; }
  void connection_refused(bool per_ip) { ++(per_ip ? refused_per_ip_ : refused_total_); }

 private:
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  struct PrincipalCounts {
    std::uint64_t requests = 0, prompt_tokens = 0, completion_tokens = 0;
  };
  PrincipalCounts& principal_locked(const std::string& principal);
  std::map<std::string, std::uint64_t> auth_failures_;
  std::map<std::string, std::uint64_t> limit_rejections_;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> filter_hits_;
  std::map<std::string, PrincipalCounts> principals_;
  std::atomic<std::uint64_t> streams_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> connections_open_{0};
  std::atomic<std::uint64_t> refused_total_{0}, refused_per_ip_{0};
};

// Appends one Prometheus sample line; `labels` is already formatted (k="v",...).
void prom_line(std::string& out, const std::string& name, const std::string& labels, double value);
void prom_header(std::string& out, const std::string& name, const char* type, const char* help);
std::string prom_escape(const std::string& v);

}  // namespace hearth
