// The knowledge store (issue #3): collections, documents, chunks and their vectors, with keyword
// (BM25) and exact vector search. KnowledgeStore is the interface the rest of Hearth uses, so a
// server database can replace the embedded SQLite one for multi-replica deployments.
//
// The SQLite store: one file in WAL mode, foreign keys on; chunks indexed by FTS5 with the
// 'hearth' tokenizer (Chinese and English); vectors as float32 BLOBs. A document and its chunks
// are written in one transaction, so a crash leaves either the old or the new version.
//
// Thread-safety: a store object is used by one thread at a time (one SQLite connection); open
// one per thread. SQLite serializes writers across connections; WAL lets readers run beside them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "knowledge/fusion.h"
#include "knowledge/sync_plan.h"

namespace hearth::knowledge {

struct CollectionInfo {
  std::int64_t id = 0;
  std::string name;
  std::string embedder;  // what made its vectors, e.g. "static:glove-100d" or a model id
  int dimensions = 0;
  std::int64_t documents = 0;
  std::int64_t chunks = 0;
};

struct DocumentRecord {
  std::string uri;
  std::string title;
  std::string content_hash;
};

struct ChunkRecord {
  std::int64_t id = 0;           // assigned by the store
  std::int64_t document_id = 0;  // assigned by the store
  int ordinal = 0;               // position in the document
  std::string text;
  std::string heading_path;      // headings joined by " > "
  std::int64_t char_start = 0, char_end = 0;
  int page = 0;
  std::string text_hash;
  std::vector<float> vector;     // empty, or the collection's dimensions
};

// A directory or file that sync re-reads. Its documents are those whose URI is the source's URI
// or lies under it.
struct SourceRecord {
  std::int64_t id = 0;
  std::string uri;      // absolute path
  std::string include;  // globs separated by ',' (empty: every supported file)
  std::string exclude;
};

struct ChunkHit {
  ChunkRecord chunk;
  std::string document_uri;
  std::string document_title;
};

class KnowledgeStore {
 public:
  virtual ~KnowledgeStore() = default;

  // Names: 1-64 characters of letters, digits, '-', '_' and '.'.
  virtual Result<CollectionInfo> create_collection(const std::string& name, const std::string& embedder,
                                                   int dimensions) = 0;
  virtual Result<CollectionInfo> collection(const std::string& name) = 0;
  virtual Result<std::vector<CollectionInfo>> list_collections() = 0;
  virtual Status delete_collection(const std::string& name) = 0;  // with its documents

  virtual Result<std::vector<StoredDoc>> documents(std::int64_t collection_id) = 0;
  virtual Result<std::vector<StoredChunk>> chunk_hashes(std::int64_t document_id) = 0;
  // Writes a document (new, or replacing the one with the same URI) and all its chunks, in one
  // transaction. Chunks listed in `reuse_vectors_from` (stored chunk ids, parallel to `chunks`;
  // 0 = none) take that chunk's stored vector instead of their own.
  virtual Result<std::int64_t> put_document(std::int64_t collection_id, const DocumentRecord& doc,
                                            std::vector<ChunkRecord> chunks,
                                            std::span<const std::int64_t> reuse_vectors_from = {}) = 0;
  virtual Status remove_document(std::int64_t document_id) = 0;

  virtual Status put_source(std::int64_t collection_id, const SourceRecord& source) = 0;  // upsert by URI
  virtual Result<std::vector<SourceRecord>> sources(std::int64_t collection_id) = 0;

  // Best first. Keyword: the query's words (any of them) in a chunk's text, heading path or
  // document title, scored by BM25 (higher is better).
  virtual Result<std::vector<Scored>> keyword_search(std::int64_t collection_id, const std::string& query,
                                                     std::size_t limit) = 0;
  // Exact: cosine similarity against every vector of the collection.
  virtual Result<std::vector<Scored>> vector_search(std::int64_t collection_id, std::span<const float> query,
                                                    std::size_t limit) = 0;
  virtual Result<std::vector<ChunkHit>> chunks(std::span<const std::int64_t> ids) = 0;
};

// Opens (creating if needed) the SQLite store at `path` (":memory:" for a private one).
Result<std::unique_ptr<KnowledgeStore>> open_sqlite_store(const std::string& path);

}  // namespace hearth::knowledge
