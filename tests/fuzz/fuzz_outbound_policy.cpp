// libFuzzer: the outbound policy's parsers (addresses, networks, allow lists, URL hosts) never
// crash or hang, and agree with each other: an address prints as text that parses back to it, a
// network contains its own address, and a URL whose host is a literal non-public address is
// refused by the check before connecting.
// Input: allow entries, one a line, up to the first NUL byte; after it, the text to parse as an
// address and as a URL.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/outbound_policy.h"

using namespace hearth;
using namespace hearth::net;

namespace {

void check_address(std::string_view text) {
  const auto ip = parse_ip(text);
  if (!ip) return;
  const auto again = parse_ip(ip->to_string());
  if (!again || !(*again == *ip)) __builtin_trap();
  if (address_class_name(classify(*ip)) == nullptr) __builtin_trap();
}

void check_network(std::string_view text) {
  const auto cidr = parse_cidr(text);
  if (!cidr) return;
  const int max = cidr->network.family == IpAddress::Family::kV4 ? 32 : 128;
  if (cidr->prefix < 0 || cidr->prefix > max || !cidr->matches(cidr->network)) __builtin_trap();
}

void check_url(std::string_view url, const OutboundRules& rules) {
  const auto host = url_host(url);
  if (host) {
    if (host->empty()) __builtin_trap();
    for (char c : *host) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '@' || c == '\\' || (c >= 'A' && c <= 'Z')) {
        __builtin_trap();
      }
    }
  }
  const Status none = check_url_host(url, OutboundRules{});
  if (!none.ok() && (none.error().code != ErrorCode::kPermissionDenied || !none.error().message.starts_with(url))) {
    __builtin_trap();
  }
  if (host) {
    const auto ip = parse_ip(*host);
    if (ip && classify(*ip) != AddressClass::kPublic && none.ok()) __builtin_trap();
  }
  (void)check_url_host(url, rules);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = in.find('\0');
  const std::string_view entries = in.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? in : in.substr(nul + 1);

  std::vector<std::string> allow;
  for (std::size_t start = 0; start <= entries.size() && allow.size() < 64;) {
    std::size_t nl = entries.find('\n', start);
    if (nl == std::string_view::npos) nl = entries.size();
    allow.emplace_back(entries.substr(start, nl - start));
    check_address(allow.back());
    check_network(allow.back());
    start = nl + 1;
  }
  auto rules = compile_outbound_policy(allow);
  if (!rules.ok()) {
    if (rules.error().code != ErrorCode::kInvalidArgument || rules.error().message.empty()) __builtin_trap();
    rules = OutboundRules{};
  }
  check_address(text);
  check_network(text);
  check_url(text, *rules);
  if (const auto ip = parse_ip(text)) {
    // Listed networks and names decide for non-public addresses; public ones always pass.
    const bool allowed = rules->allows(*ip, text);
    if (classify(*ip) == AddressClass::kPublic && !allowed) __builtin_trap();
  }
  return 0;
}
