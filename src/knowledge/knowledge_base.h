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
//
// Thread-safety: one KnowledgeBase per thread (it uses the store's connection).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "knowledge/chunker.h"
#include "knowledge/store.h"

namespace hearth::knowledge {

// Turns texts into vectors of a fixed dimension (static GloVe, a GGUF model, a remote API).
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string name() const = 0;
  virtual int dimensions() const = 0;
  virtual Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) = 0;
};

class StaticEmbedder;
class TextTokenizer;
// The StaticEmbedder as an Embedder (it and the tokenizer must outlive the adapter).
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

// (documents done, documents to do, current URI)
using SyncProgress = std::function<void(std::size_t, std::size_t, const std::string&)>;

struct SearchOptions {
  std::size_t top_k = 5;
  double alpha = 0.5;          // 0: keyword only, 1: semantic only
  bool rrf = false;            // reciprocal-rank fusion instead of relative scores
  double mmr_lambda = 0.7;     // 1: no diversity re-ranking
  std::size_t candidates = 50; // from each of keyword and vector search
};

struct SearchHit {
  ChunkHit hit;
  double score = 0;
  std::optional<double> keyword, semantic;  // as fusion saw them
};

class KnowledgeBase {
 public:
  KnowledgeBase(KnowledgeStore& store, Embedder& embedder, ChunkerOptions chunking = {});

  Result<CollectionInfo> create_collection(const std::string& name);
  // Records the source (an absolute or relative path; globs separated by ',') and syncs it.
  Result<SyncReport> add_source(const std::string& collection, const std::string& path, const std::string& include,
                                const std::string& exclude, const SyncProgress& progress = {});
  // Re-syncs every source of the collection.
  Result<SyncReport> sync(const std::string& collection, const SyncProgress& progress = {});
  Result<std::vector<SearchHit>> search(const std::string& collection, const std::string& query,
                                        const SearchOptions& options);

 private:
  Status sync_source(const CollectionInfo& c, const SourceRecord& src, SyncReport& report,
                     const SyncProgress& progress);
  Status index_document(const CollectionInfo& c, const std::string& uri, const std::string& bytes,
                        const std::string& hash, std::int64_t replaces, SyncReport& report);

  KnowledgeStore& store_;
  Embedder& embedder_;
  Chunker chunker_;
};

}  // namespace hearth::knowledge
