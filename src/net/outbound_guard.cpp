// OutboundGuard: the outbound policy applied to every socket libcurl opens.
#include "net/outbound_policy.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <cstring>

#include "net/curl.h"

namespace hearth::net {
namespace {

std::optional<IpAddress> from_sockaddr(const curl_sockaddr& a) {
  if (a.family == AF_INET && a.addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in in{};
    std::memcpy(&in, &a.addr, sizeof in);
    return IpAddress::v4(ntohl(in.sin_addr.s_addr));
  }
  if (a.family == AF_INET6 && a.addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &a.addr, sizeof in6);
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
    return IpAddress::v6(bytes);
  }
  return std::nullopt;  // a Unix socket, or something newer than this code
}

}  // namespace

Status OutboundGuard::apply(CURL* handle) {
  handle_ = handle;
  refusal_.reset();
  curl_opensocket_callback callback = &OutboundGuard::open_socket;
  const CURLcode codes[] = {
      curl::easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, callback),
      curl::easy_setopt(handle, CURLOPT_OPENSOCKETDATA, static_cast<void*>(this)),
      // No proxy, whatever http_proxy, https_proxy or ALL_PROXY say: through a proxy the socket
      // libcurl opens goes to the proxy, so the check would see the proxy's address and the
      // proxy would connect to whatever the URL names, 127.0.0.1 included.
      curl::easy_setopt(handle, CURLOPT_PROXY, ""),
      // Only http(s), on redirects too: file://, gopher:// or dict:// would reach what this
      // check cannot see (local files) or talk to internal services in their own protocols.
      curl::easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https"),
      curl::easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"),
  };
  for (const CURLcode rc : codes) {
    if (rc != CURLE_OK) {
      return internal_error(fmt::format("libcurl refused the outbound request guard ({}); the request was not made",
                                        curl::easy_strerror(rc)));
    }
  }
  return {};
}

curl_socket_t OutboundGuard::open_socket(void* guard, curlsocktype, curl_sockaddr* address) {
  return static_cast<OutboundGuard*>(guard)->open(address);
}

// Called for each connection libcurl opens, with the address DNS gave: the first, each one after
// a redirect (libcurl has updated the effective URL by then) and each address it tries.
curl_socket_t OutboundGuard::open(curl_sockaddr* address) {
  const char* effective = nullptr;
  if (curl::easy_getinfo(handle_, CURLINFO_EFFECTIVE_URL, &effective) != CURLE_OK) effective = nullptr;
  const std::string url = effective ? effective : "";
  const std::optional<std::string> host = url_host(url);
  const std::optional<IpAddress> ip = from_sockaddr(*address);
  if (!ip) {
    refusal_ = Error{ErrorCode::kPermissionDenied,
                     fmt::format("{}: refused a connection that is not to an IPv4 or IPv6 address", url)};
    return CURL_SOCKET_BAD;
  }
  if (!rules_->allows(*ip, host.value_or(""))) {
    refusal_ = outbound_refusal(url, host.value_or(""), &*ip, classify(*ip));
    return CURL_SOCKET_BAD;
  }
  // What libcurl does without a callback.
  return ::socket(address->family, address->socktype, address->protocol);
}

}  // namespace hearth::net
