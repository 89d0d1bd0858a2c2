// KnowledgeService (issue #3): the knowledge base as the server uses it. Collections, documents,
// sources, sync jobs with their status, a scheduler that re-syncs sources on their interval,
// and search for the API and for chat with knowledge. No HTTP types here.
//
// Threads: every public method is thread-safe. Reads (search, listings) run on the caller's
// thread with a pooled store connection; writes that take long (source syncs) run as jobs on the
// service's one job thread, in order, so SQLite sees one writer; uploads write on the caller's
// thread (SQLite's busy timeout orders them against the job thread). The ANN indexes are shared
// by all connections through one VectorIndexCache, the in-memory keyword indexes through one
// KeywordIndexCache.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "knowledge/embedders/embedder_factory.h"
#include "knowledge/knowledge_base.h"
#include "knowledge/store.h"
#include "knowledge/url_fetcher.h"

namespace hearth {
class ModelRegistry;
}

namespace hearth::rag {

struct KnowledgeServiceOptions {
  std::string db_path;               // the SQLite file (":memory:" for tests of one connection)
  std::string static_embeddings;     // the GloVe binary; loaded on first use
  std::size_t max_document_bytes = 64u << 20;
  int scheduler_tick_seconds = 15;   // how often due sources are looked for
  std::size_t max_queued_jobs = 64;
  std::size_t job_history = 200;     // finished jobs kept for GET /jobs
  ModelRegistry* registry = nullptr; // for gguf:<model> embedders; may be null
  std::string reranker;              // a catalog model id (needs the registry); empty: none
  // Server directories sources may read (knowledge.allowed_roots); none: no server path at all.
  std::vector<std::string> allowed_roots;
};

enum class JobState { kQueued, kRunning, kSucceeded, kFailed };
const char* job_state_name(JobState s);

struct JobInfo {
  std::string id;
  std::string kind;        // "sync" (every source of a collection) or "add_source"
  std::string collection;
  std::string source;      // add_source: the path or URL
  std::string trigger;     // "api", "schedule"
  JobState state = JobState::kQueued;
  std::size_t done = 0, total = 0;  // documents
  std::string current;              // the document in progress
  knowledge::SyncCounters counters;
  std::vector<knowledge::DocumentError> errors;  // at most 100 kept
  std::size_t errors_total = 0;
  std::string error;                // kFailed: why
  std::int64_t created_at = 0, started_at = 0, finished_at = 0;  // unix seconds (0: not yet)
};

struct SourceSpec {
  std::string uri;      // a path on the server's machine, or an http(s) URL
  std::string include, exclude;
  int interval_seconds = 0;  // 0: only on demand
};

struct UploadResult {
  std::string uri;
  knowledge::SyncCounters counters;
};

struct RetrievedChunk {
  std::string collection;
  knowledge::SearchHit hit;
};

class KnowledgeService {
 public:
  static Result<std::unique_ptr<KnowledgeService>> open(KnowledgeServiceOptions options);
  ~KnowledgeService();  // stops the job and scheduler threads (the running job finishes first)

  // Starts the job thread and the scheduler.
  void start();
  void stop();

  Result<knowledge::CollectionInfo> create_collection(const std::string& name, const std::string& embedder_spec);
  Result<std::vector<knowledge::CollectionInfo>> collections();
  Result<knowledge::CollectionInfo> collection(const std::string& name);
  Status delete_collection(const std::string& name);

  Result<std::vector<knowledge::DocumentInfo>> documents(const std::string& collection);
  Status delete_document(const std::string& collection, std::int64_t document_id);
  // Indexes one uploaded file (its name picks the format) as upload://<filename>, replacing an
  // earlier upload of the same name.
  Result<UploadResult> upload(const std::string& collection, const std::string& filename, const std::string& bytes,
                              const std::string& metadata_json);

  Result<std::vector<knowledge::SourceRecord>> sources(const std::string& collection);
  // Records the source and queues its first sync.
  Result<JobInfo> add_source(const std::string& collection, const SourceSpec& source);
  Result<JobInfo> sync(const std::string& collection, const std::string& trigger = "api");
  Result<JobInfo> job(const std::string& id) const;
  std::vector<JobInfo> jobs(const std::string& collection = {}) const;

  // Searches each collection and merges the hits by score (best first, top_k in all).
  Result<std::vector<RetrievedChunk>> search(const std::vector<std::string>& collections, const std::string& query,
                                             const knowledge::SearchOptions& options);

  struct Counters {
    std::uint64_t jobs_started = 0, jobs_failed = 0, scheduled_syncs = 0, searches = 0, uploads = 0;
  };
  Counters counters() const;

 private:
  struct Session;
  class SessionLease;
  struct Job;

  explicit KnowledgeService(KnowledgeServiceOptions options);
  Result<SessionLease> lease();
  Result<knowledge::EmbedderEnv> embedder_env(const std::string& spec);
  Result<knowledge::Embedder*> embedder_for(Session& s, const knowledge::CollectionInfo& c);
  Result<JobInfo> enqueue(std::shared_ptr<Job> job);
  void job_loop();
  void warm_indexes();
  void run_job(Job& job);
  void schedule_due_sources();

  // A KnowledgeBase over a leased session, with the shared indexes and the URL fetcher.
  knowledge::KnowledgeBase knowledge_base(Session& s, knowledge::Embedder& e);

  KnowledgeServiceOptions options_;
  std::shared_ptr<knowledge::VectorIndexCache> indexes_;
  std::shared_ptr<knowledge::KeywordIndexCache> keyword_indexes_;
  std::unique_ptr<knowledge::UrlFetcher> fetcher_;

  std::mutex static_mu_;
  std::unique_ptr<knowledge::StaticEmbedder> static_embedder_;  // loaded on first use
  std::unique_ptr<knowledge::Reranker> reranker_;  // thread-safe; null without [knowledge] reranker

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Session>> idle_;

  mutable std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::map<std::string, std::shared_ptr<Job>> all_jobs_;  // by id
  std::deque<std::string> finished_order_;
  std::uint64_t next_job_ = 1;
  bool stopping_ = false;
  Counters counters_;
  std::thread worker_;
};

}  // namespace hearth::rag
