// Addresses, their classes, allow lists and URL hosts: pure functions (the libcurl part is in
// outbound_guard.cpp, so the fuzz target builds this file alone).
#include "net/outbound_policy.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>

namespace hearth::net {
namespace {

// ---- IPv4 as inet_aton reads it ----

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One part: decimal, octal after a leading 0, hex after 0x. inet_aton refuses "0x" (no digits)
// and 8 or 9 in an octal part; so does this.
std::optional<std::uint64_t> parse_v4_part(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int base = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
    if (s.empty()) return std::nullopt;
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  std::uint64_t v = 0;
  for (char c : s) {
    const int d = digit_value(c);
    if (d < 0 || d >= base) return std::nullopt;
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
    if (v > 0xFFFFFFFFu) return std::nullopt;  // also bounds the loop's arithmetic on long input
  }
  return v;
}

// a, a.b, a.b.c or a.b.c.d, where the last part fills the bytes left (127.1 is 127.0.0.1).
std::optional<std::uint32_t> parse_v4(std::string_view text) {
  std::uint64_t parts[4] = {};
  int n = 0;
  for (std::size_t start = 0;;) {
    const std::size_t dot = text.find('.', start);
    if (n == 4) return std::nullopt;
    const auto part = parse_v4_part(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (!part) return std::nullopt;
    parts[n++] = *part;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  std::uint32_t v = 0;
  for (int i = 0; i + 1 < n; ++i) {
    if (parts[i] > 0xFF) return std::nullopt;
    v |= static_cast<std::uint32_t>(parts[i]) << (24 - 8 * i);
  }
  const std::uint64_t last_max = 0xFFFFFFFFu >> (8 * (n - 1));
  if (parts[n - 1] > last_max) return std::nullopt;
  return v | static_cast<std::uint32_t>(parts[n - 1]);
}

std::optional<IpAddress> parse_v6(std::string_view text) {
  // 45 characters is the longest IPv6 text (ffff:...:ffff:255.255.255.255); a zone id (%eth0)
  // names an interface, which a URL from elsewhere has no business choosing.
  if (text.empty() || text.size() > 45 || text.find('%') != std::string_view::npos) return std::nullopt;
  const std::string s(text);
  std::array<std::uint8_t, 16> bytes{};
  if (inet_pton(AF_INET6, s.c_str(), bytes.data()) != 1) return std::nullopt;
  return IpAddress::v6(bytes);
}

// ---- classes ----

constexpr std::uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; }

bool in_v4(std::uint32_t a, std::uint32_t net, int bits) {
  return bits == 0 || (a >> (32 - bits)) == (net >> (32 - bits));
}

AddressClass classify_v4(std::uint32_t a) {
  // The metadata endpoints first: they sit inside link-local and CGNAT space. 169.254.170.2 is
  // ECS's task-credentials endpoint, 100.100.100.200 Alibaba Cloud's metadata service.
  if (a == ip4(169, 254, 169, 254) || a == ip4(169, 254, 170, 2) || a == ip4(100, 100, 100, 200)) {
    return AddressClass::kMetadata;
  }
  if (in_v4(a, 0, 8)) return AddressClass::kUnspecified;
  if (in_v4(a, ip4(127, 0, 0, 0), 8)) return AddressClass::kLoopback;
  if (in_v4(a, ip4(10, 0, 0, 0), 8) || in_v4(a, ip4(172, 16, 0, 0), 12) || in_v4(a, ip4(192, 168, 0, 0), 16) ||
      in_v4(a, ip4(100, 64, 0, 0), 10)) {
    return AddressClass::kPrivate;
  }
  if (in_v4(a, ip4(169, 254, 0, 0), 16)) return AddressClass::kLinkLocal;
  if (a == 0xFFFFFFFFu) return AddressClass::kBroadcast;
  if (in_v4(a, ip4(224, 0, 0, 0), 4)) return AddressClass::kMulticast;
  if (in_v4(a, ip4(240, 0, 0, 0), 4) || in_v4(a, ip4(192, 0, 0, 0), 24) ||  // future use; IETF protocol
      in_v4(a, ip4(192, 0, 2, 0), 24) || in_v4(a, ip4(198, 51, 100, 0), 24) ||
      in_v4(a, ip4(203, 0, 113, 0), 24) ||  // documentation
      in_v4(a, ip4(198, 18, 0, 0), 15) ||   // benchmarking
      in_v4(a, ip4(192, 88, 99, 0), 24)) {  // the retired 6to4 relay anycast
    return AddressClass::kReserved;
  }
  return AddressClass::kPublic;
}

std::uint32_t v4_at(const std::array<std::uint8_t, 16>& b, int at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) |
         std::uint32_t{b[at + 3]};
}

// Whether the first `bits` bits of `b` are those of `prefix` (which holds at least that many).
bool has_prefix(const std::array<std::uint8_t, 16>& b, std::initializer_list<std::uint8_t> prefix, int bits) {
  int i = 0;
  for (std::uint8_t p : prefix) {
    const int take = std::min(8, bits - 8 * i);
    if (take <= 0) break;
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - take));
    if ((b[i] & mask) != (p & mask)) return false;
    ++i;
  }
  return true;
}

