// /v1/knowledge/...: collections, documents (multipart upload), sources, sync jobs and search.
// Handlers parse and render; KnowledgeService does the work on the blocking pool.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>

#include "rag/knowledge_service.h"
#include "auth/collection_access.h"
#include "server/api.h"
#include "server/content_rules.h"
#include "server/async_util.h"
#include "server/error_mapping.h"
#include "server/multipart.h"
#include "server/openai_types.h"

namespace hearth {
using json = nlohmann::json;
using rag::KnowledgeService;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json collection_json(const knowledge::CollectionInfo& c) {
  return {{"object", "knowledge.collection"}, {"name", c.name}, {"embedder", c.embedder}, {"dimensions", c.dimensions},
          {"documents", c.documents}, {"chunks", c.chunks}};
}

json document_json(const knowledge::DocumentInfo& d) {
  json meta = json::parse(d.metadata_json, nullptr, false);
  return {{"object", "knowledge.document"}, {"id", d.id}, {"uri", d.uri}, {"title", d.title},
          {"content_hash", d.content_hash}, {"chunks", d.chunks},
          {"metadata", meta.is_discarded() ? json::object() : meta}};
}

json source_json(const knowledge::SourceRecord& s) {
  return {{"object", "knowledge.source"}, {"id", s.id}, {"uri", s.uri}, {"include", s.include}, {"exclude", s.exclude},
          {"interval_seconds", s.interval_seconds}, {"last_synced_at", s.last_synced_at}};
}

json counters_json(const knowledge::SyncCounters& c) {
  return {{"documents_added", c.documents_added}, {"documents_changed", c.documents_changed},
          {"documents_removed", c.documents_removed}, {"documents_unchanged", c.documents_unchanged},
          {"documents_failed", c.documents_failed}, {"chunks_embedded", c.chunks_embedded},
          {"chunks_reused", c.chunks_reused}};
}

json job_json(const rag::JobInfo& j) {
  json errors = json::array();
  for (const auto& e : j.errors) errors.push_back({{"document", e.uri}, {"message", e.message}});
  json out = {{"object", "knowledge.job"}, {"id", j.id}, {"kind", j.kind}, {"collection", j.collection},
              {"trigger", j.trigger}, {"status", rag::job_state_name(j.state)},
              {"progress", {{"documents_done", j.done}, {"documents_total", j.total}, {"current", j.current}}},
              {"counters", counters_json(j.counters)}, {"errors", std::move(errors)}, {"errors_total", j.errors_total},
              {"created_at", j.created_at}, {"started_at", j.started_at ? json(j.started_at) : json(nullptr)},
              {"finished_at", j.finished_at ? json(j.finished_at) : json(nullptr)}};
  if (!j.source.empty()) out["source"] = j.source;
  if (!j.error.empty()) out["error"] = j.error;
  return out;
}

json list_json(json data) { return {{"object", "list"}, {"data", std::move(data)}}; }

// A render for answer(): a list of items, each through to_json.
template <typename ToJson>
auto list_render(ToJson to_json) {
  return [to_json](const auto& items) {
    json data = json::array();
    for (const auto& i : items) data.push_back(to_json(i));
    return list_json(std::move(data));
  };
}

Result<KnowledgeService*> service(ApiContext& api) {
  if (!api.knowledge) return unavailable("knowledge is disabled on this server ([knowledge] enabled = false)");
  return api.knowledge;
}

// Runs `fn(service)` on the blocking pool and answers with `status` and render(result).
// Callables by reference: see run_blocking (the callers' temporaries outlive the co_await).
template <typename F, typename Render>
Task<> answer(ApiContext& api, Exchange& ex, int status, F&& fn, Render&& render) {
  auto svc = service(api);
  if (!svc) co_return co_await ex.respond(error_response(svc.error()));
  auto r = co_await run_blocking(api.blocking, [&fn, s = *svc] { return fn(*s); });
  if (!r) co_return co_await ex.respond(error_response(r.error()));
  co_return co_await ex.respond(json_response(status, dump(render(*r))));
}

const std::string& param(Exchange& ex, const char* name) { return ex.context().path_params[name]; }

Result<json> json_object_body(Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) return body.take_error();
  if (!body->is_object()) return invalid_argument("the request body must be a JSON object", "body");
  return std::move(*body);
}

