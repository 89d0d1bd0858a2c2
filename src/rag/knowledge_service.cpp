#include "rag/knowledge_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "knowledge/embedders/embedder_factory.h"
#include "knowledge/embedders/model_reranker.h"
#include "knowledge/fetch/curl_fetcher.h"
#include "knowledge/static_embedder.h"
#include "knowledge/text_tokenizer.h"
#include "net/outbound_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

namespace hearth::rag {
namespace fs = std::filesystem;
using knowledge::CollectionInfo;

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool is_url(const std::string& s) { return s.starts_with("http://") || s.starts_with("https://"); }

// A URL source is refused at once (403) when its host is, or resolves to, an address the
// outbound rules forbid. The fetch itself checks again on every connection (OutboundGuard), so
// a name that resolves differently later, or a redirect, is still caught there.
Status check_source_url(const std::string& url) {
  HEARTH_TRY(net::check_url_host(url));
  const auto host = net::url_host(url);
  if (!host || net::parse_ip(*host)) return {};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host->c_str(), nullptr, &hints, &res) != 0) return {};  // the fetch reports it
  Status verdict;
  for (const addrinfo* a = res; a && verdict; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = a->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
                                              : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (!inet_ntop(a->ai_family, raw, text, sizeof text)) continue;
    const auto ip = net::parse_ip(text);
    if (ip && !net::outbound_rules().allows(*ip, *host)) {
      verdict = Error{ErrorCode::kPermissionDenied,
                      fmt::format("{}: {} resolves to {} ({}): outbound requests to loopback, private, link-local and "
                                  "metadata addresses are refused; an operator can list the host in [outbound] allow",
                                  url, *host, text, net::address_class_name(net::classify(*ip))),
                      "uri"};
    }
  }
  freeaddrinfo(res);
  return verdict;
}

constexpr std::size_t kMaxJobErrors = 100;

}  // namespace

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
  }
  return "unknown";
}

// One store connection and the embedders built for it (embedders are not shared across threads).
struct KnowledgeService::Session {
  std::unique_ptr<knowledge::KnowledgeStore> store;
  std::map<std::string, std::unique_ptr<knowledge::Embedder>> embedders;  // by collection embedder spec
};

// Returns its session to the pool when it goes out of scope.
class KnowledgeService::SessionLease {
 public:
  SessionLease(KnowledgeService* owner, std::unique_ptr<Session> s) : owner_(owner), s_(std::move(s)) {}
  SessionLease(SessionLease&& o) noexcept = default;
  SessionLease& operator=(SessionLease&&) = delete;
  ~SessionLease() {
    if (!s_) return;
    std::lock_guard lock(owner_->pool_mu_);
    owner_->idle_.push_back(std::move(s_));
  }
  Session& operator*() { return *s_; }
  Session* operator->() { return s_.get(); }

 private:
  KnowledgeService* owner_;
  std::unique_ptr<Session> s_;
};

struct KnowledgeService::Job {
  JobInfo info;      // guarded by jobs_mu_
  SourceSpec source; // add_source
};

KnowledgeService::KnowledgeService(KnowledgeServiceOptions options)
    : options_(std::move(options)),
      indexes_(std::make_shared<knowledge::VectorIndexCache>(options_.db_path)),
      keyword_indexes_(std::make_shared<knowledge::KeywordIndexCache>()),
      fetcher_(knowledge::make_curl_fetcher()) {}

knowledge::KnowledgeBase KnowledgeService::knowledge_base(Session& s, knowledge::Embedder& e) {
  knowledge::KnowledgeBase kb(*s.store, e, {}, indexes_, keyword_indexes_);
  knowledge::FetchLimits limits;
  limits.max_bytes = options_.max_document_bytes;
  kb.set_url_fetcher(fetcher_.get(), limits);
  kb.set_path_policy(knowledge::PathPolicy::under(options_.allowed_roots));
  if (reranker_) kb.set_reranker(reranker_.get());
  return kb;
}

