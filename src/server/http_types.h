// Transport-neutral HTTP request and response values. Handlers see these, never Beast types.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/access.h"

namespace hearth {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path + query as received
  std::string path;    // without the query
  std::string query;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote;  // peer address

  std::string_view header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string_view() : std::string_view(it->second);
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
};

// Per-request state filled by middleware and handlers (Envoy-style: separate from config).
struct RequestContext {
  std::string request_id;
  std::string route;   // the matched route pattern, for metrics
  std::map<std::string, std::string> path_params;  // {name} segments of the matched pattern
  bool route_matched = false;
  Permission permission = Permission::kPublic;       // what the matched route requires
  std::shared_ptr<const Principal> principal;        // who is calling (set by the auth filter)
  std::string remote;                                // the peer's address:port
  std::string limit_lease;                           // a concurrency slot held (limits_filter.cpp)
  std::string model;   // the model that served it, for logs and metrics
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  int status = 0;      // the status sent
  std::size_t bytes_out = 0;
  bool streamed = false;
  std::uint64_t prompt_tokens = 0, completion_tokens = 0;  // the usage the request incurred
  std::string collection;  // the knowledge collection it used, for the audit log
  // What content filters found: "input:cn_mobile:mask", "input:rule:no-secrets:block" (at most 64).
  std::vector<std::string> filter_hits;
  void add_filter_hit(std::string hit) {
    if (filter_hits.size() < 64) filter_hits.push_back(std::move(hit));
  }
  // Run by the transport just before the last bytes of the response are written (a whole
  // response, or a stream's last chunk), so that what they free (a concurrency slot) is free
  // by the time the client can send its next request. Filters' on_response comes after.
  std::vector<std::function<void()>> before_last_write;
  void run_before_last_write() {
    auto fns = std::move(before_last_write);
    before_last_write.clear();
    for (auto& f : fns) f();
  }
};

}  // namespace hearth
