// The libcurl UrlFetcher: http(s) only, bounded redirects, connect and total timeouts, and a size
// limit enforced while downloading (the transfer stops as soon as it is exceeded).
// Thread-safety: fetch() may run on several threads at once (one easy handle per call);
// libcurl is initialized at the first fetch (curl_global_init, once).
#pragma once

#include <memory>

#include "knowledge/url_fetcher.h"

namespace hearth::knowledge {

std::unique_ptr<UrlFetcher> make_curl_fetcher();

}  // namespace hearth::knowledge
