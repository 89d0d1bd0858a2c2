// The libcurl UrlFetcher: http(s) only, bounded redirects, connect and total timeouts, and a size
// limit enforced while downloading (the transfer stops as soon as it is exceeded).
// Thread-safety: fetch() may run on several threads at once (one easy handle per call);
// curl_global_init must have run (curl_fetcher_global_init does it once).
#pragma once

#include <memory>

#include "knowledge/url_fetcher.h"

namespace hearth::knowledge {

std::unique_ptr<UrlFetcher> make_curl_fetcher();

}  // namespace hearth::knowledge
