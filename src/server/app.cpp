#include "server/app.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/model_engine.h"
#include "knowledge/static_embedder.h"
#include "rag/knowledge_service.h"
#include "models/registry.h"
#include "auth/collection_access.h"
#include "auth/jwt.h"
#include "auth/key_store.h"
#include "auth/user_store.h"
#include "knowledge/fetch/curl_fetcher.h"
#include "auth/secret_file.h"
#include "privacy/registry.h"
#include "server/audit_filter.h"
#include "server/api.h"
#include "server/auth_filter.h"
#include "server/limits_filter.h"
#include "server/content_rules.h"
#include "server/safety_hooks.h"
#include "server/http_server.h"
#include "server/middleware.h"
#include "server/router.h"
#include "server/ui_assets.h"
#include "server/model_pulls.h"
#include "server/error_mapping.h"
#include "conversations/personal_data.h"
#include "conversations/store.h"

namespace hearth {
namespace asio = boost::asio;

namespace {

// GET of a path outside the API: the web app (embedded, or from [ui] dir).
HttpResponse ui_not_found(const ApiContext& api, const std::string& path) {
  const bool built = !api.ui_dir.empty() || !embedded_ui_assets().empty();
  return error_response(not_found(
      built ? fmt::format("no route for GET {}", path)
            : std::string("the web app is not built into this binary: run scripts/setup.sh (or scripts/ui.sh, then "
                          "rebuild), or serve a build with --ui-dir")));
}

Task<> handle_ui(const ApiContext& api, Exchange& ex) {
  std::optional<HttpResponse> page = ui_response(ex.request(), api.ui_dir);
  if (!page) page = ui_not_found(api, ex.request().path);
  co_await ex.respond(std::move(*page));
}

void build_routes(Router& r, ApiContext& api) {
  // The route table: one line per route, with the permission it requires.
  using P = Permission;
  auto h = [&api](Task<> (*fn)(ApiContext&, Exchange&)) { return [&api, fn](Exchange& ex) { return fn(api, ex); }; };
  r.add("GET",    "/health",              P::kPublic,      h(handle_health));
  r.add("GET",    "/metrics",             P::kMetricsRead, h(handle_metrics));
  r.add("GET",    "/v1/models",           P::kModelsRead,  h(handle_models));
  r.add("POST",   "/v1/chat/completions", P::kInference,   h(handle_chat_completions));
  r.add("POST",   "/v1/completions",      P::kInference,   h(handle_completions));
  r.add("POST",   "/v1/embeddings",       P::kInference,   h(handle_embeddings));
  r.add_websocket("/v1/chat/ws",          P::kInference,   [&api](WsConnection& ws, Exchange& ex) {
    return handle_chat_websocket(api, ws, ex);
  });
  // Knowledge (issue #3). Sources read server paths or fetch URLs: admin only.
  const std::string c = "/v1/knowledge/collections";
  r.add("POST",   c,                                P::kKnowledgeWrite,   h(handle_kb_create_collection));
  r.add("GET",    c,                                P::kKnowledgeRead,    h(handle_kb_list_collections));
  r.add("GET",    c + "/{collection}",              P::kKnowledgeRead,    h(handle_kb_get_collection));
  r.add("DELETE", c + "/{collection}",              P::kKnowledgeWrite,   h(handle_kb_delete_collection));
  r.add("GET",    c + "/{collection}/documents",    P::kKnowledgeRead,    h(handle_kb_list_documents));
  r.add("POST",   c + "/{collection}/documents",    P::kKnowledgeWrite,   h(handle_kb_upload_document));
  r.add("DELETE", c + "/{collection}/documents/{document}", P::kKnowledgeWrite, h(handle_kb_delete_document));
  r.add("GET",    c + "/{collection}/sources",      P::kKnowledgeRead,    h(handle_kb_list_sources));
  r.add("POST",   c + "/{collection}/sources",      P::kKnowledgeSources, h(handle_kb_add_source));
  r.add("GET",    c + "/{collection}/access",       P::kKnowledgeRead,    h(handle_kb_get_access));
  r.add("PUT",    c + "/{collection}/access",       P::kKnowledgeWrite,   h(handle_kb_put_access));
  r.add("POST",   c + "/{collection}/sync",         P::kKnowledgeWrite,   h(handle_kb_sync));
  r.add("GET",    "/v1/knowledge/jobs",             P::kKnowledgeRead,    h(handle_kb_list_jobs));
  r.add("GET",    "/v1/knowledge/jobs/{job}",       P::kKnowledgeRead,    h(handle_kb_get_job));
  r.add("POST",   "/v1/knowledge/search",           P::kKnowledgeRead,    h(handle_kb_search));
  // Administration (issue #24).
  r.add("GET",    "/v1/admin/routes",               P::kServerRead,       h(handle_admin_routes));
  r.add("GET",    "/v1/admin/keys",                 P::kKeysManage,       h(handle_admin_list_keys));
  r.add("POST",   "/v1/admin/keys",                 P::kKeysManage,       h(handle_admin_create_key));
  r.add("DELETE", "/v1/admin/keys/{key}",           P::kKeysManage,       h(handle_admin_revoke_key));
  r.add("POST",   "/v1/auth/login",                 P::kPublic,           h(handle_auth_login));
  r.add("POST",   "/v1/auth/logout",                P::kAccount,          h(handle_auth_logout));
  r.add("GET",    "/v1/auth/me",                    P::kAccount,          h(handle_auth_me));
  r.add("GET",    "/v1/admin/users",                P::kUsersManage,      h(handle_admin_list_users));
  r.add("POST",   "/v1/admin/users",                P::kUsersManage,      h(handle_admin_create_user));
  r.add("DELETE", "/v1/admin/users/{user}",         P::kUsersManage,      h(handle_admin_disable_user));
  r.add("POST",   "/v1/admin/users/{user}/password", P::kUsersManage,     h(handle_admin_set_password));
  r.add("GET",    "/v1/admin/audit",                P::kAuditRead,        h(handle_admin_audit_export));
  r.add("GET",    "/v1/admin/audit/verify",         P::kAuditRead,        h(handle_admin_audit_verify));
  r.add("GET",    "/v1/admin/usage",                P::kAuditRead,        h(handle_admin_usage));
  r.add("POST",   "/v1/admin/models/{model}/load",  P::kModelsManage,     h(handle_admin_model_load));
  r.add("POST",   "/v1/admin/models/{model}/unload", P::kModelsManage,    h(handle_admin_model_unload));
  r.add("POST",   "/v1/admin/models/{model}/pull",  P::kModelsManage,     h(handle_admin_model_pull));
  r.add("GET",    "/v1/admin/models/{model}/pull",  P::kModelsManage,     h(handle_admin_model_pull_status));
  r.add("GET",    "/v1/admin/privacy/{subject}",    P::kPrivacyManage,    h(handle_admin_privacy_export));
  r.add("DELETE", "/v1/admin/privacy/{subject}",    P::kPrivacyManage,    h(handle_admin_privacy_erase));
  // Conversations (issue #25): the caller's own chat history.
  const std::string cv = "/v1/conversations", ci = cv + "/{conversation}/items";
  r.add("POST",   cv,                               P::kAccount,          h(handle_conv_create));
  r.add("GET",    cv,                               P::kAccount,          h(handle_conv_list));
  r.add("POST",   cv + "/import",                   P::kAccount,          h(handle_conv_import));
  r.add("GET",    cv + "/{conversation}",           P::kAccount,          h(handle_conv_get));
  r.add("POST",   cv + "/{conversation}",           P::kAccount,          h(handle_conv_update));
  r.add("DELETE", cv + "/{conversation}",           P::kAccount,          h(handle_conv_delete));
  r.add("GET",    cv + "/{conversation}/export",    P::kAccount,          h(handle_conv_export));
  r.add("GET",    ci,                               P::kAccount,          h(handle_conv_list_items));
  r.add("POST",   ci,                               P::kAccount,          h(handle_conv_add_items));
  r.add("GET",    ci + "/{item}",                   P::kAccount,          h(handle_conv_get_item));
  r.add("DELETE", ci + "/{item}",                   P::kAccount,          h(handle_conv_delete_item));
  r.add("GET",    "/v1/auth/providers",             P::kPublic,           h(handle_auth_providers));
  r.add("GET",    "/v1/auth/oidc/start",            P::kPublic,           h(handle_oidc_start));
  r.add("GET",    "/v1/auth/oidc/callback",         P::kPublic,           h(handle_oidc_callback));
  if (api.config.ui.enabled) {
    r.set_ui_fallback([&api](const std::string& path) { return ui_serves(path, api.ui_dir); },
                      [&api](Exchange& ex) { return handle_ui(api, ex); });
  }
  api.routes = r.routes();
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  return !ec && addr.is_loopback();
}

// auth.mode = none on an address others can reach would hand every model and collection to
// anyone on the network: refused unless the operator says so.
Status check_exposure(const Config& config) {
  if (config.auth.mode != "none" || is_loopback_host(config.server.host)) return {};
  if (config.auth.allow_none_on_network) {
    spdlog::warn("auth.mode = none on {}: anyone who can reach this port may use every model and collection",
                 config.server.host);
    return {};
  }
  return invalid_argument(fmt::format(
      "refusing to listen on {} without authentication: anyone who can reach the port could use every model, read "
      "every collection and manage the server. Set [auth] mode = \"keys\" (--auth keys) and create keys with "
      "`hearth keys create`, or listen on 127.0.0.1; to accept the risk, pass --insecure-no-auth "
      "(auth.allow_none_on_network = true)",
      config.server.host));
}

// [limits]: in this process, or in Redis shared with other replicas.
Result<std::unique_ptr<Limits>> make_limits(const Config& config, asio::thread_pool& blocking, HttpMetrics& metrics) {
  const LimitSettings& l = config.limits;
  std::unique_ptr<limits::Limiter> limiter;
  asio::thread_pool* pool = nullptr;
  if (l.redis_url.empty()) {
    limiter = limits::make_memory_limiter();
  } else {
    // Unreachable at start: refused, whatever on_redis_failure says (that governs outages later).
    auto redis = limits::make_redis_limiter(l.redis_url);
    if (!redis) return Error{ErrorCode::kUnavailable, "limits.redis_url: " + redis.error().message};
    limiter = std::move(*redis);
    pool = &blocking;  // Redis calls block: off the I/O threads
    spdlog::info("limits: shared in {}", l.redis_url);
  }
  return std::make_unique<Limits>(l, std::move(limiter), pool, &metrics);
}

// [safety]: content rules on what callers send, then PII redaction on input and output. The
// "hash" action is keyed by the API keys' secret when there is one (stable across restarts), else
// by a secret of this process.
Status add_safety_hooks(const Config& config, const RoleTable& roles, HttpMetrics& metrics, Pipeline& pipeline,
                        std::shared_ptr<const ContentRules>& rules) {
  auto built = ContentRules::build(config.safety.rules_json, &metrics);
  if (!built) return built.take_error();
  rules = std::move(*built);
  if (rules) {
    pipeline.input.push_back(make_rules_input_hook(rules));
    spdlog::info("safety: content rules on ([[safety.rules]])");
  }
  std::string secret;
  if (std::ifstream f(config.auth.secret_file, std::ios::binary); f) secret.assign(std::istreambuf_iterator<char>(f), {});
  if (secret.empty()) secret = new_request_id() + new_request_id();
  auto policies = PiiPolicies::build(config.safety, roles, std::move(secret));
  if (!policies) return policies.take_error();
  if (policies->empty()) return {};
  auto shared = std::make_shared<const PiiPolicies>(std::move(*policies));
  pipeline.input.push_back(make_pii_input_hook(shared, &metrics));
  pipeline.output.push_back(make_pii_output_hook(shared, &metrics));
  spdlog::info("safety: PII redaction on ([safety])");
  return {};
}

void print_banner(const Config& config, int port) {
  std::string models;
  for (const auto& e : config.entries) models += fmt::format("\n    {:<28} {}", e.id, e.file);
  const bool test_models_only = std::all_of(config.entries.begin(), config.entries.end(), [](const ModelEntry& e) {
    return e.file.find("hearth-tiny-") != std::string::npos;
  });
  const char* scheme = config.tls.enabled() ? "https" : "http";
  spdlog::info("Hearth is listening on {}://{}:{} (config: {}; auth: {})\n  models:{}", scheme, config.server.host,
               port, config.source, config.auth.mode, models.empty() ? " (none)" : models);
  if (test_models_only) {
    spdlog::warn(
        "These are Hearth's generated TEST models: real tokenizers, random weights. They answer with "
        "gibberish. To serve a real model, download a GGUF (e.g. `hearth models pull "
        "https://huggingface.co/bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/resolve/main/"
        "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf`) and run `hearth serve --model models/<file>.gguf`, or add a "
        "[[model]] entry to the config (see README.md).");
  }
  spdlog::info("try: curl {}://{}:{}/v1/chat/completions -H 'Content-Type: application/json' -d "
               "'{{\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":32}}'",
               scheme, config.server.host, port);
}

