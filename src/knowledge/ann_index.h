// Approximate nearest-neighbour search over a collection's chunk vectors (issue #3).
//
// AnnIndex wraps an hnswlib HNSW graph in inner-product space. Vectors are L2-normalized on the
// way in (queries too), so the inner product is the cosine similarity and scores match the
// store's exact search. Labels are chunk ids (> 0). Removal marks an element deleted; it keeps
// its slot until the index is compacted.
//
// On disk: "<db path>.ann/<collection id>.hnsw", a 56-byte header (magic "HNSWHRTH", format
// version, dimensions, element count, store revision, payload size, FNV-1a 64 checksum of the
// payload) followed by hnswlib's own layout. Saves are atomic (temp file, fsync, rename, fsync
// of the folder). Loading checks the header, the checksum and every link of the graph, so a
// truncated or corrupt file is an error (the caller rebuilds from the store), never a crash.
//
// VectorIndexCache holds the indexes of one database's collections for every KnowledgeBase and
// thread that uses that database, loading, building and reconciling them on demand.
// Reconciliation compares an index's labels with the store's chunk ids (the store never reuses
// a chunk id, so equal ids mean equal vectors): missing chunks are added, gone ones are marked
// deleted. It runs whenever an index is loaded and whenever the collection's revision (bumped by
// every write to its chunks) differs from the one the index reflects, so a crash between a
// store write and an index save never makes search return a chunk that is gone.
//
// Thread-safety: AnnIndex: const methods may run concurrently with each other; the others need
// exclusive access. VectorIndexCache: every method is thread-safe; per collection, searches
// share the index while loads, reconciliations and compactions take it exclusively. The store
// passed to a cache method is the calling thread's own connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "knowledge/fusion.h"

namespace hearth::knowledge {

class KnowledgeStore;
struct CollectionInfo;

struct AnnParams {
  // Links per node (hnswlib M; level 0 has 2M). 24 rather than hnswlib's usual 16: on 5,000
  // random 100-d vectors, recall@10 at ef 100 is 0.97 instead of 0.91, for 17% more build time.
  std::size_t m = 24;
  std::size_t ef_construction = 200;  // candidate list size while inserting
  std::size_t seed = 100;             // level generator seed, for reproducible graphs
};

class AnnIndex {
 public:
  // dimensions: 1..65536; m: 2..1024; ef_construction: at least 1.
  static Result<std::unique_ptr<AnnIndex>> create(int dimensions, const AnnParams& params = {});
  // Fails with kNotFound if there is no file, kInternal if it is not a valid index, and
  // kInvalidArgument if its vectors do not have `dimensions` dimensions.
  static Result<std::unique_ptr<AnnIndex>> load(const std::string& path, int dimensions);
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Adds the vector under `id`, or replaces the one stored there (undeleting it). Fails on a
  // wrong dimension count, a non-finite component or id <= 0.
  Status upsert(std::int64_t id, std::span<const float> vector);
  // Marks `id` deleted; an id that is absent or already deleted is left alone.
  Status remove(std::int64_t id);
  // Up to k live ids, best first (ties: smaller id first), scored by cosine similarity. `ef`
  // (raised to k when smaller) trades speed for recall.
  Result<std::vector<Scored>> search(std::span<const float> query, std::size_t k, std::size_t ef) const;

  bool contains(std::int64_t id) const;  // live (not deleted)
  std::vector<std::int64_t> ids() const;  // live ids, ascending
  std::size_t size() const;               // live elements
  std::size_t deleted() const;            // marked deleted, still holding a slot
  int dimensions() const;
  // The store revision these contents reflect; saved with the index, opaque to it.
  std::int64_t revision() const { return revision_; }
  void set_revision(std::int64_t r) { revision_ = r; }

  // Writes the index to `path` atomically, creating the parent folder if needed.
  Status save(const std::string& path) const;
  // A new index holding only the live elements (same revision and parameters).
  Result<std::unique_ptr<AnnIndex>> compacted() const;

 private:
  struct Impl;
  explicit AnnIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::int64_t revision_ = 0;
};

// "<db_path>.ann/<collection_id>.hnsw", or empty when the database has no file (empty path or
// ":memory:").
std::string ann_index_path(const std::string& db_path, std::int64_t collection_id);

struct AnnCounters {
  std::uint64_t loads = 0;          // indexes read from disk
  std::uint64_t load_failures = 0;  // files that were corrupt or unreadable (then rebuilt)
  std::uint64_t builds = 0;         // indexes started empty (no usable file)
  std::uint64_t reconciliations = 0;
  std::uint64_t vectors_added = 0, vectors_removed = 0;
  std::uint64_t saves = 0, save_failures = 0;
  std::uint64_t compactions = 0;
  std::uint64_t searches = 0;
};

// One cache serves one database. Index files live beside it (ann_index_path); a database without
// a file (":memory:") keeps its indexes in memory only.
class VectorIndexCache {
 public:
  // Bound to the database of the first store it is used with.
  VectorIndexCache() : VectorIndexCache(std::nullopt) {}
  // Bound to the database at `db_path` (KnowledgeStore::path()); std::nullopt: as above.
  explicit VectorIndexCache(std::optional<std::string> db_path, AnnParams params = {});
  ~VectorIndexCache();
  VectorIndexCache(const VectorIndexCache&) = delete;
  VectorIndexCache& operator=(const VectorIndexCache&) = delete;

  // Searches the collection's index, first loading or building it and reconciling it with
  // `store` when it does not reflect `c.revision`. Saves it when it was just loaded or built and
  // had to change.
  Result<std::vector<Scored>> search(KnowledgeStore& store, const CollectionInfo& c, std::span<const float> query,
                                     std::size_t k, std::size_t ef);
  // Loads or builds the index, reconciles it with the store, compacts it when over half of it is
  // deleted, and saves it if anything changed since the last save (e.g. after a sync).
  Status refresh(KnowledgeStore& store, const CollectionInfo& c);
  // Whether the collection has an index in memory or on disk.
  bool has_index(std::int64_t collection_id) const;
  // Drops the collection's index from memory and deletes its file (the collection is gone; a
  // file that cannot be deleted is logged and left: it matches no collection).
  void drop(std::int64_t collection_id);
  AnnCounters counters() const;

 private:
  struct Entry;
  // The index file of a collection ("" when the database has no file or is not known yet).
  std::string file_for(std::int64_t collection_id) const;
  // Binds an unbound cache to the store's database; fails for a store of another database.
  Status bind(const KnowledgeStore& store);
  std::shared_ptr<Entry> entry(std::int64_t collection_id);
  // With the entry held exclusively: make its index reflect `c`. `persist`: save when changed.
  Status bring_up_to_date(KnowledgeStore& store, const CollectionInfo& c, Entry& e, bool persist);
  Status reconcile(KnowledgeStore& store, const CollectionInfo& c, AnnIndex& index, bool& changed);

  const AnnParams params_;
  mutable std::mutex mu_;  // guards entries_ and db_path_
  std::optional<std::string> db_path_;
  std::map<std::int64_t, std::shared_ptr<Entry>> entries_;
  struct AtomicCounters;
  std::unique_ptr<AtomicCounters> counters_;
};

}  // namespace hearth::knowledge