Result<std::unique_ptr<KnowledgeService>> KnowledgeService::open(KnowledgeServiceOptions options) {
  if (options.db_path.empty()) return invalid_argument("knowledge: no database path");
  if (options.db_path != ":memory:") {
    std::error_code ec;
    const fs::path dir = fs::path(options.db_path).parent_path();
    if (!dir.empty()) fs::create_directories(dir, ec);
    if (ec) return unavailable(fmt::format("knowledge: cannot create {}: {}", dir.string(), ec.message()));
  }
  std::unique_ptr<KnowledgeService> svc(new KnowledgeService(std::move(options)));
  if (!svc->options_.reranker.empty()) {
    if (svc->options_.registry == nullptr) return invalid_argument("knowledge: a reranker needs the model registry");
    auto r = knowledge::ModelReranker::create(*svc->options_.registry, svc->options_.reranker);
    if (!r) return r.take_error();
    svc->reranker_ = std::move(*r);
  }
  auto first = svc->lease();  // opens (and creates) the database now, so a bad path fails at start-up
  if (!first) return first.take_error();
  return svc;
}

KnowledgeService::~KnowledgeService() { stop(); }

void KnowledgeService::start() {
  std::lock_guard lock(jobs_mu_);
  if (worker_.joinable() || stopping_) return;
  worker_ = std::thread([this] { job_loop(); });
}