AddressClass classify_v6(const std::array<std::uint8_t, 16>& b) {
  const bool first12_zero = std::all_of(b.begin(), b.begin() + 12, [](std::uint8_t x) { return x == 0; });
  if (first12_zero) {
    const std::uint32_t low = v4_at(b, 12);
    if (low == 0) return AddressClass::kUnspecified;
    if (low == 1) return AddressClass::kLoopback;
    return classify_v4(low);  // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
  }
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
  if (has_prefix(b, {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96)) return classify_v4(v4_at(b, 12));
  if (has_prefix(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return AddressClass::kPrivate;  // local-use NAT64
  if (has_prefix(b, {0x20, 0x02}, 16)) return classify_v4(v4_at(b, 2));
  static constexpr std::array<std::uint8_t, 16> kEc2Metadata = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,
                                                                0,    0,    0,    0,    0, 0, 0x02, 0x54};
  if (b == kEc2Metadata) return AddressClass::kMetadata;
  if (has_prefix(b, {0xfc}, 7) || has_prefix(b, {0xfe, 0xc0}, 10)) return AddressClass::kPrivate;  // ULA; site-local
  if (has_prefix(b, {0xfe, 0x80}, 10)) return AddressClass::kLinkLocal;
  if (has_prefix(b, {0xff}, 8)) return AddressClass::kMulticast;
  if (has_prefix(b, {0x20, 0x01, 0x0d, 0xb8}, 32) || has_prefix(b, {0x3f, 0xff, 0x00}, 20) ||  // documentation
      has_prefix(b, {0x20, 0x01, 0x00}, 23)) {  // IETF protocol assignments: Teredo, benchmarking, ORCHID
    return AddressClass::kReserved;
  }
  // Only 2000::/3 is allocated as global unicast; the rest is not on the Internet.
  return has_prefix(b, {0x20}, 3) ? AddressClass::kPublic : AddressClass::kReserved;
}

// ---- names ----

constexpr std::string_view kMetadataNames[] = {"metadata.google.internal", "metadata.goog", "metadata",
                                               "instance-data", "instance-data.ec2.internal"};

bool is_metadata_name(std::string_view host) {
  return std::find(std::begin(kMetadataNames), std::end(kMetadataNames), host) != std::end(kMetadataNames);
}

std::string normalize_host(std::string_view host) {
  std::string h(host);
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

// A DNS name: labels of letters, digits, '-' and '_' (seen in internal names), at most 63
// characters each and 253 in all; not ending in a numeric label, which resolvers read as an
// IPv4 address.
bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  std::string_view last;
  for (std::size_t start = 0; start <= h.size();) {
    std::size_t dot = h.find('.', start);
    if (dot == std::string_view::npos) dot = h.size();
    const std::string_view label = h.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    }
    last = label;
    start = dot + 1;
  }
  return !std::all_of(last.begin(), last.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// An address in an allow entry is read strictly: dotted decimal for IPv4, so that "10/8" or
// "010.0.0.1" cannot silently mean something else (0.0.0.10, 8.0.0.1) as inet_aton would read it.
std::optional<IpAddress> parse_entry_address(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return parse_v6(text);
  if (std::count(text.begin(), text.end(), '.') != 3) return std::nullopt;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    const std::string_view part = text.substr(start, dot - start);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0') ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    start = dot + 1;
  }
  const auto v = parse_v4(text);
  return v ? std::optional<IpAddress>(IpAddress::v4(*v)) : std::nullopt;
}

}  // namespace

// ---- IpAddress ----

IpAddress IpAddress::v4(std::uint32_t host_order) {
  IpAddress a;
  a.family = Family::kV4;
  a.bytes[10] = a.bytes[11] = 0xFF;
  for (int i = 0; i < 4; ++i) a.bytes[12 + i] = static_cast<std::uint8_t>(host_order >> (24 - 8 * i));
  return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress a;
  a.family = Family::kV6;
  a.bytes = bytes;
  return a;
}

std::optional<std::uint32_t> IpAddress::ipv4() const {
  const bool mapped = std::all_of(bytes.begin(), bytes.begin() + 10, [](std::uint8_t x) { return x == 0; }) &&
                      bytes[10] == 0xFF && bytes[11] == 0xFF;
  if (!mapped) return std::nullopt;
  return v4_at(bytes, 12);
}

std::string IpAddress::to_string() const {
  if (family == Family::kV4) {
    return fmt::format("{}.{}.{}.{}", bytes[12], bytes[13], bytes[14], bytes[15]);
  }
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    if (text.size() < 2 || text.back() != ']') return std::nullopt;
    return parse_v6(text.substr(1, text.size() - 2));
  }
  if (text.find(':') != std::string_view::npos) return parse_v6(text);
  const auto v = parse_v4(text);
  return v ? std::optional<IpAddress>(IpAddress::v4(*v)) : std::nullopt;
}

