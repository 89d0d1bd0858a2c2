// Which addresses the server itself may connect to: a guard against server-side request forgery.
//
// URL knowledge sources, remote embedders and model downloads make the server fetch a URL that a
// caller (or a page it fetched, through a redirect) chose. Without a check, a caller could make
// the server read its own metrics, a service on the private network, or the cloud metadata
// endpoint (169.254.169.254) that hands out instance credentials. So every connection libcurl
// opens is checked on the address it is about to connect to, after DNS resolution and after every
// redirect (OutboundGuard); public addresses are allowed, anything else only when the operator
// lists the host or its network in [outbound] allow.
//
// Checking the resolved address, not the URL text, is what defeats the usual tricks: other
// spellings of 127.0.0.1 (2130706433, 0177.1, ::ffff:7f00:1), names that resolve to private
// addresses, DNS rebinding (a name that resolves to a public address when checked and a private
// one when used) and redirects to any of these. The URL check (check_url_host) only makes the
// error immediate and clear for the obvious cases.
//
// Thread-safety: IpAddress, Cidr and OutboundRules are values, read-only after construction.
// set_outbound_rules is called once at start-up; outbound_rules() may be read from any thread.
// An OutboundGuard belongs to one transfer on one thread.
#pragma once

#include <curl/curl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hearth::net {

// An IPv4 or IPv6 address. IPv4 is stored as its IPv4-mapped IPv6 form (::ffff:a.b.c.d) with
// family kV4, so the two spellings of one IPv4 address compare and match alike.
struct IpAddress {
  enum class Family { kV4, kV6 };
  Family family = Family::kV4;
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::uint32_t host_order);
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);
  // The IPv4 address for kV4 and for an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
  std::optional<std::uint32_t> ipv4() const;
  std::string to_string() const;  // 127.0.0.1, ::1, ::ffff:127.0.0.1
  bool operator==(const IpAddress&) const = default;
};

// An address in any spelling a resolver or URL parser may accept: IPv6 with or without brackets
// (zone ids such as fe80::1%eth0 refused), IPv4 as inet_aton reads it: dotted decimal, octal
// (0177.0.0.1) and hex (0x7f.0.0.1) parts, fewer parts (127.1, 127.0.1) and a single number
// (2130706433, 017700000001, 0x7f000001). nullopt for anything else.
std::optional<IpAddress> parse_ip(std::string_view text);

enum class AddressClass {
  kPublic,
  kLoopback,     // 127/8, ::1
  kPrivate,      // 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7, 64:ff9b:1::/48
  kLinkLocal,    // 169.254/16, fe80::/10
  kMetadata,     // cloud instance metadata: 169.254.169.254, fd00:ec2::254, 100.100.100.200
  kUnspecified,  // 0/8, ::
  kMulticast,    // 224/4, ff00::/8
  kBroadcast,    // 255.255.255.255
  kReserved,     // 240/4, 192.0.0/24, documentation and benchmarking ranges, IPv6 outside 2000::/3
};

// IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64 64:ff9b::/96, 6to4 2002::/16)
// are classified by that address.
AddressClass classify(const IpAddress& address);
const char* address_class_name(AddressClass c);  // "loopback", "link-local", ...

// A network: "10.0.0.0/8", "fd00::/8", or a bare address (/32, /128).
struct Cidr {
  IpAddress network;  // host bits cleared
  int prefix = 0;     // 0..32 for IPv4, 0..128 for IPv6
  bool matches(const IpAddress& address) const;
  bool single_address() const { return prefix == (network.family == IpAddress::Family::kV4 ? 32 : 128); }
};
std::optional<Cidr> parse_cidr(std::string_view text);

// The [outbound] configuration: allow entries as written; compile_outbound_policy(policy.allow).
struct OutboundPolicy {
  std::vector<std::string> allow;
};

class OutboundRules;
// Each entry is a network or address ("10.0.0.0/8", "fd00::/8", "127.0.0.1"), a host name
// ("wiki.corp.example") or a wildcard matching subdomains only ("*.corp.example"). An error names
// the first malformed entry.
Result<OutboundRules> compile_outbound_policy(const std::vector<std::string>& allow);

class OutboundRules {
 public:
  OutboundRules() = default;  // nothing listed: public addresses only

  // Whether a connection to `address`, made for a URL naming `host`, is allowed. Public addresses
  // are, unless the host is a metadata name; other addresses when a listed network contains them
  // or `host` (case and a trailing dot aside) is listed. The metadata names and addresses are
  // allowed only when listed exactly: the name itself, or the single address (no wider network
  // or wildcard unlocks the credentials endpoint by accident).
  bool allows(const IpAddress& address, std::string_view host) const;
  // The name-only part of allows(): false for a metadata name that is not listed.
  bool allows_host_name(std::string_view host) const;

  bool empty() const { return networks_.empty() && hosts_.empty() && suffixes_.empty(); }

 private:
  friend Result<OutboundRules> compile_outbound_policy(const std::vector<std::string>& allow);
  bool host_listed(std::string_view host, bool exact_only) const;

  std::vector<Cidr> networks_;
  std::vector<std::string> hosts_;     // lower case, no trailing dot
  std::vector<std::string> suffixes_;  // ".corp.example" for "*.corp.example"
};

// The process's rules. set_outbound_rules is meant for start-up, before any fetch; the rules it
// replaces stay alive, so a reference from outbound_rules() never dangles. Default: empty.
void set_outbound_rules(OutboundRules rules);
const OutboundRules& outbound_rules();

// The host of scheme://[userinfo@]host[:port][/path][?query][#fragment]: lower case, brackets
// and a trailing dot removed, %XX decoded. nullopt when there is no host.
std::optional<std::string> url_host(std::string_view url);

// Refuses, before any connection, a URL whose host is a literal address in a forbidden class or
// a metadata name (kPermissionDenied). Names are left to OutboundGuard, which sees what they
// resolve to; so are URLs without a readable host (libcurl reports those).
Status check_url_host(std::string_view url, const OutboundRules& rules);
Status check_url_host(std::string_view url);  // with outbound_rules()

// Installs the check on a libcurl easy handle. Use: construct, apply(h) after the handle's other
// options (and again after each curl_easy_reset), check_url_host, perform; when perform fails and
// refusal() is set, report that instead of libcurl's connect error.
class OutboundGuard {
 public:
  explicit OutboundGuard(const OutboundRules& rules = outbound_rules()) : rules_(&rules) {}
  OutboundGuard(const OutboundGuard&) = delete;  // libcurl holds a pointer to it
  OutboundGuard& operator=(const OutboundGuard&) = delete;

  // Sets the open-socket callback, no proxy, and http/https only (also for redirects). Fails
  // when libcurl refuses one of them: the transfer must not run unguarded.
  Status apply(CURL* handle);
  // kPermissionDenied naming the URL, the address and its class, when a connection was refused.
  std::optional<Error> refusal() const { return refusal_; }

 private:
  static curl_socket_t open_socket(void* guard, curlsocktype purpose, curl_sockaddr* address);
  curl_socket_t open(curl_sockaddr* address);

  const OutboundRules* rules_;
  CURL* handle_ = nullptr;
  std::optional<Error> refusal_;
};

// The message of a refusal, shared by the URL check and the guard.
Error outbound_refusal(std::string_view url, std::string_view host, const IpAddress* address, AddressClass c);

}  // namespace hearth::net