// SIGHUP: the TLS certificate and key are read again; new connections use them, open ones keep theirs.
void reload_tls_on_sighup(asio::signal_set& hup, HttpServer& server) {
  hup.async_wait([&hup, &server](const boost::system::error_code& ec, int) {
    if (ec) return;
    (void)server.reload_tls();  // logs success or the failure (naming the file)
    reload_tls_on_sighup(hup, server);
  });
}

// Identity, the audit trail and the personal data stores: opened before the server listens,
// closed after it stops.
struct Security {
  std::optional<RoleTable> roles;
  std::unique_ptr<auth::KeyStore> keys;
  std::unique_ptr<auth::UserStore> users;
  std::unique_ptr<auth::CollectionAccessStore> acl;
  auth::JwtConfig jwt;
  std::unique_ptr<auth::JwksCache> jwks;
  std::unique_ptr<AuditTrail> audit;
  std::unique_ptr<conversations::Store> conversations;
  privacy::Registry privacy;
};

// The JWKS, from its file or the provider's URL (through the outbound policy like every fetch).
auth::JwksCache::Fetch jwks_fetch(const JwtSettings& j) {
  if (!j.jwks_file.empty()) {
    return [path = j.jwks_file]() -> Result<std::string> {
      std::ifstream f(path, std::ios::binary);
      if (!f) return unavailable(fmt::format("cannot read the JWKS file {}", path));
      return std::string(std::istreambuf_iterator<char>(f), {});
    };
  }
  return [url = j.jwks_url]() -> Result<std::string> {
    knowledge::FetchLimits limits;
    limits.max_bytes = auth::kMaxJwksBytes;
    limits.timeout_s = 10;
    auto got = knowledge::make_curl_fetcher()->fetch(url, limits);
    if (!got) return unavailable(fmt::format("fetching the JWKS {}: {}", url, got.error().message));
    return std::move(got->bytes);
  };
}

