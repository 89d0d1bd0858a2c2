// One HTTP POST through libcurl and the outbound policy (every connection, redirects included,
// checked on its resolved address), for the few server-to-server calls that are not fetches:
// an OpenID Connect token exchange. Blocking: call it off the network threads.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace hearth::net {

struct PostReply {
  long status = 0;
  std::string body;
};

// `content_type` e.g. "application/x-www-form-urlencoded"; the reply body is capped at max_bytes.
// Errors: the outbound policy's refusal, unavailable (network), deadline_exceeded, a body over
// the cap (resource_exhausted). A non-2xx status is a reply, not an error.
Result<PostReply> http_post(const std::string& url, const std::string& content_type, const std::string& body,
                            const std::vector<std::string>& headers, int timeout_s, std::size_t max_bytes);

// application/x-www-form-urlencoded escaping of one value (RFC 3986 unreserved kept).
std::string form_escape(std::string_view value);

}  // namespace hearth::net
