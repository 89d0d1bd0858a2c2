#include "server/metrics.h"

#include <fmt/format.h>

namespace hearth {

std::string prom_escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

void prom_header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void prom_line(std::string& out, const std::string& name, const std::string& labels, double value) {
  if (labels.empty()) out += fmt::format("{} {}\n", name, value);
  else out += fmt::format("{}{{{}}} {}\n", name, labels, value);
}

void HttpMetrics::observe(const std::string& route, int status, double seconds) {
  std::lock_guard lk(mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.counts[i];
  }
  ++h.count;
  h.sum += seconds;
}

void HttpMetrics::limit_rejection(const std::string& kind) {
  std::lock_guard lk(mu_);
  ++limit_rejections_[kind];
}

void HttpMetrics::filter_hit(const std::string& direction, const std::string& rule, const std::string& action) {
  std::lock_guard lk(mu_);
  ++filter_hits_[{direction, rule, action}];
}

void HttpMetrics::auth_failure(const std::string& reason) {
  std::lock_guard lk(mu_);
  ++auth_failures_[reason];
}

HttpMetrics::PrincipalCounts& HttpMetrics::principal_locked(const std::string& principal) {
  auto it = principals_.find(principal);
  if (it != principals_.end()) return it->second;
  if (principals_.size() >= kMaxPrincipals) return principals_["other"];
  return principals_[principal];
}

void HttpMetrics::principal_request(const std::string& principal) {
  std::lock_guard lk(mu_);
  ++principal_locked(principal).requests;
}

void HttpMetrics::principal_tokens(const std::string& principal, std::uint64_t prompt, std::uint64_t completion) {
  std::lock_guard lk(mu_);
  PrincipalCounts& c = principal_locked(principal);
  c.prompt_tokens += prompt;
  c.completion_tokens += completion;
}

std::uint64_t HttpMetrics::requests(const std::string& route, int status) const {
  std::lock_guard lk(mu_);
  auto it = requests_.find({route, status});
  return it == requests_.end() ? 0 : it->second;
}

std::string HttpMetrics::render() const {
  std::string out;
  std::lock_guard lk(mu_);
  prom_header(out, "hearth_http_requests_total", "counter", "HTTP requests by route and status");
  for (const auto& [k, v] : requests_) {
    prom_line(out, "hearth_http_requests_total", fmt::format("route=\"{}\",status=\"{}\"", prom_escape(k.first), k.second),
              static_cast<double>(v));
  }
  prom_header(out, "hearth_http_request_seconds", "histogram", "HTTP request latency (to the last byte)");
  for (const auto& [route, h] : latency_) {
    const std::string r = prom_escape(route);
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      prom_line(out, "hearth_http_request_seconds_bucket", fmt::format("route=\"{}\",le=\"{}\"", r, kBuckets[i]),
                static_cast<double>(h.counts[i]));
    }
    prom_line(out, "hearth_http_request_seconds_bucket", fmt::format("route=\"{}\",le=\"+Inf\"", r),
              static_cast<double>(h.count));
    prom_line(out, "hearth_http_request_seconds_sum", fmt::format("route=\"{}\"", r), h.sum);
    prom_line(out, "hearth_http_request_seconds_count", fmt::format("route=\"{}\"", r), static_cast<double>(h.count));
  }
  prom_header(out, "hearth_auth_failures_total", "counter", "Refused credentials (missing, invalid, forbidden)");
  for (const auto& [reason, n] : auth_failures_) {
    prom_line(out, "hearth_auth_failures_total", fmt::format("reason=\"{}\"", prom_escape(reason)), static_cast<double>(n));
  }
  prom_header(out, "hearth_limit_rejections_total", "counter", "Requests refused by a limit (requests, tokens, concurrent)");
  for (const auto& [kind, n] : limit_rejections_) {
    prom_line(out, "hearth_limit_rejections_total", fmt::format("kind=\"{}\"", prom_escape(kind)), static_cast<double>(n));
  }
  prom_header(out, "hearth_filter_hits_total", "counter", "Content filter hits by direction, rule and action");
  for (const auto& [k, n] : filter_hits_) {
    prom_line(out, "hearth_filter_hits_total",
              fmt::format("direction=\"{}\",rule=\"{}\",action=\"{}\"", prom_escape(std::get<0>(k)),
                          prom_escape(std::get<1>(k)), prom_escape(std::get<2>(k))),
              static_cast<double>(n));
  }
  prom_header(out, "hearth_principal_requests_total", "counter", "Requests per caller (API key id, user:<name>, oidc:<subject>, or anonymous; at most 500, then other)");
  for (const auto& [p, c] : principals_) {
    prom_line(out, "hearth_principal_requests_total", fmt::format("principal=\"{}\"", prom_escape(p)),
              static_cast<double>(c.requests));
  }
  prom_header(out, "hearth_principal_tokens_total", "counter", "Tokens per caller and kind (prompt, completion)");
  for (const auto& [p, c] : principals_) {
    const std::string l = prom_escape(p);
    prom_line(out, "hearth_principal_tokens_total", fmt::format("principal=\"{}\",kind=\"prompt\"", l),
              static_cast<double>(c.prompt_tokens));
    prom_line(out, "hearth_principal_tokens_total", fmt::format("principal=\"{}\",kind=\"completion\"", l),
              static_cast<double>(c.completion_tokens));
  }
  prom_header(out, "hearth_http_streams_total", "counter", "Streaming responses started");
  prom_line(out, "hearth_http_streams_total", "", static_cast<double>(streams_.load()));
  prom_header(out, "hearth_http_in_flight", "gauge", "Requests being handled");
  prom_line(out, "hearth_http_in_flight", "", in_flight_.load());
  prom_header(out, "hearth_connections_open", "gauge", "Open client connections");
  prom_line(out, "hearth_connections_open", "", connections_open_.load());
  prom_header(out, "hearth_connections_refused_total", "counter",
              "Connections closed at once over a cap (total: max_connections; per_ip: max_connections_per_ip)");
  prom_line(out, "hearth_connections_refused_total", "reason=\"total\"", static_cast<double>(refused_total_.load()));
  prom_line(out, "hearth_connections_refused_total", "reason=\"per_ip\"", static_cast<double>(refused_per_ip_.load()));
  return out;
}

}  // namespace hearth
