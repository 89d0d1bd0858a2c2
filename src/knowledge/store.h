// The knowledge store (issue #3): collections, documents, chunks and their vectors, with keyword
// (BM25) and exact vector search. KnowledgeStore is the interface the rest of Hearth uses, so a
// server database can replace the embedded SQLite one for multi-replica deployments.
//
// The SQLite store: one file in WAL mode, foreign keys on; chunks indexed by FTS5 with the
// 'hearth' tokenizer (Chinese and English); vectors as float32 BLOBs. A document and its chunks
// are written in one transaction, so a crash leaves either the old or the new version.
//
// Ids: collection and chunk ids are never reused, even after deletions (the approximate vector
// indexes rely on it: an id seen twice is the same chunk with the same vector). Every write to a
// collection's chunks moves its `revision` to a new value, unique across the database.
//
// Documents carry a metadata JSON object (string keys; string, number or boolean values) that
// searches can filter on, with SearchFilter.
//
// Thread-safety: a store object is used by one thread at a time (one SQLite connection); open
// one per thread. SQLite serializes writers across connections; WAL lets readers run beside them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
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
  std::int64_t revision = 0;  // changes with every write to its chunks; never repeats in a database
};

struct DocumentRecord {
  std::string uri;
  std::string title;
  std::string content_hash;
  std::string metadata_json = "{}";  // an object: string keys; string, number or boolean values
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
  int interval_seconds = 0;       // how often a scheduler should re-sync it; 0: on demand only
  std::int64_t last_synced_at = 0;  // unix seconds of the last finished sync (0: never)
};

// A document as listings show it.
struct DocumentInfo {
  std::int64_t id = 0;
  std::string uri;
  std::string title;
  std::string content_hash;
  std::string metadata_json = "{}";
  std::int64_t chunks = 0;
  std::int64_t updated_at = 0;  // unix seconds of its last write
};

// Restricts a search to some documents; an empty filter restricts nothing.
struct SearchFilter {
  // URI globs (fnmatch(3), '*' also matching '/'), matched against a document's URI and against
  // its file name; a document matching any of them passes. Empty: every document.
  std::vector<std::string> documents;
  // (key, value): the document's metadata has `key` with this value, compared as text (numbers
  // as SQLite prints them, e.g. "3" or "2.5"; booleans as "true"/"false"). All must hold.
  std::vector<std::pair<std::string, std::string>> metadata;

  bool empty() const { return documents.empty() && metadata.empty(); }
};

struct ChunkVector {
  std::int64_t id = 0;
  std::vector<float> vector;
};

struct ChunkHit {
  ChunkRecord chunk;
  std::string document_uri;
  std::string document_title;
  std::string document_metadata_json = "{}";
};

class KnowledgeStore {
 public:
  virtual ~KnowledgeStore() = default;

  // The database file, or empty / ":memory:" when there is none (indexes are then not saved).
  virtual std::string path() const = 0;

  // Names: 1-64 characters of letters, digits, '-', '_' and '.'.
  virtual Result<CollectionInfo> create_collection(const std::string& name, const std::string& embedder,
                                                   int dimensions) = 0;
  virtual Result<CollectionInfo> collection(const std::string& name) = 0;
  virtual Result<std::vector<CollectionInfo>> list_collections() = 0;
  // With its documents and its approximate vector index file (see ann_index.h).
  virtual Status delete_collection(const std::string& name) = 0;

  virtual Result<std::vector<StoredDoc>> documents(std::int64_t collection_id) = 0;
  // The same documents with their title, metadata and chunk count, by URI.
  virtual Result<std::vector<DocumentInfo>> document_infos(std::int64_t collection_id) = 0;
  virtual Result<std::vector<StoredChunk>> chunk_hashes(std::int64_t document_id) = 0;
  // Writes a document (new, or replacing the one with the same URI) and all its chunks, in one
  // transaction. Chunks listed in `reuse_vectors_from` (stored chunk ids, parallel to `chunks`;
  // 0 = none) take that chunk's stored vector instead of their own. Fails with kInvalidArgument
  // (param "metadata") unless doc.metadata_json is a JSON object of strings, numbers and booleans.
  virtual Result<std::int64_t> put_document(std::int64_t collection_id, const DocumentRecord& doc,
                                            std::vector<ChunkRecord> chunks,
                                            std::span<const std::int64_t> reuse_vectors_from = {}) = 0;
  virtual Status remove_document(std::int64_t document_id) = 0;

  // Upsert by URI (include, exclude and interval; last_synced_at is kept); returns its id.
  virtual Result<std::int64_t> put_source(std::int64_t collection_id, const SourceRecord& source) = 0;
  virtual Result<std::vector<SourceRecord>> sources(std::int64_t collection_id) = 0;
  virtual Status mark_source_synced(std::int64_t source_id, std::int64_t unix_seconds) = 0;

  // Best first, within the documents that pass `filter`. Keyword: the query's words (any of
  // them; the first 64 distinct ones) in a chunk's text, heading path or document title, scored
  // by BM25 (higher is better).
  virtual Result<std::vector<Scored>> keyword_search(std::int64_t collection_id, const std::string& query,
                                                     std::size_t limit, const SearchFilter& filter = {}) = 0;
  // The BM25 score keyword_search would give each of `ids` (chunks of the collection) for the
  // query, in the order of `ids`; 0 for a chunk with none of its words.
  virtual Result<std::vector<double>> keyword_scores(std::int64_t collection_id, const std::string& query,
                                                     std::span<const std::int64_t> ids) = 0;
  // Exact: cosine similarity against every vector of the collection.
  virtual Result<std::vector<Scored>> vector_search(std::int64_t collection_id, std::span<const float> query,
                                                    std::size_t limit, const SearchFilter& filter = {}) = 0;
  // The chunks with these ids, in that order; ids that no longer exist (a concurrent writer
  // removed them) are left out.
  virtual Result<std::vector<ChunkHit>> chunks(std::span<const std::int64_t> ids) = 0;

  // For the vector indexes: the ids of the collection's chunks that have a vector, ascending.
  virtual Result<std::vector<std::int64_t>> vector_chunk_ids(std::int64_t collection_id) = 0;
  // The vectors of those of `ids` that exist and have one, in the order of `ids`.
  virtual Result<std::vector<ChunkVector>> chunk_vectors(std::span<const std::int64_t> ids) = 0;
  // For the keyword indexes: the ids of all the collection's chunks, ascending.
  virtual Result<std::vector<std::int64_t>> chunk_ids(std::int64_t collection_id) = 0;
  // What BM25 sees of those of `ids` that exist (search_text: title, heading path and text), as
  // (id, text) in the order of `ids`.
  virtual Result<std::vector<std::pair<std::int64_t, std::string>>> chunk_search_texts(
      std::span<const std::int64_t> ids) = 0;
};

// Opens (creating if needed) the SQLite store at `path` (":memory:" for a private one).
Result<std::unique_ptr<KnowledgeStore>> open_sqlite_store(const std::string& path);

}  // namespace hearth::knowledge
