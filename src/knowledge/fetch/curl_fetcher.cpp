#include "knowledge/fetch/curl_fetcher.h"

#include "net/curl.h"
#include "net/outbound_policy.h"
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace hearth::knowledge {
namespace {

struct Transfer {
  std::string body;
  std::size_t max_bytes = 0;
  bool too_large = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t len = size * n;
  if (t->body.size() + len > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->body.append(data, len);
  return len;
}

class CurlFetcher final : public UrlFetcher {
 public:
  Result<FetchedDocument> fetch(const std::string& url, const FetchLimits& limits) override {
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      return invalid_argument(fmt::format("'{}' is not an http(s) URL", url), "uri");
    }
    // A URL naming a forbidden address or a metadata host fails here, before libcurl is loaded;
    // names are checked on what they resolve to, by the guard below.
    HEARTH_TRY(net::check_url_host(url));
    // libcurl is loaded at the first fetch, not at start-up (see net/curl.h).
    HEARTH_TRY(curl::load());
    curl::Easy h(curl::easy_init());
    if (!h) return internal_error("curl_easy_init failed");
    Transfer t;
    t.max_bytes = limits.max_bytes;
    char err[CURL_ERROR_SIZE] = {0};
    CURL* c = h.get();
    curl::easy_setopt(c, CURLOPT_URL, url.c_str());
    // Every connection, redirects included, goes to an allowed address; http(s) only, no proxy.
    net::OutboundGuard guard;
    HEARTH_TRY(guard.apply(c));
    curl::easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl::easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(limits.max_redirects));
    curl::easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(limits.connect_timeout_s));
    curl::easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(limits.timeout_s));
    curl::easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl::easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
    curl::easy_setopt(c, CURLOPT_USERAGENT, "Hearth-knowledge/1");
    curl::easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits.max_bytes));
    curl::easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_data);
    curl::easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl::easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    const CURLcode rc = curl::easy_perform(c);
    if (rc != CURLE_OK && guard.refusal()) return *guard.refusal();  // not libcurl's "could not connect"
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Error{ErrorCode::kPayloadTooLarge, fmt::format("{} is larger than {} bytes", url, limits.max_bytes)};
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Error{ErrorCode::kDeadlineExceeded, fmt::format("{}: timed out ({})", url, err[0] ? err : "timeout")};
    }
    if (rc == CURLE_TOO_MANY_REDIRECTS) return unavailable(fmt::format("{}: more than {} redirects", url, limits.max_redirects));
    if (rc != CURLE_OK) return unavailable(fmt::format("{}: {}", url, err[0] ? err : curl::easy_strerror(rc)));
    long status = 0;
    curl::easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 404 || status == 410) return not_found(fmt::format("{}: HTTP {}", url, status));
    if (status >= 400) return unavailable(fmt::format("{}: HTTP {}", url, status));
    FetchedDocument out;
    out.bytes = std::move(t.body);
    char* ct = nullptr;
    if (curl::easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
      std::string v(ct);
      v = v.substr(0, v.find(';'));
      while (!v.empty() && v.back() == ' ') v.pop_back();
      std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      out.content_type = v;
    }
    char* eff = nullptr;
    out.final_url = curl::easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff ? eff : url;
    return out;
  }
};

}  // namespace

std::unique_ptr<UrlFetcher> make_curl_fetcher() { return std::make_unique<CurlFetcher>(); }

}  // namespace hearth::knowledge
