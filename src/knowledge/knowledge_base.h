// KnowledgeBase (issue #3): ingestion and hybrid search over a KnowledgeStore.
//
// Sync of a source (a directory, recursively, or one file): list the supported files that match
// its include/exclude globs, hash them, and with plan_sync add new documents, re-index changed
// ones (only chunks whose text is new are embedded; the others keep their stored vectors) and
// remove documents that are gone. A file that cannot be extracted is reported and skipped; the
// rest is ingested. Every document is written in its own transaction, so a crash mid-sync loses
// at most the document in flight, and the next sync finishes the job.
//
// Search: BM25 and vector candidates, fused (relative-score with alpha, or RRF), then MMR.
// alpha 0 runs keyword search alone (no query embedding, no vector search); alpha 1 runs vector
// search alone (no BM25). Vector candidates come from an exact scan of the store, or, for large
// collections, from the collection's approximate (HNSW) index: see SearchOptions::vector_mode
// and ann_index.h. Filtered searches are always exact. After a sync, an index that exists (or
// that a collection of at least kIndexAfterSyncMinChunks chunks should have) is brought up to
// date and saved.
//
// Thread-safety: one KnowledgeBase per thread (it uses the store's connection). The
// VectorIndexCache it is given may be, and should be, shared by every KnowledgeBase of the
// database, on any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "knowledge/ann_index.h"
#include "knowledge/chunker.h"
#include "knowledge/keyword_index.h"
#include "knowledge/path_policy.h"
#include "knowledge/store.h"
#include "knowledge/url_fetcher.h"

namespace hearth::knowledge {

// Turns texts into vectors of a fixed dimension (static GloVe, a GGUF model, a remote API).
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string name() const = 0;
  virtual int dimensions() const = 0;
  virtual Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) = 0;
};

// Scores how relevant each text is to a query (a cross-encoder such as a GGUF reranker): one
// score per text, in order; higher is more relevant. Scores compare only within one call.
class Reranker {
 public:
  virtual ~Reranker() = default;
  virtual std::string name() const = 0;
  virtual Result<std::vector<double>> score(const std::string& query, std::span<const std::string> texts) = 0;
};

class StaticEmbedder;
class TextTokenizer;
enum class StaticVersion;
// The StaticEmbedder as an Embedder (it and the tokenizer must outlive the adapter), embedding as
// `version` does (static_embedder.h; make_static_embedder(e, t) gives the default version).
std::unique_ptr<Embedder> make_static_embedder(const StaticEmbedder& embedder, TextTokenizer& tokenizer,
                                               StaticVersion version);
std::unique_ptr<Embedder> make_static_embedder(const StaticEmbedder& embedder, TextTokenizer& tokenizer);

struct SyncCounters {
  std::size_t documents_added = 0, documents_changed = 0, documents_removed = 0, documents_unchanged = 0;
  std::size_t documents_failed = 0;
  std::size_t chunks_embedded = 0, chunks_reused = 0;
};

struct DocumentError {
  std::string uri;
  std::string message;
};

struct SyncReport {
  SyncCounters counters;
  std::vector<DocumentError> errors;
};

// How a source is added.
struct SourceOptions {
  std::string include;       // globs separated by ',' (empty: every supported file)
  std::string exclude;
  int interval_seconds = 0;  // recorded for a scheduler (SourceRecord); 0: on demand only
  std::size_t max_document_bytes = 64u << 20;  // for this first sync; larger files are reported and skipped
};

// (documents done, documents to do, current URI)
using SyncProgress = std::function<void(std::size_t, std::size_t, const std::string&)>;

// Where vector candidates come from.
enum class VectorMode {
  kAuto,   // the ANN index for collections of at least `exact_below` chunks, else exact
  kExact,  // always an exact scan (cosine against every vector)
  kAnn,    // always the ANN index (built on first use if there is none)
};

// Where keyword (BM25) candidates come from.
enum class KeywordMode {
  kAuto,    // the in-memory index for collections of at least `exact_below` chunks, else FTS5
  kFts5,    // always SQLite FTS5
  kMemory,  // always the in-memory index (keyword_index.h; built on first use)
};

