// The standard middleware: request ids, draining refusal, access log and metrics.
#pragma once

#include <atomic>
#include <memory>

#include "server/metrics.h"
#include "server/router.h"

namespace hearth {

// Takes X-Request-Id from the client when it is sane, otherwise makes one.
std::unique_ptr<Middleware> make_request_id_middleware();
// While shutting down, new requests get 503 (health and metrics still answer).
std::unique_ptr<Middleware> make_draining_middleware(std::atomic<bool>& draining);
std::unique_ptr<Middleware> make_access_log_middleware();
std::unique_ptr<Middleware> make_metrics_middleware(HttpMetrics& metrics);

std::string new_request_id();

}  // namespace hearth
