// Fetching URL sources (issue #3). KnowledgeBase sees only this interface, so the knowledge core
// stays free of the network; fetch/curl_fetcher.h is the real one (libcurl), and tests may pass
// their own.
#pragma once

#include <cstddef>
#include <string>

#include "core/result.h"

namespace hearth::knowledge {

struct FetchedDocument {
  std::string bytes;
  std::string content_type;  // without parameters, lower-case ("text/html"); may be empty
  std::string final_url;     // after redirects
};

struct FetchLimits {
  std::size_t max_bytes = 64u << 20;
  int connect_timeout_s = 10;
  int timeout_s = 60;
  int max_redirects = 5;
};

class UrlFetcher {
 public:
  virtual ~UrlFetcher() = default;
  // http:// and https:// only. Errors: invalid_argument (bad URL), unavailable (network, HTTP
  // 5xx), not_found (HTTP 404/410), kPayloadTooLarge (over max_bytes), deadline_exceeded.
  virtual Result<FetchedDocument> fetch(const std::string& url, const FetchLimits& limits) = 0;
};

// The file name extraction should treat a fetched document as: by Content-Type first, else by the
// URL path's extension, else ".html" (what a web page usually is).
std::string fetched_file_name(const std::string& url, const std::string& content_type);

}  // namespace hearth::knowledge