Status read_str(const json& o, const char* key, std::string& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_string()) return invalid_argument(fmt::format("'{}' must be a string", key), key);
  out = it->get<std::string>();
  return {};
}

}  // namespace

Task<> handle_kb_create_collection(ApiContext& api, Exchange& ex) {
  auto body = json_object_body(ex);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  std::string name, embedder;
  for (auto it = body->begin(); it != body->end(); ++it) {
    if (it.key() != "name" && it.key() != "embedder") {
      co_return co_await ex.respond(error_response(invalid_argument(fmt::format("unknown field '{}'", it.key()), it.key())));
    }
  }
  if (auto s = read_str(*body, "name", name); !s) co_return co_await ex.respond(error_response(s.error()));
  if (auto s = read_str(*body, "embedder", embedder); !s) co_return co_await ex.respond(error_response(s.error()));
  if (name.empty()) co_return co_await ex.respond(error_response(invalid_argument("'name' is required", "name")));
  if (!caller(ex).may_use_collection(name)) co_return co_await ex.respond(error_response(collection_not_allowed(caller(ex), name)));
  // Made by a user (with auth on), it is theirs: only they, those they list and knowledge admins
  // reach it. Made by a knowledge admin, it is shared: roles and allow-lists alone govern it.
  const Principal& who = caller(ex);
  std::string owner = who.kind == "anonymous" || who.may(Permission::kKnowledgeSources) ? "" : who.id;
  auto work = [name, embedder, owner, acl = api.acl](KnowledgeService& s) -> Result<knowledge::CollectionInfo> {
    auto made = s.create_collection(name, embedder);
    if (made && acl && !owner.empty()) HEARTH_TRY(acl->put({name, owner, {}, {}, unix_time_now()}));
    return made;
  };
  co_await answer(api, ex, 201, work, collection_json);
}

Task<> handle_kb_list_collections(ApiContext& api, Exchange& ex) {
  auto work = [who = ex.context().principal](KnowledgeService& s) -> Result<std::vector<knowledge::CollectionInfo>> {
    auto all = s.collections();
    if (all && who) std::erase_if(*all, [&](const auto& c) { return !who->may_use_collection(c.name); });
    return all;
  };
  auto render = list_render(collection_json);
  co_await answer(api, ex, 200, work, render);
}

Task<> handle_kb_get_collection(ApiContext& api, Exchange& ex) {
  auto work = [n = param(ex, "collection")](KnowledgeService& s) { return s.collection(n); };
  co_await answer(api, ex, 200, work, collection_json);
}

Task<> handle_kb_delete_collection(ApiContext& api, Exchange& ex) {
  const std::string name = param(ex, "collection");
  auto work = [name, acl = api.acl](KnowledgeService& s) -> Result<bool> {
    HEARTH_TRY(s.delete_collection(name));
    if (acl) HEARTH_TRY(acl->remove(name));
    return true;
  };
  auto render = [&name](bool) { return json{{"object", "knowledge.collection"}, {"name", name}, {"deleted", true}}; };
  co_await answer(api, ex, 200, work, render);
}

Task<> handle_kb_list_documents(ApiContext& api, Exchange& ex) {
  auto work = [n = param(ex, "collection")](KnowledgeService& s) { return s.documents(n); };
  auto render = list_render(document_json);
  co_await answer(api, ex, 200, work, render);
}

Task<> handle_kb_upload_document(ApiContext& api, Exchange& ex) {
  auto boundary = multipart_boundary(ex.request().header("content-type"));
  if (!boundary) co_return co_await ex.respond(error_response(boundary.error()));
  auto parts = parse_multipart(ex.request().body, *boundary);
  if (!parts) co_return co_await ex.respond(error_response(parts.error()));
  const FormPart* file = find_part(*parts, "file");
  if (!file) co_return co_await ex.respond(error_response(invalid_argument("multipart field 'file' is required", "file")));
  std::string filename = file->filename.value_or("");
  if (const FormPart* n = find_part(*parts, "filename")) filename = n->body;
  if (filename.empty() || filename.size() > 255 || filename.find('/') != std::string::npos) {
    co_return co_await ex.respond(error_response(
        invalid_argument("the file needs a name of 1-255 characters without '/' (its extension picks the format)", "file")));
  }
  std::string metadata = "{}";
  if (const FormPart* m = find_part(*parts, "metadata")) {
    json meta = json::parse(m->body, nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) {
      co_return co_await ex.respond(error_response(invalid_argument("'metadata' must be a JSON object", "metadata")));
    }
    for (auto it = meta.begin(); it != meta.end(); ++it) {
      if (!it->is_string() && !it->is_number() && !it->is_boolean()) {
        co_return co_await ex.respond(error_response(
            invalid_argument(fmt::format("'metadata.{}' must be a string, number or boolean", it.key()), "metadata")));
      }
    }
    metadata = meta.dump();
  }
  std::string bytes = file->body;
  if (api.rules && upload_is_text(filename)) {
    if (auto checked = api.rules->apply(bytes, "upload", "file", ex.context()); !checked) {
      co_return co_await ex.respond(error_response(checked.error()));
    }
  }
  const std::string name = param(ex, "collection");
  auto work = [name, filename, bytes = std::move(bytes), metadata](KnowledgeService& s) {
    return s.upload(name, filename, bytes, metadata);
  };
  auto render = [&name](const rag::UploadResult& u) {
    return json{{"object", "knowledge.upload"}, {"collection", name}, {"uri", u.uri},
    {"counters", counters_json(u.counters)}};
  };
  co_await answer(api, ex, 201, work, render);
}