// Sign-in users (any mode but none) and the identity provider's keys (jwt modes).
Status open_identities(const Config& config, Security& s) {
  auth::SessionPolicy sessions;
  sessions.default_ttl_s = config.auth.session_ttl_seconds;
  sessions.idle_timeout_s = config.auth.session_idle_seconds;
  auto users = auth::UserStore::open(config.auth.db, config.auth.secret_file, {}, sessions);
  if (!users) return users.take_error();
  s.users = std::move(*users);
  s.privacy.add(privacy::user_store(*s.users));
  auto acl = auth::CollectionAccessStore::open(config.auth.db);
  if (!acl) return acl.take_error();
  s.acl = std::move(*acl);
  s.privacy.add(privacy::collection_access_store(*s.acl));
  if (!config.auth.jwt()) return {};
  const JwtSettings& j = config.auth.jwt_settings;
  s.jwt.issuers = j.issuers;
  s.jwt.audiences = j.audiences;
  s.jwt.clock_skew_s = j.clock_skew_seconds;
  s.jwt.role_claim = j.role_claim;
  s.jwt.role_map = j.role_map;
  s.jwt.default_role = j.default_role;
  HEARTH_TRY(auth::validate_jwt_config(s.jwt));
  for (const auto& [claim, role] : j.role_map) {
    if (!s.roles->find(role)) return invalid_argument(fmt::format("auth.jwt.role_map.{}: no role '{}'", claim, role));
  }
  s.jwks = std::make_unique<auth::JwksCache>(jwks_fetch(j), j.jwks_refresh_seconds, j.jwks_min_refetch_seconds);
  // A key set that cannot be read at start is reported now, but not fatal: the provider may be
  // down for a moment, and requests get 503 until it can be read.
  if (auto loaded = s.jwks->refresh(unix_time_now()); !loaded) spdlog::warn("auth: {}", loaded.error().message);
  spdlog::info("auth: JWTs from {} ({})", fmt::join(j.issuers, ", "), j.jwks_file.empty() ? j.jwks_url : j.jwks_file);
  return {};
}

