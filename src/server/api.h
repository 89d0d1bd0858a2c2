// The API handlers: one function per route, grouped in one file per API family
// (api_chat.cpp, api_completions.cpp, api_embeddings.cpp, api_misc.cpp, api_ws_chat.cpp).
// Each parses the request into typed values, calls GenerationService, and renders the reply.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "models/catalog.h"
#include "rag/grounding.h"
#include "rag/knowledge_service.h"
#include "models/registry.h"
#include "server/exchange.h"
#include "server/generation_service.h"
#include "server/metrics.h"
#include "server/openai_types.h"

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
  rag::KnowledgeService* knowledge = nullptr;  // null when [knowledge] enabled = false
};

Task<> handle_health(ApiContext& api, Exchange& ex);
Task<> handle_models(ApiContext& api, Exchange& ex);
Task<> handle_metrics(ApiContext& api, Exchange& ex);
Task<> handle_chat_completions(ApiContext& api, Exchange& ex);
Task<> handle_completions(ApiContext& api, Exchange& ex);
Task<> handle_embeddings(ApiContext& api, Exchange& ex);
Task<> handle_chat_websocket(ApiContext& api, WsConnection& ws, const HttpRequest& upgrade);

// /v1/knowledge (api_knowledge.cpp)
Task<> handle_kb_create_collection(ApiContext& api, Exchange& ex);
Task<> handle_kb_list_collections(ApiContext& api, Exchange& ex);
Task<> handle_kb_get_collection(ApiContext& api, Exchange& ex);
Task<> handle_kb_delete_collection(ApiContext& api, Exchange& ex);
Task<> handle_kb_list_documents(ApiContext& api, Exchange& ex);
Task<> handle_kb_upload_document(ApiContext& api, Exchange& ex);
Task<> handle_kb_delete_document(ApiContext& api, Exchange& ex);
Task<> handle_kb_list_sources(ApiContext& api, Exchange& ex);
Task<> handle_kb_add_source(ApiContext& api, Exchange& ex);
Task<> handle_kb_sync(ApiContext& api, Exchange& ex);
Task<> handle_kb_list_jobs(ApiContext& api, Exchange& ex);
Task<> handle_kb_get_job(ApiContext& api, Exchange& ex);
Task<> handle_kb_search(ApiContext& api, Exchange& ex);

// Chat with knowledge: resolves a knowledge alias (req.gen.model becomes the alias's model),
// retrieves for the last user message, and adds the numbered sources to req.messages. No
// knowledge asked for: an empty optional.
Task<Result<std::optional<rag::Grounding>>> ground_chat(ApiContext& api, ChatCompletionRequest& req);
nlohmann::json citations_json(const rag::Grounding& g);

// Helpers shared by the handler files.
HttpResponse json_response(int status, const std::string& body);
long long unix_time_now();

}  // namespace hearth
