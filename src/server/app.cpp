#include "server/app.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/model_engine.h"
#include "knowledge/static_embedder.h"
#include "rag/knowledge_service.h"
#include "models/registry.h"
#include "server/api.h"
#include "server/http_server.h"
#include "server/middleware.h"
#include "server/router.h"

namespace hearth {
namespace asio = boost::asio;

namespace {

void build_routes(Router& r, ApiContext& api) {
  // The route table: one line per route.
  r.add("GET",  "/health",              [&api](Exchange& ex) { return handle_health(api, ex); });
  r.add("GET",  "/metrics",             [&api](Exchange& ex) { return handle_metrics(api, ex); });
  r.add("GET",  "/v1/models",           [&api](Exchange& ex) { return handle_models(api, ex); });
  r.add("POST", "/v1/chat/completions", [&api](Exchange& ex) { return handle_chat_completions(api, ex); });
  r.add("POST", "/v1/completions",      [&api](Exchange& ex) { return handle_completions(api, ex); });
  r.add("POST", "/v1/embeddings",       [&api](Exchange& ex) { return handle_embeddings(api, ex); });
  // Knowledge (issue #3).
  r.add("POST",   "/v1/knowledge/collections",                         [&api](Exchange& ex) { return handle_kb_create_collection(api, ex); });
  r.add("GET",    "/v1/knowledge/collections",                         [&api](Exchange& ex) { return handle_kb_list_collections(api, ex); });
  r.add("GET",    "/v1/knowledge/collections/{collection}",            [&api](Exchange& ex) { return handle_kb_get_collection(api, ex); });
  r.add("DELETE", "/v1/knowledge/collections/{collection}",            [&api](Exchange& ex) { return handle_kb_delete_collection(api, ex); });
  r.add("GET",    "/v1/knowledge/collections/{collection}/documents",  [&api](Exchange& ex) { return handle_kb_list_documents(api, ex); });
  r.add("POST",   "/v1/knowledge/collections/{collection}/documents",  [&api](Exchange& ex) { return handle_kb_upload_document(api, ex); });
  r.add("DELETE", "/v1/knowledge/collections/{collection}/documents/{document}", [&api](Exchange& ex) { return handle_kb_delete_document(api, ex); });
  r.add("GET",    "/v1/knowledge/collections/{collection}/sources",    [&api](Exchange& ex) { return handle_kb_list_sources(api, ex); });
  r.add("POST",   "/v1/knowledge/collections/{collection}/sources",    [&api](Exchange& ex) { return handle_kb_add_source(api, ex); });
  r.add("POST",   "/v1/knowledge/collections/{collection}/sync",       [&api](Exchange& ex) { return handle_kb_sync(api, ex); });
  r.add("GET",    "/v1/knowledge/jobs",                                [&api](Exchange& ex) { return handle_kb_list_jobs(api, ex); });
  r.add("GET",    "/v1/knowledge/jobs/{job}",                          [&api](Exchange& ex) { return handle_kb_get_job(api, ex); });
  r.add("POST",   "/v1/knowledge/search",                              [&api](Exchange& ex) { return handle_kb_search(api, ex); });
  r.add_websocket("/v1/chat/ws", [&api](WsConnection& ws, const HttpRequest& req) {
    return handle_chat_websocket(api, ws, req);
  });
}

void print_banner(const Config& config, int port) {
  std::string models;
  for (const auto& e : config.entries) models += fmt::format("\n    {:<28} {}", e.id, e.file);
  const bool test_models_only = std::all_of(config.entries.begin(), config.entries.end(), [](const ModelEntry& e) {
    return e.file.find("hearth-tiny-") != std::string::npos;
  });
  spdlog::info("Hearth is listening on http://{}:{} (config: {})\n  models:{}", config.server.host, port,
               config.source, models.empty() ? " (none)" : models);
  if (test_models_only) {
    spdlog::warn(
        "These are Hearth's generated TEST models: real tokenizers, random weights. They answer with "
        "gibberish. To serve a real model, download a GGUF (e.g. `hearth models pull "
        "https://huggingface.co/bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/resolve/main/"
        "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf`) and run `hearth serve --model models/<file>.gguf`, or add a "
        "[[model]] entry to the config (see README.md).");
  }
  spdlog::info("try: curl http://{}:{}/v1/chat/completions -H 'Content-Type: application/json' -d "
               "'{{\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":32}}'",
               config.server.host, port);
}

}  // namespace

int run_server(const Config& config) {
  engine_global_init();
  asio::io_context ioc;
  asio::thread_pool blocking(4);
  std::atomic<bool> draining{false};
  ModelRegistry registry(config);
  GenerationService generation(registry);
  HttpMetrics metrics;
  ApiContext api{config, registry, generation, metrics, blocking, draining};
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
  router.use(make_draining_middleware(draining));
  build_routes(router, api);

  HttpServer server(ioc, router, config.server);
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