Task<> handle_kb_delete_document(ApiContext& api, Exchange& ex) {
  const std::string& idtext = param(ex, "document");
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(idtext.data(), idtext.data() + idtext.size(), id);
  if (ec != std::errc() || p != idtext.data() + idtext.size() || id <= 0) {
    co_return co_await ex.respond(error_response(invalid_argument("the document id must be a positive integer", "document")));
  }
  auto work = [n = param(ex, "collection"), id](KnowledgeService& s) -> Result<bool> {
    HEARTH_TRY(s.delete_document(n, id));
    return true;
  };
  auto render = [id](bool) { return json{{"object", "knowledge.document"}, {"id", id}, {"deleted", true}}; };
  co_await answer(api, ex, 200, work, render);
}

Task<> handle_kb_list_sources(ApiContext& api, Exchange& ex) {
  auto work = [n = param(ex, "collection")](KnowledgeService& s) { return s.sources(n); };
  auto render = list_render(source_json);
  co_await answer(api, ex, 200, work, render);
}

Task<> handle_kb_add_source(ApiContext& api, Exchange& ex) {
  auto body = json_object_body(ex);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  rag::SourceSpec spec;
  for (auto it = body->begin(); it != body->end(); ++it) {
    const std::string& k = it.key();
    if (k != "uri" && k != "include" && k != "exclude" && k != "interval_seconds") {
      co_return co_await ex.respond(error_response(invalid_argument(fmt::format("unknown field '{}'", k), k)));
    }
  }
  for (auto [key, out] : {std::pair{"uri", &spec.uri}, {"include", &spec.include}, {"exclude", &spec.exclude}}) {
    if (auto s = read_str(*body, key, *out); !s) co_return co_await ex.respond(error_response(s.error()));
  }
  if (auto it = body->find("interval_seconds"); it != body->end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<long long>() < 0 || it->get<long long>() > 365LL * 86400) {
      co_return co_await ex.respond(error_response(
          invalid_argument("'interval_seconds' must be an integer from 0 (on demand) to 31536000", "interval_seconds")));
    }
    spec.interval_seconds = it->get<int>();
  }
  auto work = [n = param(ex, "collection"), spec](KnowledgeService& s) { return s.add_source(n, spec); };
  co_await answer(api, ex, 202, work, job_json);
}

Task<> handle_kb_sync(ApiContext& api, Exchange& ex) {
  auto work = [n = param(ex, "collection")](KnowledgeService& s) { return s.sync(n); };
  co_await answer(api, ex, 202, work, job_json);
}

Task<> handle_kb_list_jobs(ApiContext& api, Exchange& ex) {
  auto work = [c = query_param(ex.request().query, "collection"),
               who = ex.context().principal](KnowledgeService& s) -> Result<std::vector<rag::JobInfo>> {
    auto jobs = s.jobs(c);
    if (who) std::erase_if(jobs, [&](const rag::JobInfo& j) { return !who->may_use_collection(j.collection); });
    return jobs;
  };
  auto render = list_render(job_json);
  co_await answer(api, ex, 200, work, render);
}