void KnowledgeService::stop() {
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Result<KnowledgeService::SessionLease> KnowledgeService::lease() {
  {
    std::lock_guard lock(pool_mu_);
    if (!idle_.empty()) {
      auto s = std::move(idle_.back());
      idle_.pop_back();
      return SessionLease(this, std::move(s));
    }
  }
  auto store = knowledge::open_sqlite_store(options_.db_path);
  if (!store) return store.take_error();
  auto s = std::make_unique<Session>();
  s->store = std::move(*store);
  return SessionLease(this, std::move(s));
}

Result<knowledge::EmbedderEnv> KnowledgeService::embedder_env(const std::string& spec) {
  knowledge::EmbedderEnv env;
  env.models = options_.registry;
  if (spec.empty() || spec.starts_with("static")) {
    std::lock_guard lock(static_mu_);
    if (!static_embedder_) {
      auto loaded = knowledge::StaticEmbedder::load(options_.static_embeddings);
      if (!loaded) return unavailable(fmt::format("knowledge: {}", loaded.error().message));
      static_embedder_ = std::move(*loaded);
    }
    env.static_vectors = static_embedder_.get();
  }
  return env;
}

Result<knowledge::Embedder*> KnowledgeService::embedder_for(Session& s, const CollectionInfo& c) {
  if (auto it = s.embedders.find(c.embedder); it != s.embedders.end()) return it->second.get();
  auto env = embedder_env(c.embedder);
  if (!env) return env.take_error();
  auto e = knowledge::make_collection_embedder(c, *env);
  if (!e) return e.take_error();
  auto* raw = e->get();
  s.embedders[c.embedder] = std::move(*e);
  return raw;
}

Result<CollectionInfo> KnowledgeService::create_collection(const std::string& name, const std::string& spec) {
  auto s = lease();
  if (!s) return s.take_error();
  const std::string given = spec.empty() ? knowledge::kDefaultEmbedderSpec : spec;
  auto env = embedder_env(given);
  if (!env) return env.take_error();
  auto e = knowledge::make_embedder(given, *env);
  if (!e) return e.take_error();
  auto dims = knowledge::probe_dimensions(**e);
  if (!dims) return dims.take_error();
  return (*s)->store->create_collection(name, (*e)->name(), *dims);
}

Result<std::vector<CollectionInfo>> KnowledgeService::collections() {
  auto s = lease();
  if (!s) return s.take_error();
  return (*s)->store->list_collections();
}

Result<CollectionInfo> KnowledgeService::collection(const std::string& name) {
  auto s = lease();
  if (!s) return s.take_error();
  return (*s)->store->collection(name);
}

Status KnowledgeService::delete_collection(const std::string& name) {
  auto s = lease();
  if (!s) return s.take_error();
  auto c = (*s)->store->collection(name);
  if (!c) return c.take_error();
  HEARTH_TRY((*s)->store->delete_collection(name));
  indexes_->drop(c->id);
  keyword_indexes_->drop(c->id);
  return {};
}

Result<std::vector<knowledge::DocumentInfo>> KnowledgeService::documents(const std::string& collection) {
  auto s = lease();
  if (!s) return s.take_error();
  auto c = (*s)->store->collection(collection);
  if (!c) return c.take_error();
  return (*s)->store->document_infos(c->id);
}

Status KnowledgeService::delete_document(const std::string& collection, std::int64_t document_id) {
  auto s = lease();
  if (!s) return s.take_error();
  auto c = (*s)->store->collection(collection);
  if (!c) return c.take_error();
  auto docs = (*s)->store->documents(c->id);
  if (!docs) return docs.take_error();
  const bool found = std::any_of(docs->begin(), docs->end(), [&](const auto& d) { return d.id == document_id; });
  if (!found) return not_found(fmt::format("collection '{}' has no document {}", collection, document_id));
  HEARTH_TRY((*s)->store->remove_document(document_id));
  return {};
}

Result<UploadResult> KnowledgeService::upload(const std::string& collection, const std::string& filename,
                                              const std::string& bytes, const std::string& metadata_json) {
  if (bytes.size() > options_.max_document_bytes) {
    return Error{ErrorCode::kPayloadTooLarge,
                 fmt::format("'{}' is {} bytes; documents are limited to {} bytes", filename, bytes.size(),
                             options_.max_document_bytes), "file"};
  }
  auto s = lease();
  if (!s) return s.take_error();
  auto c = (*s)->store->collection(collection);
  if (!c) return c.take_error();
  auto emb = embedder_for(**s, *c);
  if (!emb) return emb.take_error();
  auto kb = knowledge_base(**s, **emb);
  UploadResult out;
  out.uri = "upload://" + filename;
  auto report = kb.put_document(collection, out.uri, bytes, metadata_json);
  if (!report) return report.take_error();
  if (!report->errors.empty()) return invalid_argument(report->errors.front().message, "file");
  out.counters = report->counters;
  std::lock_guard lock(jobs_mu_);
  ++counters_.uploads;
  return out;
}

Result<std::vector<knowledge::SourceRecord>> KnowledgeService::sources(const std::string& collection) {
  auto s = lease();
  if (!s) return s.take_error();
  auto c = (*s)->store->collection(collection);
  if (!c) return c.take_error();
  return (*s)->store->sources(c->id);
}

Result<JobInfo> KnowledgeService::add_source(const std::string& collection, const SourceSpec& source) {
  if (source.uri.empty()) return invalid_argument("'uri' is required (a directory, a file or an http(s) URL)", "uri");
  if (source.interval_seconds < 0) return invalid_argument("'interval_seconds' must not be negative", "interval_seconds");
  if (!is_url(source.uri)) {
    auto allowed = knowledge::PathPolicy::under(options_.allowed_roots).resolve(source.uri);
    if (!allowed) return allowed.take_error();
  } else {
    HEARTH_TRY(check_source_url(source.uri));
  }
  auto c = this->collection(collection);
  if (!c) return c.take_error();
  auto job = std::make_shared<Job>();
  job->info.kind = "add_source";
  job->info.collection = collection;
  job->info.source = source.uri;
  job->info.trigger = "api";
  job->source = source;
  return enqueue(std::move(job));
}

Result<JobInfo> KnowledgeService::sync(const std::string& collection, const std::string& trigger) {
  auto c = this->collection(collection);
  if (!c) return c.take_error();
  auto job = std::make_shared<Job>();
  job->info.kind = "sync";
  job->info.collection = collection;
  job->info.trigger = trigger;
  return enqueue(std::move(job));
}

Result<JobInfo> KnowledgeService::enqueue(std::shared_ptr<Job> job) {
  std::lock_guard lock(jobs_mu_);
  if (stopping_) return unavailable("knowledge: shutting down");
  if (queue_.size() >= options_.max_queued_jobs) {
    return resource_exhausted(fmt::format("knowledge: {} jobs are queued already; try again later", queue_.size()), 5);
  }
  job->info.id = fmt::format("job-{}", next_job_++);
  job->info.created_at = unix_now();
  all_jobs_[job->info.id] = job;
  queue_.push_back(job);
  jobs_cv_.notify_all();
  return job->info;
}

Result<JobInfo> KnowledgeService::job(const std::string& id) const {
  std::lock_guard lock(jobs_mu_);
  auto it = all_jobs_.find(id);
  if (it == all_jobs_.end()) return not_found(fmt::format("no job '{}'", id));
  return it->second->info;
}

std::vector<JobInfo> KnowledgeService::jobs(const std::string& collection) const {
  std::lock_guard lock(jobs_mu_);
  std::vector<JobInfo> out;
  for (const auto& [id, j] : all_jobs_) {
    if (collection.empty() || j->info.collection == collection) out.push_back(j->info);
  }
  std::sort(out.begin(), out.end(), [](const JobInfo& a, const JobInfo& b) {
    return std::stoull(a.id.substr(4)) < std::stoull(b.id.substr(4));
  });
  return out;
}

KnowledgeService::Counters KnowledgeService::counters() const {
  std::lock_guard lock(jobs_mu_);
  return counters_;
}

void KnowledgeService::warm_indexes() {
  auto s = lease();
  if (!s) return;
  auto all = (*s)->store->list_collections();
  if (!all) return;
  for (const knowledge::CollectionInfo& c : *all) {
    if (c.chunks < static_cast<std::int64_t>(knowledge::kDefaultExactBelow)) continue;
    {
      std::lock_guard lock(jobs_mu_);
      if (stopping_) return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto k = keyword_indexes_->refresh(*(*s)->store, c);
    auto v = indexes_->refresh(*(*s)->store, c);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (!k || !v) {
      spdlog::warn("knowledge: indexes of '{}' not ready ({}); the first search builds them", c.name,
                   !k ? k.error().message : v.error().message);
    } else {
      spdlog::info("knowledge: indexes of '{}' ({} chunks) ready in {} ms", c.name, c.chunks, ms.count());
    }
  }
}

void KnowledgeService::job_loop() {
  // Large collections' in-memory keyword indexes and ANN indexes are made before the first job,
  // so the first searches do not wait for them (~10 s per 170k chunks).
  warm_indexes();
  auto next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(options_.scheduler_tick_seconds);
  std::unique_lock lock(jobs_mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      jobs_cv_.wait_until(lock, next_tick, [this] { return stopping_ || !queue_.empty(); });
    }
    if (stopping_) break;
    if (std::chrono::steady_clock::now() >= next_tick) {
      lock.unlock();
      schedule_due_sources();
      lock.lock();
      next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(options_.scheduler_tick_seconds);
      continue;
    }
    if (queue_.empty()) continue;
    auto job = queue_.front();
    queue_.pop_front();
    job->info.state = JobState::kRunning;
    job->info.started_at = unix_now();
    ++counters_.jobs_started;
    lock.unlock();
    run_job(*job);
    lock.lock();
    job->info.finished_at = unix_now();
    if (job->info.state == JobState::kFailed) ++counters_.jobs_failed;
    finished_order_.push_back(job->info.id);
    while (finished_order_.size() > options_.job_history) {
      all_jobs_.erase(finished_order_.front());
      finished_order_.pop_front();
    }
  }
}

void KnowledgeService::run_job(Job& job) {
  auto finish = [&](const Status& st, const knowledge::SyncReport* report) {
    std::lock_guard lock(jobs_mu_);
    if (report) {
      job.info.counters = report->counters;
      job.info.errors_total = report->errors.size();
      job.info.errors.assign(report->errors.begin(),
                             report->errors.begin() + static_cast<std::ptrdiff_t>(std::min(report->errors.size(), kMaxJobErrors)));
    }
    job.info.current.clear();
    job.info.state = st ? JobState::kSucceeded : JobState::kFailed;
    if (!st) job.info.error = st.error().message;
  };
  auto s = lease();
  if (!s) return finish(s.take_error(), nullptr);
  auto c = (*s)->store->collection(job.info.collection);
  if (!c) return finish(c.take_error(), nullptr);
  auto emb = embedder_for(**s, *c);
  if (!emb) return finish(emb.take_error(), nullptr);
  auto kb = knowledge_base(**s, **emb);
  auto progress = [&](std::size_t done, std::size_t total, const std::string& uri) {
    std::lock_guard lock(jobs_mu_);
    job.info.done = done;
    job.info.total = total;
    job.info.current = uri;
  };
  Result<knowledge::SyncReport> report = knowledge::SyncReport{};
  if (job.info.kind == "add_source") {
    knowledge::SourceOptions so;
    so.include = job.source.include;
    so.exclude = job.source.exclude;
    so.interval_seconds = job.source.interval_seconds;
    so.max_document_bytes = options_.max_document_bytes;
    report = kb.add_source(job.info.collection, job.source.uri, so, progress);
  } else {
    report = kb.sync(job.info.collection, progress);
  }
  if (!report) return finish(report.take_error(), nullptr);
  spdlog::info("knowledge: {} {} of '{}' done: {} added, {} changed, {} removed, {} failed", job.info.id, job.info.kind,
               job.info.collection, report->counters.documents_added, report->counters.documents_changed,
               report->counters.documents_removed, report->counters.documents_failed);
  finish({}, &*report);
}

void KnowledgeService::schedule_due_sources() {
  auto s = lease();
  if (!s) return;
  auto cols = (*s)->store->list_collections();
  if (!cols) return;
  const std::int64_t now = unix_now();
  for (const CollectionInfo& c : *cols) {
    auto srcs = (*s)->store->sources(c.id);
    if (!srcs) continue;
    const bool due = std::any_of(srcs->begin(), srcs->end(), [&](const knowledge::SourceRecord& r) {
      return r.interval_seconds > 0 && now - r.last_synced_at >= r.interval_seconds;
    });
    if (!due) continue;
    {
      std::lock_guard lock(jobs_mu_);
      const bool pending = std::any_of(queue_.begin(), queue_.end(), [&](const auto& j) { return j->info.collection == c.name; });
      if (pending) continue;
      ++counters_.scheduled_syncs;
    }
    if (auto j = sync(c.name, "schedule"); !j) spdlog::warn("knowledge: scheduled sync of '{}': {}", c.name, j.error().message);
  }
}

Result<std::vector<RetrievedChunk>> KnowledgeService::search(const std::vector<std::string>& collections,
                                                             const std::string& query,
                                                             const knowledge::SearchOptions& options) {
  auto s = lease();
  if (!s) return s.take_error();
  std::vector<RetrievedChunk> all;
  for (const std::string& name : collections) {
    auto c = (*s)->store->collection(name);
    if (!c) return c.take_error();
    auto emb = embedder_for(**s, *c);
    if (!emb) return emb.take_error();
    auto kb = knowledge_base(**s, **emb);
    auto hits = kb.search(name, query, options);
    if (!hits) return hits.take_error();
    for (auto& h : *hits) all.push_back({name, std::move(h)});
  }
  if (collections.size() > 1) {
    std::stable_sort(all.begin(), all.end(), [](const RetrievedChunk& a, const RetrievedChunk& b) {
      return a.hit.score > b.hit.score;
    });
    if (all.size() > options.top_k) all.resize(options.top_k);
  }
  std::lock_guard lock(jobs_mu_);
  ++counters_.searches;
  return all;
}

}  // namespace hearth::rag
