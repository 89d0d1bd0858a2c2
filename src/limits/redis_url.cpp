#include "limits/redis_url.h"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

namespace hearth::limits {
namespace {

constexpr std::string_view kRedis = "redis://", kUnix = "unix://", kTls = "rediss://";

// The URL with whatever follows the first ':' of its credentials (or all of them, when there is
// no ':') replaced by "***": messages and logs must not carry the password.
std::string redact(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto at = url.rfind('@');
  if (at == std::string::npos || at < scheme) return url;
  const auto start = scheme + 3;
  const auto colon = url.find(':', start);
  const auto secret_from = colon != std::string::npos && colon < at ? colon + 1 : start;
  return url.substr(0, secret_from) + "***" + url.substr(at);
}

// A whole decimal number in [lo, hi], or -1.
int parse_int(std::string_view s, int lo, int hi) {
  int v = -1;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return -1;
  return v;
}

// "host[:port]" or "[v6]:port" into t; what is wrong, or "".
std::string parse_host_port(std::string_view hp, RedisTarget& t) {
  std::string_view port;
  bool has_port = false;
  if (hp.starts_with('[')) {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) return "an IPv6 host lacks its ']'";
    t.host = std::string(hp.substr(1, close - 1));
    const auto rest = hp.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return "unexpected text after the host";
    has_port = !rest.empty();
    if (has_port) port = rest.substr(1);
  } else {
    const auto colon = hp.find(':');
    t.host = std::string(hp.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port = hp.substr(colon + 1);
      if (port.find(':') != std::string_view::npos) return "an IPv6 host goes in brackets";
    }
  }
  if (t.host.empty()) return "no host";
  if (has_port) {
    t.port = parse_int(port, 1, 65535);
    if (t.port < 0) return fmt::format("port '{}' is not a number from 1 to 65535", port);
  }
  return {};
}

// "[creds@]host[:port][/db]" into t; what is wrong, or "".
std::string parse_network(std::string_view rest, RedisTarget& t) {
  const auto at = rest.rfind('@');
  if (at != std::string_view::npos) {
    const auto creds = rest.substr(0, at);
    const auto colon = creds.find(':');
    if (colon == std::string_view::npos) return "credentials go as ':password@' or 'user:password@'";
    t.user = std::string(creds.substr(0, colon));
    t.password = std::string(creds.substr(colon + 1));
    if (t.password.empty()) return "an empty password";
    rest = rest.substr(at + 1);
  }
  const auto slash = rest.find('/');
  if (auto why = parse_host_port(rest.substr(0, slash), t); !why.empty()) return why;
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    const auto db = rest.substr(slash + 1);
    t.db = parse_int(db, 0, 1'000'000);
    if (t.db < 0) return fmt::format("database '{}' is not a number", db);
  }
  return {};
}

}  // namespace

Result<RedisTarget> parse_redis_url(const std::string& url) {
  RedisTarget t;
  t.display = redact(url);
  std::string why;
  std::string_view u = url;
  if (u.starts_with(kUnix)) {
    t.unix_path = std::string(u.substr(kUnix.size()));
    if (t.unix_path.size() < 2 || !t.unix_path.starts_with('/')) why = "a unix socket needs an absolute path";
  } else if (u.starts_with(kRedis)) {
    why = parse_network(u.substr(kRedis.size()), t);
  } else if (u.starts_with(kTls)) {
    why = "TLS (rediss://) is not supported";
  } else {
    why = "it starts with neither redis:// nor unix://";
  }
  if (!why.empty()) {
    return invalid_argument(fmt::format("rate limiter: malformed redis URL '{}': {} (expected redis://host:port[/db] "
                                        "or unix:///path/to.sock)",
                                        t.display, why),
                            "url");
  }
  return t;
}

}  // namespace hearth::limits
