// The API handlers: one function per route, grouped in one file per API family
// (api_chat.cpp, api_completions.cpp, api_embeddings.cpp, api_misc.cpp, api_ws_chat.cpp).
// Each parses the request into typed values, calls GenerationService, and renders the reply.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <functional>
#include <string>

#include "models/catalog.h"
#include "models/registry.h"
#include "server/exchange.h"
#include "server/generation_service.h"
#include "server/metrics.h"

namespace hearth {

class WsConnection;

// Everything a handler may use. Built once at start-up; the references outlive the server.
struct ApiContext {
  const Config& config;
  ModelRegistry& registry;
  GenerationService& generation;
  HttpMetrics& metrics;
  boost::asio::thread_pool& blocking;  // for calls that may block (model loading, tokenizing)
  std::atomic<bool>& draining;
};

Task<> handle_health(ApiContext& api, Exchange& ex);
Task<> handle_models(ApiContext& api, Exchange& ex);
Task<> handle_metrics(ApiContext& api, Exchange& ex);
Task<> handle_chat_completions(ApiContext& api, Exchange& ex);
Task<> handle_completions(ApiContext& api, Exchange& ex);
Task<> handle_embeddings(ApiContext& api, Exchange& ex);
Task<> handle_chat_websocket(ApiContext& api, WsConnection& ws, const HttpRequest& upgrade);

// Helpers shared by the handler files.
HttpResponse json_response(int status, const std::string& body);
long long unix_time_now();

}  // namespace hearth