AddressClass classify(const IpAddress& address) {
  if (const auto v4 = address.ipv4()) return classify_v4(*v4);
  return classify_v6(address.bytes);
}

const char* address_class_name(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic: return "public";
    case AddressClass::kLoopback: return "loopback";
    case AddressClass::kPrivate: return "private";
    case AddressClass::kLinkLocal: return "link-local";
    case AddressClass::kMetadata: return "metadata";
    case AddressClass::kUnspecified: return "unspecified";
    case AddressClass::kMulticast: return "multicast";
    case AddressClass::kBroadcast: return "broadcast";
    case AddressClass::kReserved: return "reserved";
  }
  return "unknown";
}

// ---- networks ----

bool Cidr::matches(const IpAddress& address) const {
  if (network.family == IpAddress::Family::kV4) {
    const auto a = address.ipv4();
    return a && in_v4(*a, *network.ipv4(), prefix);
  }
  for (int i = 0; i < 16 && 8 * i < prefix; ++i) {
    const int take = std::min(8, prefix - 8 * i);
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - take));
    if ((address.bytes[i] & mask) != (network.bytes[i] & mask)) return false;
  }
  return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const auto address = parse_entry_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  const int max = address->family == IpAddress::Family::kV4 ? 32 : 128;
  Cidr c{*address, max};
  if (slash != std::string_view::npos) {
    const std::string_view bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || (bits.size() > 1 && bits[0] == '0') ||
        !std::all_of(bits.begin(), bits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return std::nullopt;
    }
    c.prefix = std::stoi(std::string(bits));
    if (c.prefix > max) return std::nullopt;
  }
  // Clear the host bits, so "10.1.2.3/8" is the network 10.0.0.0/8.
  const int first = c.network.family == IpAddress::Family::kV4 ? 96 + c.prefix : c.prefix;
  for (int bit = first; bit < 128; ++bit) {
    c.network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  return c;
}

// ---- rules ----

Result<OutboundRules> compile_outbound_policy(const std::vector<std::string>& allow) {
  OutboundRules rules;
  for (const std::string& entry : allow) {
    auto bad = [&](std::string_view why) {
      return invalid_argument(fmt::format("outbound allow entry '{}' {}", entry, why), "outbound.allow");
    };
    const bool numeric = entry.find_first_of(":/") != std::string::npos || parse_ip(entry).has_value();
    if (numeric) {
      const auto cidr = parse_cidr(entry);
      if (!cidr) {
        return bad("is not a network or an address: write 10.0.0.0/8, 192.168.1.5 or fd00::/8 "
                   "(IPv4 in dotted decimal, a prefix length of at most 32 or 128)");
      }
      rules.networks_.push_back(*cidr);
      continue;
    }
    const bool wildcard = entry.starts_with("*.");
    const std::string host = normalize_host(wildcard ? std::string_view(entry).substr(2) : std::string_view(entry));
    if (!valid_host_name(host)) {
      return bad("is not a host name, *.domain, a network or an address");
    }
    if (wildcard) {
      rules.suffixes_.push_back("." + host);
    } else {
      rules.hosts_.push_back(host);
    }
  }
  return rules;
}

bool OutboundRules::host_listed(std::string_view host, bool exact_only) const {
  if (host.empty()) return false;
  if (std::find(hosts_.begin(), hosts_.end(), host) != hosts_.end()) return true;
  if (exact_only) return false;
  return std::any_of(suffixes_.begin(), suffixes_.end(), [&](const std::string& s) {
    return host.size() > s.size() && host.ends_with(s);  // "*.corp.example" is not "corp.example"
  });
}

bool OutboundRules::allows_host_name(std::string_view host) const {
  const std::string h = normalize_host(host);
  return !is_metadata_name(h) || host_listed(h, /*exact_only=*/true);
}

