#include "net/http_post.h"

#include <fmt/format.h>

#include <memory>

#include "net/curl.h"
#include "net/outbound_policy.h"

namespace hearth::net {
namespace {

struct Sink {
  std::string body;
  std::size_t max = 0;
  bool truncated = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  if (s->body.size() + size * n > s->max) {
    s->truncated = true;
    return 0;
  }
  s->body.append(data, size * n);
  return size * n;
}

struct HandleFree {
  void operator()(CURL* c) const { curl::easy_cleanup(c); }
};
struct ListFree {
  void operator()(curl_slist* l) const { curl::slist_free_all(l); }
};

}  // namespace

std::string form_escape(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<PostReply> http_post(const std::string& url, const std::string& content_type, const std::string& body,
                            const std::vector<std::string>& headers, int timeout_s, std::size_t max_bytes) {
  HEARTH_TRY(check_url_host(url));  // a forbidden literal address fails at once, untried
  HEARTH_TRY(curl::load());
  std::unique_ptr<CURL, HandleFree> handle(curl::easy_init());
  if (!handle) return internal_error("libcurl could not create a handle");
  curl_slist* list = curl::slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  list = curl::slist_append(list, "Accept: application/json");
  for (const auto& h : headers) list = curl::slist_append(list, h.c_str());
  std::unique_ptr<curl_slist, ListFree> owned(list);
  CURL* c = handle.get();
  Sink sink{{}, max_bytes, false};
  curl::easy_setopt(c, CURLOPT_URL, url.c_str());
  curl::easy_setopt(c, CURLOPT_POST, 1L);
  curl::easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl::easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl::easy_setopt(c, CURLOPT_HTTPHEADER, owned.get());
  curl::easy_setopt(c, CURLOPT_USERAGENT, "hearth/0.1");
  curl::easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl::easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(timeout_s));
  curl::easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl::easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl::easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  OutboundGuard guard;
  HEARTH_TRY(guard.apply(c));
  const CURLcode rc = curl::easy_perform(c);
  if (rc != CURLE_OK && guard.refusal()) return *guard.refusal();
  if (sink.truncated) return resource_exhausted(fmt::format("{} answered with more than {} bytes", url, max_bytes));
  if (rc == CURLE_OPERATION_TIMEDOUT) return Error{ErrorCode::kDeadlineExceeded, fmt::format("{}: timed out", url)};
  if (rc != CURLE_OK) return unavailable(fmt::format("{}: {}", url, curl::easy_strerror(rc)));
  PostReply reply;
  curl::easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  reply.body = std::move(sink.body);
  return reply;
}

}  // namespace hearth::net
