// GET /health, GET /v1/models, GET /metrics.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>
#include <chrono>
#include <tuple>

#include "server/api.h"
#include "server/async_util.h"
#include "server/error_mapping.h"
#include "server/model_pulls.h"

namespace hearth {
using json = nlohmann::json;

HttpResponse json_response(int status, const std::string& body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

long long unix_time_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const Principal& caller(Exchange& ex) {
  static const Principal nobody{"nobody", "nobody", "nobody", "", {}, {}, {}};
  const auto& p = ex.context().principal;
  return p ? *p : nobody;
}

std::optional<Error> check_model(const ApiContext& api, const Principal& who, const std::string& requested) {
  if (who.may_use_model(api.config, requested)) return std::nullopt;
  return model_not_allowed(who, requested);
}

std::optional<Error> check_collections(const Principal& who, const std::vector<std::string>& collections) {
  for (const auto& c : collections) {
    if (!who.may_use_collection(c)) return collection_not_allowed(who, c);
  }
  return std::nullopt;
}

void record_usage(RequestContext& ctx, const Usage& usage) {
  ctx.prompt_tokens += static_cast<std::uint64_t>(usage.prompt_tokens);
  ctx.completion_tokens += static_cast<std::uint64_t>(usage.completion_tokens);
}

Task<> handle_health(ApiContext& api, Exchange& ex) {
  json models = json::array();
  for (const auto& m : api.registry.status()) {
    models.push_back({{"id", m.id}, {"state", m.state}, {"load", m.load}});
  }
  const bool draining = api.draining.load();
  json out = {{"status", draining ? "draining" : "ok"}, {"models", std::move(models)}};
  co_await ex.respond(json_response(draining ? 503 : 200, out.dump()));
}

namespace {
// {"requested": bool, "holds": true | false | null (decided when the model loads), "reason": "..."}
json batch_invariance_json(const BatchInvariance& b) {
  return {{"requested", b.requested}, {"holds", b.holds ? json(*b.holds) : json(nullptr)}, {"reason", b.reason}};
}
}  // namespace

Task<> handle_models(ApiContext& api, Exchange& ex) {
  json data = json::array();
  const auto status = api.registry.status();
  std::error_code ec;
  for (size_t i = 0; i < api.config.entries.size(); ++i) {
    const ModelEntry& e = api.config.entries[i];
    if (!caller(ex).may_use_model(api.config, e.id)) continue;
    json m = {{"id", e.id},
              {"object", "model"},
              {"created", 0},
              {"owned_by", "hearth"},
              {"aliases", e.aliases},
              {"context_length", e.load.context_size},
              {"state", status[i].state},
              {"downloadable", !e.url.empty()},
              {"file_present", std::filesystem::exists(e.file, ec)},
              {"batch_invariant", batch_invariance_json(status[i].batch_invariance)}};
    data.push_back(std::move(m));
  }
  for (const KnowledgeAlias& a : api.config.knowledge.aliases) {  // models that answer with knowledge
    if (!caller(ex).may_use_model(api.config, a.id)) continue;
    const ModelEntry* base = api.config.find(a.model);
    data.push_back({{"id", a.id}, {"object", "model"}, {"created", 0}, {"owned_by", "hearth"},
                    {"aliases", json::array()}, {"context_length", base ? base->load.context_size : 0},
                    {"knowledge", {{"model", a.model}, {"collections", a.collections}, {"top_k", a.top_k},
                                   {"alpha", a.alpha ? json(*a.alpha) : json(nullptr)}}}});
  }
  const json out = {{"object", "list"}, {"data", std::move(data)}};
  co_await ex.respond(json_response(200, out.dump()));
}

namespace {

json model_state_json(const ApiContext& api, const std::string& id) {
  for (const auto& m : api.registry.status()) {
    if (m.id == id) return {{"object", "model"}, {"id", m.id}, {"state", m.state}, {"bytes", m.bytes}};
  }
  return {{"object", "model"}, {"id", id}};
}

}  // namespace

// POST /v1/admin/models/{model}/load: loads the model (waits up to models.load_wait_seconds; the
// progress shows in /health meanwhile) and answers with its state.
Task<> handle_admin_model_load(ApiContext& api, Exchange& ex) {
  auto entry = api.registry.resolve(ex.context().path_params["model"]);
  if (!entry) co_return co_await ex.respond(error_response(entry.error()));
  auto work = [&api, id = (*entry)->id]() -> Status {
    auto engine = api.registry.acquire(id);
    if (!engine) return engine.take_error();
    return {};
  };
  auto loaded = co_await run_blocking(api.blocking, work);
  if (!loaded) co_return co_await ex.respond(error_response(loaded.error()));
  co_await ex.respond(json_response(200, model_state_json(api, (*entry)->id).dump()));
}

// POST /v1/admin/models/{model}/unload: frees an idle model's memory (503 while it serves requests).
Task<> handle_admin_model_unload(ApiContext& api, Exchange& ex) {
  auto entry = api.registry.resolve(ex.context().path_params["model"]);
  if (!entry) co_return co_await ex.respond(error_response(entry.error()));
  auto work = [&api, id = (*entry)->id] { return api.registry.unload(id); };
  auto done = co_await run_blocking(api.blocking, work);
  if (!done) co_return co_await ex.respond(error_response(done.error()));
  co_await ex.respond(json_response(200, model_state_json(api, (*entry)->id).dump()));
}

namespace {

json pull_json(const PullStatus& p) {
  return {{"object", "model.pull"}, {"id", p.id},       {"state", p.state}, {"done", p.done},
          {"total", p.total},       {"sha256", p.sha256}, {"error", p.error.empty() ? json(nullptr) : json(p.error)}};
}

}  // namespace

// POST /v1/admin/models/{model}/pull: downloads a catalog model from its url (202; the progress
// at GET .../pull). GET: the progress, or 404 when none was started.
Task<> handle_admin_model_pull(ApiContext& api, Exchange& ex) {
  auto entry = api.registry.resolve(ex.context().path_params["model"]);
  if (!entry) co_return co_await ex.respond(error_response(entry.error()));
  auto started = api.pulls->start(**entry);
  if (!started) co_return co_await ex.respond(error_response(started.error()));
  co_await ex.respond(json_response(202, pull_json(*started).dump()));
}

Task<> handle_admin_model_pull_status(ApiContext& api, Exchange& ex) {
  auto entry = api.registry.resolve(ex.context().path_params["model"]);
  if (!entry) co_return co_await ex.respond(error_response(entry.error()));
  auto status = api.pulls->status((*entry)->id);
  if (!status) {
    co_return co_await ex.respond(error_response(not_found(fmt::format("no download of '{}' was started", (*entry)->id))));
  }
  co_await ex.respond(json_response(200, pull_json(*status).dump()));
}

Task<> handle_metrics(ApiContext& api, Exchange& ex) {
  std::string out = api.metrics.render();
  prom_header(out, "hearth_model_loaded_bytes", "gauge", "Bytes of loaded models and their KV caches");
  prom_line(out, "hearth_model_loaded_bytes", "", static_cast<double>(api.registry.bytes_in_use()));
  const auto c = api.registry.counters();
  prom_header(out, "hearth_model_loads_total", "counter", "Model loads");
  prom_line(out, "hearth_model_loads_total", "", static_cast<double>(c.loads));
  prom_header(out, "hearth_model_load_failures_total", "counter", "Failed model loads");
  prom_line(out, "hearth_model_load_failures_total", "", static_cast<double>(c.load_failures));
  prom_header(out, "hearth_model_unloads_total", "counter", "Model unloads by reason");
  prom_line(out, "hearth_model_unloads_total", "reason=\"budget\"", static_cast<double>(c.evictions));
  prom_line(out, "hearth_model_unloads_total", "reason=\"idle\"", static_cast<double>(c.idle_unloads));

  struct Field {
    const char* name;
    const char* type;
    const char* help;
    double (*get)(const SchedulerStats&);
  };
  static const Field fields[] = {
      {"hearth_requests_submitted_total", "counter", "Generation requests accepted", [](const SchedulerStats& s) { return double(s.requests_submitted); }},
      {"hearth_requests_completed_total", "counter", "Generation requests finished", [](const SchedulerStats& s) { return double(s.requests_completed); }},
      {"hearth_requests_cancelled_total", "counter", "Generation requests cancelled", [](const SchedulerStats& s) { return double(s.requests_cancelled); }},
      {"hearth_requests_rejected_total", "counter", "Requests refused: queue full", [](const SchedulerStats& s) { return double(s.requests_rejected); }},
      {"hearth_prompt_tokens_computed_total", "counter", "Prompt tokens computed", [](const SchedulerStats& s) { return double(s.prompt_tokens_computed); }},
      {"hearth_prompt_tokens_reused_total", "counter", "Prompt tokens served from the prefix cache", [](const SchedulerStats& s) { return double(s.prompt_tokens_reused); }},
      {"hearth_tokens_generated_total", "counter", "Tokens generated", [](const SchedulerStats& s) { return double(s.tokens_generated); }},
      {"hearth_decode_calls_total", "counter", "llama_decode calls", [](const SchedulerStats& s) { return double(s.decode_calls); }},
      {"hearth_decode_failures_total", "counter", "llama_decode failures", [](const SchedulerStats& s) { return double(s.decode_failures); }},
      {"hearth_decode_interrupts_total", "counter", "Prompt steps stopped early so that a request arriving just after them joins",
       [](const SchedulerStats& s) { return double(s.decode_interrupts); }},
      {"hearth_batched_tokens_total", "counter", "Tokens in all batches", [](const SchedulerStats& s) { return double(s.batched_tokens); }},
      {"hearth_active_sequences", "gauge", "Sequences being decoded", [](const SchedulerStats& s) { return double(s.active_slots); }},
      {"hearth_queued_requests", "gauge", "Requests waiting for a sequence slot", [](const SchedulerStats& s) { return double(s.queued); }},
  };
  const auto stats = api.registry.engine_stats();
  for (const auto& f : fields) {
    prom_header(out, f.name, f.type, f.help);
    for (const auto& [model, s] : stats) prom_line(out, f.name, fmt::format("model=\"{}\"", prom_escape(model)), f.get(s));
  }
  if (api.knowledge) {
    const auto k = api.knowledge->counters();
    const std::tuple<const char*, const char*, std::uint64_t> knowledge[] = {
        {"hearth_knowledge_jobs_total", "Knowledge sync jobs started", k.jobs_started},
        {"hearth_knowledge_job_failures_total", "Knowledge sync jobs that failed", k.jobs_failed},
        {"hearth_knowledge_scheduled_syncs_total", "Syncs queued by source intervals", k.scheduled_syncs},
        {"hearth_knowledge_searches_total", "Knowledge searches (API and chat)", k.searches},
        {"hearth_knowledge_uploads_total", "Documents uploaded", k.uploads}};
    for (const auto& [name, help, value] : knowledge) {
      prom_header(out, name, "counter", help);
      prom_line(out, name, "", static_cast<double>(value));
    }
  }
  HttpResponse r;
  r.body = std::move(out);
  r.content_type = "text/plain; version=0.0.4";
  co_await ex.respond(std::move(r));
}

std::string query_param(const std::string& query, std::string_view name) {
  std::string_view q = query;
  while (!q.empty()) {
    const std::size_t amp = std::min(q.find('&'), q.size());
    const std::string_view kv = q.substr(0, amp);
    const std::size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) {
      if (eq == std::string_view::npos) return "";
      std::string out;
      const std::string_view v = kv.substr(eq + 1);
      for (std::size_t i = 0; i < v.size(); ++i) {
        const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
        if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) && hex(v[i + 2])) {
          out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          out += v[i] == '+' ? ' ' : v[i];
        }
      }
      return out;
    }
    q.remove_prefix(std::min(amp + 1, q.size()));
  }
  return {};
}

}  // namespace hearth