constexpr std::size_t kDefaultExactBelow = 10000;
constexpr std::size_t kIndexAfterSyncMinChunks = kDefaultExactBelow;

struct SearchOptions {
  std::size_t top_k = 5;
  // 0: keyword only, 1: semantic only; unset: default_alpha() of the collection's embedder.
  std::optional<double> alpha;
  bool rrf = false;            // reciprocal-rank fusion instead of relative scores
  double mmr_lambda = 0.7;     // 1: no diversity re-ranking
  std::size_t candidates = 50; // from each of keyword and vector search
  VectorMode vector_mode = VectorMode::kAuto;  // a filtered search is exact whatever this says
  KeywordMode keyword_mode = KeywordMode::kAuto;  // a filtered search uses FTS5 whatever this says
  std::size_t exact_below = kDefaultExactBelow;  // for the kAuto modes; 0: always the indexes
  // ANN search breadth, 1..10000 (raised to `candidates`): recall vs speed. Over 171k real chunks
  // recall@10 against exact search was 0.915 at 100, 0.946 at 200, 0.975 at 400 (1.5 ms).
  std::size_t ef = 400;
  SearchFilter filter;         // restricts both keyword and vector candidates
  // Relative-score hybrids (0 < alpha < 1, not RRF): a candidate found by only one of the two
  // searches gets its real score from the other (its BM25 from the keyword side, its cosine from
  // its stored vector) instead of counting 0 there, before both are min-max normalized over all
  // candidates.
  bool complete_scores = true;
  // Reorders the best max(rerank_candidates, top_k) fused candidates by the reranker's score
  // before MMR (which then sees those scores, min-max scaled to 0..1); the rest are dropped.
  // An error naming `rerank` when the KnowledgeBase has no reranker.
  bool rerank = false;
  std::size_t rerank_candidates = 20;
};

// The hybrid weight a collection's searches use unless told otherwise: 0.1 for the static GloVe
// embedder, whose vectors are weak evidence next to BM25 (on linux-doc and Webster, any larger
// weight costs recall; see docs/BENCHMARKS.md), 0.5 for real embedding models.
double default_alpha(const std::string& embedder);

// What searches did, for tests and /metrics.
struct SearchCounters {
  std::size_t searches = 0;
  std::size_t keyword_searches = 0;
  std::size_t indexed_keyword_searches = 0;  // of those, answered by the in-memory index
  std::size_t query_embeddings = 0;
  std::size_t exact_vector_searches = 0;
  std::size_t ann_vector_searches = 0;
};

struct SearchHit {
  ChunkHit hit;
  double score = 0;
  std::optional<double> keyword, semantic;  // as fusion saw them
  std::optional<double> rerank;             // the reranker's raw score, when reranked
};

class KnowledgeBase {
 public:
  // With a vector index cache of its own (for the store's path()).
  KnowledgeBase(KnowledgeStore& store, Embedder& embedder, ChunkerOptions chunking = {});
  // With a cache shared with the other KnowledgeBases of the same database (not null).
  KnowledgeBase(KnowledgeStore& store, Embedder& embedder, ChunkerOptions chunking,
                std::shared_ptr<VectorIndexCache> indexes);
  // The same, with a keyword index cache shared likewise (not null).
  KnowledgeBase(KnowledgeStore& store, Embedder& embedder, ChunkerOptions chunking,
                std::shared_ptr<VectorIndexCache> indexes, std::shared_ptr<KeywordIndexCache> keyword_indexes);

  // URL sources (http/https: one page each) need a fetcher; it must outlive this object.
  void set_url_fetcher(UrlFetcher* fetcher, FetchLimits limits = {}) {
    fetcher_ = fetcher;
    fetch_limits_ = limits;
  }

  // Optional; it must outlive this object. Used by searches with SearchOptions::rerank.
  void set_reranker(Reranker* reranker) { reranker_ = reranker; }
  // Which server paths sources may read (default: any). Checked when a source is added and for
  // every file each sync finds (a symlink inside an allowed directory may point out of it).
  void set_path_policy(PathPolicy policy) { paths_ = std::move(policy); }
  bool has_reranker() const { return reranker_ != nullptr; }