bool OutboundRules::allows(const IpAddress& address, std::string_view host) const {
  const std::string h = normalize_host(host);
  if (is_metadata_name(h) && !host_listed(h, /*exact_only=*/true)) return false;
  const AddressClass c = classify(address);
  if (c == AddressClass::kPublic) return true;
  if (c == AddressClass::kMetadata) {
    // Only the address itself or a listed metadata name: neither 169.254.0.0/16 nor a listed
    // name that happens to resolve there (DNS the operator may not control) opens the endpoint.
    const bool listed = std::any_of(networks_.begin(), networks_.end(),
                                    [&](const Cidr& n) { return n.single_address() && n.matches(address); });
    return listed || (is_metadata_name(h) && host_listed(h, true));
  }
  if (std::any_of(networks_.begin(), networks_.end(), [&](const Cidr& n) { return n.matches(address); })) return true;
  return host_listed(h, /*exact_only=*/false);
}

// ---- URLs ----

namespace {

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || digit_value(s[i + 1]) < 0 || digit_value(s[i + 2]) < 0) return std::nullopt;
    out += static_cast<char>(digit_value(s[i + 1]) * 16 + digit_value(s[i + 2]));
    i += 2;
  }
  return out;
}

}  // namespace

// The host decides which allow entries apply, so where libcurl could read a URL differently
// (backslashes, several '@', spaces or control characters in the authority) there is no host:
// only the address rules apply then, which is the stricter outcome.
std::optional<std::string> url_host(std::string_view url) {
  std::string_view rest = url;
  if (const std::size_t sep = url.find("://"); sep != std::string_view::npos) {
    const std::string_view scheme = url.substr(0, sep);
    const bool valid = !scheme.empty() && std::isalpha(static_cast<unsigned char>(scheme[0])) &&
                       std::all_of(scheme.begin(), scheme.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
                       });
    if (!valid) return std::nullopt;
    rest = url.substr(sep + 3);
  }
  // Without a scheme libcurl guesses one and reads the rest as an authority, as here.
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (std::any_of(authority.begin(), authority.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '\\'; })) {
    return std::nullopt;
  }
  if (const std::size_t at = authority.find('@'); at != std::string_view::npos) {
    if (authority.find('@', at + 1) != std::string_view::npos) return std::nullopt;
    authority.remove_prefix(at + 1);
  }
  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return std::nullopt;
    port = after.empty() ? after : after.substr(1);
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    port = colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
  }
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  auto decoded = percent_decode(host);
  if (!decoded || decoded->empty()) return std::nullopt;
  if (std::any_of(decoded->begin(), decoded->end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '/' || c == '@' || c == '\\';
      })) {
    return std::nullopt;
  }
  std::string h = normalize_host(*decoded);
  if (h.empty()) return std::nullopt;
  return h;
}

Error outbound_refusal(std::string_view url, std::string_view host, const IpAddress* address, AddressClass c) {
  std::string target(host);
  if (address) {
    // The name or spelling the URL used, and where it led: "wiki.corp at 10.1.2.3",
    // "2130706433 at 127.0.0.1".
    const std::string text = address->to_string();
    target = host.empty() || host == text ? text : fmt::format("{} at {}", host, text);
  }
  return Error{ErrorCode::kPermissionDenied,
               fmt::format("{}: refused to connect to {} ({}): outbound requests to loopback, private, link-local "
                           "and metadata addresses are refused; list the host or its network in [outbound] allow "
                           "to permit it",
                           url, target, address_class_name(c))};
}

Status check_url_host(std::string_view url, const OutboundRules& rules) {
  const auto host = url_host(url);
  if (!host) return {};
  if (const auto ip = parse_ip(*host)) {
    if (!rules.allows(*ip, *host)) return outbound_refusal(url, *host, &*ip, classify(*ip));
    return {};
  }
  if (!rules.allows_host_name(*host)) return outbound_refusal(url, *host, nullptr, AddressClass::kMetadata);
  return {};
}

Status check_url_host(std::string_view url) { return check_url_host(url, outbound_rules()); }

// The rules set replace one another but are never freed: outbound_rules() hands out references
// without a lock or a reference count, and set_outbound_rules runs once per process (a few times
// in tests), so keeping them costs nothing.
namespace {
std::atomic<const OutboundRules*> g_rules{nullptr};
}  // namespace

void set_outbound_rules(OutboundRules rules) {
  static std::mutex mu;
  static std::vector<std::unique_ptr<const OutboundRules>> kept;
  const std::lock_guard lock(mu);
  kept.push_back(std::make_unique<const OutboundRules>(std::move(rules)));
  g_rules.store(kept.back().get(), std::memory_order_release);
}

const OutboundRules& outbound_rules() {
  static const OutboundRules kNone;
  const OutboundRules* r = g_rules.load(std::memory_order_acquire);
  return r ? *r : kNone;
}

}  // namespace hearth::net