Task<> handle_kb_get_job(ApiContext& api, Exchange& ex) {
  auto work = [id = param(ex, "job"), who = ex.context().principal](KnowledgeService& s) -> Result<rag::JobInfo> {
    auto job = s.job(id);
    if (job && who && !who->may_use_collection(job->collection)) return not_found(fmt::format("no job '{}'", id));
    return job;
  };
  co_await answer(api, ex, 200, work, job_json);
}

namespace {

knowledge::SearchOptions search_options(const KnowledgeRequest& r) {
  knowledge::SearchOptions o;
  o.top_k = static_cast<std::size_t>(r.top_k);
  o.alpha = r.alpha;
  o.rrf = r.rrf;
  o.rerank = r.rerank;
  if (r.mmr_lambda) o.mmr_lambda = *r.mmr_lambda;
  o.filter.documents = r.documents;
  o.filter.metadata = r.metadata;
  return o;
}

json retrieved_json(const rag::RetrievedChunk& r) {
  const knowledge::ChunkHit& h = r.hit.hit;
  json out = {{"object", "knowledge.chunk"}, {"collection", r.collection}, {"document", h.document_uri},
          {"title", h.document_title}, {"heading_path", h.chunk.heading_path}, {"page", h.chunk.page},
          {"char_start", h.chunk.char_start}, {"char_end", h.chunk.char_end}, {"chunk_id", h.chunk.id},
          {"text", h.chunk.text}, {"score", r.hit.score},
          {"keyword_score", r.hit.keyword ? json(*r.hit.keyword) : json(nullptr)},
          {"semantic_score", r.hit.semantic ? json(*r.hit.semantic) : json(nullptr)}};
  if (r.hit.rerank) out["rerank_score"] = *r.hit.rerank;  // only for reranked searches
  return out;
}

}  // namespace

Task<> handle_kb_search(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  auto req = parse_knowledge_request(*body, "", true);
  if (!req) co_return co_await ex.respond(error_response(req.error()));
  if (auto denied = check_collections(caller(ex), req->collections)) co_return co_await ex.respond(error_response(*denied));
  if (api.rules) {
    if (auto checked = api.rules->apply(req->query, "query", "query", ex.context()); !checked) {
      co_return co_await ex.respond(error_response(checked.error()));
    }
  }
  auto work = [r = *req](KnowledgeService& s) { return s.search(r.collections, r.query, search_options(r)); };
  auto render = [q = req->query](const std::vector<rag::RetrievedChunk>& hits) {
    json data = json::array();
    for (const auto& h : hits) data.push_back(retrieved_json(h));
    json out = list_json(std::move(data));
    out["query"] = q;
    return out;
  };
  co_await answer(api, ex, 200, work, render);
}

namespace {

json access_json(const std::string& name, const std::optional<auth::CollectionAccess>& a) {
  json out{{"object", "knowledge.collection.access"}, {"collection", name}};
  out["owner"] = a ? json(a->owner) : json(nullptr);
  out["readers"] = a ? a->readers : std::vector<std::string>{};
  out["writers"] = a ? a->writers : std::vector<std::string>{};
  return out;
}

Result<std::vector<std::string>> entries(const json& body, const char* key, std::vector<std::string> fallback) {
  auto it = body.find(key);
  if (it == body.end()) return fallback;
  if (!it->is_array()) return invalid_argument(fmt::format("'{}' must be an array of strings", key), key);
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) return invalid_argument(fmt::format("'{}' must be an array of strings", key), key);
    out.push_back(v.get<std::string>());
  }
  return out;
}

// The new lists from a PUT body; only the owner (or a knowledge admin) may change them, and only a
// knowledge admin may give the collection another owner.
Result<auth::CollectionAccess> access_update(const Principal& who, const std::string& name, const json& body,
                                             std::optional<auth::CollectionAccess> old) {
  if (!body.is_object()) return invalid_argument("the request body must be a JSON object", "body");
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() != "readers" && it.key() != "writers" && it.key() != "owner") {
      return invalid_argument(fmt::format("unknown field '{}'", it.key()), it.key());
    }
  }
  const bool admin = who.may(Permission::kKnowledgeSources);
  if (!admin && (!old || old->owner != who.id)) {
    return Error{ErrorCode::kPermissionDenied, fmt::format("only the owner of '{}' or a knowledge administrator may "
                                                           "change who may use it", name)};
  }
  auth::CollectionAccess a = old.value_or(auth::CollectionAccess{name, who.kind == "anonymous" ? "" : who.id, {}, {}, 0});
  if (auto it = body.find("owner"); it != body.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) return invalid_argument("'owner' must be a principal id", "owner");
    if (!admin && it->get<std::string>() != a.owner) {
      return Error{ErrorCode::kPermissionDenied, "only a knowledge administrator may give a collection another owner"};
    }
    a.owner = it->get<std::string>();
  }
  auto readers = entries(body, "readers", a.readers);
  if (!readers) return readers.take_error();
  auto writers = entries(body, "writers", a.writers);
  if (!writers) return writers.take_error();
  a.readers = std::move(*readers);
  a.writers = std::move(*writers);
  a.updated_at = unix_time_now();
  HEARTH_TRY(auth::check_access_lists(a));
  return a;
}

}  // namespace

