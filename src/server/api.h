// The API handlers: one function per route, grouped in one file per API family
// (api_chat.cpp, api_completions.cpp, api_embeddings.cpp, api_misc.cpp, api_ws_chat.cpp,
// api_knowledge.cpp, api_admin.cpp, api_privacy.cpp).
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
#include "server/pipeline.h"
#include "server/router.h"

namespace hearth {

class WsConnection;
class ModelPulls;
class AuditTrail;
class ContentRules;
namespace auth {
class KeyStore;
class UserStore;
class CollectionAccessStore;
class JwksCache;
struct JwtConfig;
}
namespace privacy {
class Registry;
}
namespace conversations {
class Store;
}

// Everything a handler may use. Built once at start-up; the references outlive the server.
struct ApiContext {
  const Config& config;
  ModelRegistry& registry;
  GenerationService& generation;
  HttpMetrics& metrics;
  boost::asio::thread_pool& blocking;  // for calls that may block (model loading, tokenizing)
  std::atomic<bool>& draining;
  rag::KnowledgeService* knowledge = nullptr;  // null when [knowledge] enabled = false
  auth::KeyStore* keys = nullptr;              // null unless auth.mode has keys
  auth::UserStore* users = nullptr;            // sign-in users; null when auth.mode = none
  auth::CollectionAccessStore* acl = nullptr;  // collections' owners; null when auth.mode = none
  const RoleTable* roles = nullptr;
  std::vector<RouteInfo> routes;               // the route table, for GET /v1/admin/routes
  Pipeline* pipeline = nullptr;                // input/output hooks and token admission; may be null
  const ContentRules* rules = nullptr;         // [[safety.rules]] for queries and uploads; may be null
  AuditTrail* audit = nullptr;                 // null when [audit] enabled = false
  privacy::Registry* privacy = nullptr;        // data-subject export and erasure
  conversations::Store* conversations = nullptr;  // the callers' chat histories; null when off
  std::string ui_dir;                          // serve the web app from here instead of the binary
  auth::JwksCache* jwks = nullptr;             // the identity provider's keys (jwt modes; [auth.oidc])
  const auth::JwtConfig* jwt = nullptr;
  ModelPulls* pulls = nullptr;                 // downloads started from the admin area
};

// Who is calling: the auth filter's principal; on a public route without credentials, nobody
// (no permissions).
const Principal& caller(Exchange& ex);
// Refuses a model the caller may not use (as the request names it, before anything loads).
std::optional<Error> check_model(const ApiContext& api, const Principal& who, const std::string& requested);
// The texts of a chat request for input hooks: every message's content.
InputTexts chat_texts(ChatCompletionRequest& req);
// Refuses the first collection the caller may not use.
std::optional<Error> check_collections(const Principal& who, const std::vector<std::string>& collections);
// The value of one query-string parameter, percent-decoded ("" when absent).
std::string query_param(const std::string& query, std::string_view name);
// The usage a request incurred, for the access log, metrics and limits.
void record_usage(RequestContext& ctx, const Usage& usage);

Task<> handle_health(ApiContext& api, Exchange& ex);
Task<> handle_models(ApiContext& api, Exchange& ex);
Task<> handle_metrics(ApiContext& api, Exchange& ex);
Task<> handle_admin_model_load(ApiContext& api, Exchange& ex);
Task<> handle_admin_model_unload(ApiContext& api, Exchange& ex);
Task<> handle_admin_model_pull(ApiContext& api, Exchange& ex);
Task<> handle_admin_model_pull_status(ApiContext& api, Exchange& ex);
Task<> handle_chat_completions(ApiContext& api, Exchange& ex);
Task<> handle_completions(ApiContext& api, Exchange& ex);
Task<> handle_embeddings(ApiContext& api, Exchange& ex);
Task<> handle_chat_websocket(ApiContext& api, WsConnection& ws, Exchange& upgrade);

// /v1/admin (api_admin.cpp)
Task<> handle_admin_routes(ApiContext& api, Exchange& ex);
Task<> handle_admin_list_keys(ApiContext& api, Exchange& ex);
Task<> handle_admin_create_key(ApiContext& api, Exchange& ex);
Task<> handle_admin_revoke_key(ApiContext& api, Exchange& ex);
// Sign-in and users (api_users.cpp)
Task<> handle_auth_login(ApiContext& api, Exchange& ex);
Task<> handle_auth_logout(ApiContext& api, Exchange& ex);
Task<> handle_auth_me(ApiContext& api, Exchange& ex);
Task<> handle_auth_providers(ApiContext& api, Exchange& ex);
Task<> handle_oidc_start(ApiContext& api, Exchange& ex);
Task<> handle_oidc_callback(ApiContext& api, Exchange& ex);
Task<> handle_admin_list_users(ApiContext& api, Exchange& ex);
Task<> handle_admin_create_user(ApiContext& api, Exchange& ex);
Task<> handle_admin_disable_user(ApiContext& api, Exchange& ex);
Task<> handle_admin_set_password(ApiContext& api, Exchange& ex);
// /v1/admin/audit and /v1/admin/privacy (api_privacy.cpp)
Task<> handle_admin_audit_export(ApiContext& api, Exchange& ex);
Task<> handle_admin_audit_verify(ApiContext& api, Exchange& ex);
Task<> handle_admin_usage(ApiContext& api, Exchange& ex);
Task<> handle_admin_privacy_export(ApiContext& api, Exchange& ex);
Task<> handle_admin_privacy_erase(ApiContext& api, Exchange& ex);

// /v1/conversations (api_conversations.cpp)
Task<> handle_conv_create(ApiContext& api, Exchange& ex);
Task<> handle_conv_list(ApiContext& api, Exchange& ex);
Task<> handle_conv_get(ApiContext& api, Exchange& ex);
Task<> handle_conv_update(ApiContext& api, Exchange& ex);
Task<> handle_conv_delete(ApiContext& api, Exchange& ex);
Task<> handle_conv_list_items(ApiContext& api, Exchange& ex);
Task<> handle_conv_add_items(ApiContext& api, Exchange& ex);
Task<> handle_conv_get_item(ApiContext& api, Exchange& ex);
Task<> handle_conv_delete_item(ApiContext& api, Exchange& ex);
Task<> handle_conv_export(ApiContext& api, Exchange& ex);
Task<> handle_conv_import(ApiContext& api, Exchange& ex);

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
Task<> handle_kb_get_access(ApiContext& api, Exchange& ex);
Task<> handle_kb_put_access(ApiContext& api, Exchange& ex);

// Chat with knowledge: resolves a knowledge alias (req.gen.model becomes the alias's model),
// retrieves for the last user message, and adds the numbered sources to req.messages. No
// knowledge asked for: an empty optional.
Task<Result<std::optional<rag::Grounding>>> ground_chat(ApiContext& api, const Principal& who, ChatCompletionRequest& req);
nlohmann::json citations_json(const rag::Grounding& g);

// Helpers shared by the handler files.
HttpResponse json_response(int status, const std::string& body);
long long unix_time_now();

}  // namespace hearth