  Result<CollectionInfo> create_collection(const std::string& name);
  // Deletes the collection, its documents and its vector index (memory and file).
  Status delete_collection(const std::string& name);
  // Records the source (an absolute or relative path; globs separated by ',') and syncs it.
  Result<SyncReport> add_source(const std::string& collection, const std::string& path, const std::string& include,
                                const std::string& exclude, const SyncProgress& progress = {});
  Result<SyncReport> add_source(const std::string& collection, const std::string& path, const SourceOptions& options,
                                const SyncProgress& progress = {});
  // Re-syncs every source of the collection (files up to 64 MiB). A source's last_synced_at is
  // set when its sync finishes, per-document errors or not.
  Result<SyncReport> sync(const std::string& collection, const SyncProgress& progress = {});
  // Indexes one document from its bytes (the format is told by the URI's extension), replacing
  // any with the same URI, with metadata (a JSON object of strings, numbers and booleans). A URI
  // under a source's folder is removed by the next sync unless the file exists. A document that
  // cannot be extracted is reported in the report's errors; bad metadata, embedder and store
  // failures are errors.
  Result<SyncReport> put_document(const std::string& collection, const std::string& uri, const std::string& bytes,
                                  const std::string& metadata_json = "{}");
  Result<std::vector<SearchHit>> search(const std::string& collection, const std::string& query,
                                        const SearchOptions& options);
  // Loads or builds the collection's vector index, brings it up to date and saves it.
  Status build_index(const std::string& collection);

  const SearchCounters& search_counters() const { return counters_; }
  const std::shared_ptr<VectorIndexCache>& vector_indexes() const { return indexes_; }
  const std::shared_ptr<KeywordIndexCache>& keyword_indexes() const { return keyword_indexes_; }

 private:
  Status sync_source(const CollectionInfo& c, const SourceRecord& src, SyncReport& report,
                     const SyncProgress& progress, std::size_t max_document_bytes);
  Status index_document(const CollectionInfo& c, const std::string& uri, const std::string& bytes,
                        const std::string& hash, std::int64_t replaces, SyncReport& report,
                        const std::string& metadata_json = "{}", const std::string& file_name = {});
  // After writes: refresh the collection's index if it has one or should (see the header).
  void maintain_index(const std::string& collection, bool changed);
  Status check_embedder(const CollectionInfo& c) const;
  bool use_keyword_index(const CollectionInfo& c, const SearchOptions& opt) const;
  Result<std::vector<Scored>> keyword_candidates(const CollectionInfo& c, const std::string& query,
                                                 const SearchOptions& opt, std::size_t n);
  // Also sets `query_vector`.
  Result<std::vector<Scored>> vector_candidates(const CollectionInfo& c, const std::string& query,
                                                const SearchOptions& opt, std::size_t n,
                                                std::vector<float>& query_vector);
  // SearchOptions::complete_scores: appends to each list the other list's candidates, scored.
  Status complete_scores(const CollectionInfo& c, const std::string& query, const SearchOptions& opt,
                         std::span<const float> query_vector, std::vector<Scored>& keyword,
                         std::vector<Scored>& semantic);
  // Keeps the best max(rerank_candidates, top_k) of kept/chunks (parallel), reordered by the
  // reranker's score best first, and returns those scores in the new order.
  Result<std::vector<double>> rerank(const std::string& query, const SearchOptions& opt, std::vector<Fused>& kept,
                                     std::vector<ChunkHit>& chunks);

  // A URL source's one document, as sync sees it; false (with the error recorded) when the fetch failed.
  bool fetch_url(const std::string& url, std::size_t max_bytes, std::vector<SourceDoc>& current,
                 std::map<std::string, std::string>& contents, std::map<std::string, std::string>& names,
                 SyncReport& report);

  KnowledgeStore& store_;
  Embedder& embedder_;
  UrlFetcher* fetcher_ = nullptr;
  PathPolicy paths_ = PathPolicy::unrestricted();
  Reranker* reranker_ = nullptr;
  FetchLimits fetch_limits_;
  Chunker chunker_;
  std::shared_ptr<VectorIndexCache> indexes_;
  std::shared_ptr<KeywordIndexCache> keyword_indexes_;
  SearchCounters counters_;
};

}  // namespace hearth::knowledge