Task<> handle_kb_get_access(ApiContext& api, Exchange& ex) {
  const std::string name = param(ex, "collection");
  auto work = [name, acl = api.acl](KnowledgeService& s) -> Result<std::optional<auth::CollectionAccess>> {
    HEARTH_TRY(s.collection(name));  // 404 for an unknown collection
    if (!acl) return std::optional<auth::CollectionAccess>();
    return acl->get(name);
  };
  auto render = [&name](const std::optional<auth::CollectionAccess>& a) { return access_json(name, a); };
  co_await answer(api, ex, 200, work, render);
}

Task<> handle_kb_put_access(ApiContext& api, Exchange& ex) {
  if (!api.acl) co_return co_await ex.respond(error_response(invalid_argument("collections have no owners with auth.mode = none")));
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  const std::string name = param(ex, "collection");
  auto work = [name, b = *body, who = ex.context().principal, acl = api.acl](KnowledgeService& s)
      -> Result<std::optional<auth::CollectionAccess>> {
    HEARTH_TRY(s.collection(name));
    auto a = access_update(*who, name, b, acl->get(name));
    if (!a) return a.take_error();
    HEARTH_TRY(acl->put(*a));
    return std::optional<auth::CollectionAccess>(std::move(*a));
  };
  auto render = [&name](const std::optional<auth::CollectionAccess>& a) { return access_json(name, a); };
  co_await answer(api, ex, 200, work, render);
}

}  // namespace hearth

namespace hearth {

Task<Result<std::optional<rag::Grounding>>> ground_chat(ApiContext& api, const Principal& who, ChatCompletionRequest& req) {
  using Out = Result<std::optional<rag::Grounding>>;
  if (const KnowledgeAlias* a = api.config.knowledge.find_alias(req.gen.model)) {
    if (!req.knowledge) {
      KnowledgeRequest k;
      k.collections = a->collections;
      k.top_k = a->top_k;
      k.alpha = a->alpha;  // unset: each collection's default
      req.knowledge = std::move(k);
    }
    req.gen.model = a->model;
  }
  if (!req.knowledge) co_return Out(std::optional<rag::Grounding>());
  if (auto denied = check_collections(who, req.knowledge->collections)) {
    denied->param = "knowledge";
    co_return Out(std::move(*denied));
  }
  auto svc = service(api);
  if (!svc) co_return Out(svc.take_error());
  const std::string query = req.knowledge->query.empty() ? rag::retrieval_query(req.messages) : req.knowledge->query;
  if (query.empty()) {
    co_return Out(invalid_argument("'knowledge' needs a user message (or 'knowledge.query') to search with", "knowledge"));
  }
  auto work = [s = *svc, k = *req.knowledge, query] { return s->search(k.collections, query, search_options(k)); };
  auto hits = co_await run_blocking(api.blocking, work);
  if (!hits) {
    Error e = hits.take_error();
    if (e.param.empty() || e.param == "top_k" || e.param == "collection") e.param = "knowledge";
    co_return Out(std::move(e));
  }
  rag::Grounding g = rag::build_grounding(*hits);
  rag::apply_grounding(req.messages, g);
  co_return Out(std::optional<rag::Grounding>(std::move(g)));
}

json citations_json(const rag::Grounding& g) {
  json out = json::array();
  for (const rag::Citation& c : g.citations) {
    out.push_back({{"index", c.index}, {"collection", c.collection}, {"document", c.document}, {"title", c.title},
                   {"location", {{"heading_path", c.heading_path}, {"page", c.page}, {"char_start", c.char_start},
                                 {"char_end", c.char_end}}},
                   {"chunk_id", c.chunk_id}, {"score", c.score}, {"text", c.text}});
  }
  return out;
}

}  // namespace hearth