Result<std::unique_ptr<Security>> open_security(const Config& config) {
  auto s = std::make_unique<Security>();
  auto roles = RoleTable::build(config.auth.roles);
  if (!roles) return roles.take_error();
  s->roles = std::move(*roles);
  if (config.auth.keys()) {
    auto opened = auth::KeyStore::open(config.auth.db, config.auth.secret_file);
    if (!opened) return opened.take_error();
    s->keys = std::move(*opened);
    s->privacy.add(privacy::api_key_store(*s->keys));
    spdlog::info("auth: API keys ({})", config.auth.db);
  }
  if (config.auth.mode != "none") HEARTH_TRY(open_identities(config, *s));
  if (config.audit.enabled) {
    auto trail = AuditTrail::open(config.audit);
    if (!trail) return trail.take_error();
    s->audit = std::move(*trail);
    // Erasure pseudonymises with the auth secret, so a subject's pseudonym is stable.
    s->privacy.add(privacy::audit_log_store(s->audit->store(), [path = config.auth.secret_file] {
      return auth::load_or_create_secret(path);
    }));
    spdlog::info("audit: {} (retention {} days)", config.audit.db, config.audit.retention_days);
  }
  if (config.ui.enabled) {
    auto store = conversations::open_sqlite_store(config.ui.conversations_db);
    if (!store) return store.take_error();
    s->conversations = std::move(*store);
    s->privacy.add(conversations::personal_data_store(*s->conversations));
  }
  return s;
}

// Deletes audit records past their retention now and every hour (on the blocking pool).
void schedule_retention(asio::steady_timer& timer, AuditTrail& trail, asio::thread_pool& pool) {
  asio::post(pool, [&trail] {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    if (auto n = trail.apply_retention(now.count()); !n) spdlog::warn("audit retention: {}", n.error().message);
  });
  timer.expires_after(std::chrono::hours(1));
  timer.async_wait([&timer, &trail, &pool](const boost::system::error_code& ec) {
    if (!ec) schedule_retention(timer, trail, pool);
  });
}

}  // namespace

int run_server(const Config& config) {
  if (auto exposed = check_exposure(config); !exposed) {
    spdlog::error("{}", exposed.error().message);
    return 1;
  }
  auto security = open_security(config);
  if (!security) {
    spdlog::error("{}", security.error().message);
    return 1;
  }
  Security& sec = **security;
  const RoleTable* roles = &*sec.roles;
  engine_global_init();
  asio::io_context ioc;
  asio::thread_pool blocking(4);
  std::atomic<bool> draining{false};
  ModelRegistry registry(config);
  GenerationService generation(registry);
  HttpMetrics metrics;
  ApiContext api{config, registry, generation, metrics, blocking, draining};
  api.keys = sec.keys.get();
  api.users = sec.users.get();
  api.acl = sec.acl.get();
  api.roles = roles;
  api.audit = sec.audit.get();
  api.privacy = &sec.privacy;
  api.conversations = sec.conversations.get();
  api.ui_dir = config.ui.dir;
  api.jwks = sec.jwks.get();
  api.jwt = &sec.jwt;
  ModelPulls pulls;
  api.pulls = &pulls;
  Pipeline pipeline;
  auto limits = make_limits(config, blocking, metrics);
  if (!limits) {
    spdlog::error("{}", limits.error().message);
    return 1;
  }
  pipeline.limits = limits->get();
  std::shared_ptr<const ContentRules> rules;
  if (auto hooks = add_safety_hooks(config, *roles, metrics, pipeline, rules); !hooks) {
    spdlog::error("{}", hooks.error().message);
    return 1;
  }
  api.pipeline = &pipeline;
  api.rules = rules.get();
  std::unique_ptr<rag::KnowledgeService> knowledge;
  if (config.knowledge.enabled) {
    rag::KnowledgeServiceOptions ko;
    ko.db_path = config.knowledge.db.empty() ? std::filesystem::absolute("data/knowledge.sqlite").string()
                                             : config.knowledge.db;
    ko.static_embeddings = config.knowledge.static_embeddings.empty() ? knowledge::default_static_embeddings_path()
                                                                      : config.knowledge.static_embeddings;
    ko.max_document_bytes = config.knowledge.max_upload_bytes;
    ko.scheduler_tick_seconds = config.knowledge.scheduler_tick_seconds;
    ko.max_queued_jobs = static_cast<std::size_t>(config.knowledge.max_queued_jobs);
    ko.registry = &registry;
    ko.reranker = config.knowledge.reranker;
    ko.allowed_roots = config.knowledge.allowed_roots;
    auto opened = rag::KnowledgeService::open(ko);
    if (!opened) {
      spdlog::error("{}", opened.error().message);
      return 1;
    }
    knowledge = std::move(*opened);
    knowledge->start();
    api.knowledge = knowledge.get();
    spdlog::info("knowledge: collections in {}", ko.db_path);
  }

  Router router;
  router.use(make_metrics_middleware(metrics));  // first: it must see every request
  router.use(make_request_id_middleware());
  router.use(make_access_log_middleware());
  if (sec.audit) router.use(make_audit_middleware(*sec.audit));  // before auth: it records refusals too
  router.use(make_draining_middleware(draining));
  router.use(make_auth_middleware({config.auth.mode, roles, sec.keys.get(), sec.users.get(), sec.jwks.get(), &sec.jwt,
                                   &blocking, sec.acl.get(), &metrics}));
  router.use((*limits)->filter());  // after auth: limits are per key
  build_routes(router, api);

  HttpServer server(ioc, router, config.server, config.tls, &metrics);
  auto port = server.listen();
  if (!port) {
    spdlog::error("{}", port.error().message);
    return 1;
  }
  if (!config.server.port_file.empty()) {
    std::ofstream(config.server.port_file) << *port << "\n";
  }
  print_banner(config, *port);

  std::thread unloader;
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  std::atomic<int> signal_count{0};
  std::function<void()> arm;
  arm = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (++signal_count > 1) {
        spdlog::warn("second signal: stopping now");
        ioc.stop();
        return;
      }
      arm();
      const int grace = config.server.shutdown_grace_seconds;
      spdlog::info("signal {}: shutting down; {} request(s) in flight get up to {} s to finish", sig,
                   metrics.in_flight(), grace);
      draining = true;
      server.stop_accepting();
      asio::co_spawn(ioc, [&, grace]() -> Task<> {
        asio::steady_timer t(ioc);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace);
        while (metrics.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
          t.expires_after(std::chrono::milliseconds(50));
          co_await t.async_wait(asio::use_awaitable);
        }
        if (metrics.in_flight() > 0) {
          spdlog::warn("grace period over: cancelling {} request(s)", metrics.in_flight());
        }
        // Unloading stops the schedulers; anything still running ends as cancelled.
        unloader = std::thread([&registry] { registry.shutdown(); });
        const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (metrics.in_flight() > 0 && std::chrono::steady_clock::now() < hard) {
          t.expires_after(std::chrono::milliseconds(50));
          co_await t.async_wait(asio::use_awaitable);
        }
        ioc.stop();
      }, asio::detached);
    });
  };
  arm();
  asio::steady_timer retention(ioc);
  if (sec.audit) schedule_retention(retention, *sec.audit, blocking);
  asio::signal_set hup(ioc, SIGHUP);  // SIGHUP: read the TLS certificate and key again
  reload_tls_on_sighup(hup, server);

  const int n_threads = std::max(1, config.server.threads);
  std::vector<std::thread> threads;
  for (int i = 1; i < n_threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  blocking.join();
  if (knowledge) knowledge->stop();  // before the registry: a gguf embedder may be in use
  if (unloader.joinable()) unloader.join();
  registry.shutdown();
  spdlog::info("stopped");
  return 0;
}

}  // namespace hearth
