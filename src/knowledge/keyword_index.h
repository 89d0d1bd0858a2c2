// An in-memory BM25 index over a collection's chunks (issue #3), for large collections.
//
// FTS5 answers a keyword query by reading the posting list of every query word and, for every
// matching row, the row's size from its %_docsize table (one B-tree lookup per row): about 2 us
// per matching chunk, so a query with common words over 170k chunks takes ~100 ms. KeywordIndex
// keeps the same postings in memory (term -> (slot, term frequency), plus each chunk's length)
// and scores term at a time into a dense accumulator, a few nanoseconds per posting: exact BM25
// over every query word, with FTS5's formula (k1 1.2, b 0.75, idf ln((N - n + 0.5) / (n + 0.5)),
// at least 1e-6), in about a millisecond. Tokens come from the same TextTokenizer that FTS5's
// 'hearth' tokenizer uses, over the same search_text, so for a database holding one collection
// the scores equal FTS5's bm25() (negated) up to floating-point rounding; with several, N and the
// average length are the collection's own rather than the whole table's. Unlike the store's FTS5
// search, which keeps only a query's rarest words within a postings budget, every query word
// counts here.
//
// It is rebuilt from the store, never saved: KeywordIndexCache loads a collection's index on
// first use and reconciles it with the store (chunk ids are never reused, so equal ids mean
// equal text) whenever the collection's revision moved past the one it reflects (revisions only
// grow), as VectorIndexCache does for vectors.
// Memory: about 8 bytes per distinct (word, chunk) pair plus the vocabulary; ~110 MB for the
// 171k-chunk benchmark collection.
//
// Thread-safety: KeywordIndex: const methods may run concurrently; the others need exclusive
// access. KeywordIndexCache: every method is thread-safe; per collection, searches share the
// index while builds and reconciliations take it exclusively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "knowledge/fusion.h"

namespace hearth::knowledge {

class KnowledgeStore;
struct CollectionInfo;

class KeywordIndex {
 public:
  // Adds a chunk with its tokens (normalized words, repeats counted). An id already present is
  // replaced. Call compact() after removals, before searching.
  void add(std::int64_t id, std::span<const std::string> tokens);
  // Forgets the chunk (absent: nothing happens); its postings go at the next compact().
  void remove(std::int64_t id);
  // Drops the postings of removed chunks and renumbers the rest, so that document frequencies
  // are exact again.
  void compact();

  // Up to k chunks containing any of the words (only the first 64 distinct ones count), best
  // BM25 first (ties: smaller id first).
  std::vector<Scored> search(std::span<const std::string> words, std::size_t k) const;
  // The BM25 score of each of `ids` for the words (0 for an id that is absent or has none).
  std::vector<double> scores(std::span<const std::string> words, std::span<const std::int64_t> ids) const;

  bool contains(std::int64_t id) const { return slot_of_.contains(id); }
  std::vector<std::int64_t> ids() const;  // ascending
  std::size_t size() const { return slot_of_.size(); }
  std::size_t postings() const { return postings_; }
  std::int64_t revision() const { return revision_; }
  void set_revision(std::int64_t r) { revision_ = r; }

 private:
  struct Posting {
    std::uint32_t slot;
    std::uint32_t tf;
  };
  struct Term {
    std::uint32_t id;
    double idf;
  };
  // The known distinct words (first 64) with their idf.
  std::vector<Term> query_terms(std::span<const std::string> words) const;
  double norm(std::uint32_t slot) const;  // k1 x (1 - b + b x length / average length)

  std::unordered_map<std::string, std::uint32_t> vocabulary_;
  std::vector<std::vector<Posting>> lists_;  // by term id, each in ascending slot order
  std::vector<std::int64_t> id_of_;          // by slot; 0: removed
  std::vector<std::uint32_t> length_;        // by slot: tokens in the chunk
  std::unordered_map<std::int64_t, std::uint32_t> slot_of_;
  std::uint64_t total_length_ = 0;  // of the live chunks
  std::size_t postings_ = 0;
  bool stale_ = false;  // removals since the last compact()
  std::int64_t revision_ = -1;  // none yet (a store's revisions start at 0)
};

struct KeywordIndexCounters {
  std::uint64_t builds = 0;           // indexes made from scratch
  std::uint64_t reconciliations = 0;
  std::uint64_t chunks_added = 0, chunks_removed = 0;
  std::uint64_t searches = 0;
};

// The keyword indexes of one database's collections, shared by every KnowledgeBase that uses it.
class KeywordIndexCache {
 public:
  KeywordIndexCache();
  ~KeywordIndexCache();
  KeywordIndexCache(const KeywordIndexCache&) = delete;
  KeywordIndexCache& operator=(const KeywordIndexCache&) = delete;

  // Searches the collection's index, first building it or reconciling it with `store` (the
  // calling thread's connection) when it does not reflect `c.revision`. The query is split into
  // words as FTS5 splits text (TextTokenizer).
  Result<std::vector<Scored>> search(KnowledgeStore& store, const CollectionInfo& c, const std::string& query,
                                     std::size_t k);
  // BM25 scores of some chunks (KeywordIndex::scores), the index brought up to date first.
  Result<std::vector<double>> scores(KnowledgeStore& store, const CollectionInfo& c, const std::string& query,
                                     std::span<const std::int64_t> ids);
  // Builds or reconciles the collection's index now (e.g. after a sync, so that the next search
  // does not wait for it).
  Status refresh(KnowledgeStore& store, const CollectionInfo& c);
  bool has_index(std::int64_t collection_id) const;
  void drop(std::int64_t collection_id);
  KeywordIndexCounters counters() const;

 private:
  struct Entry;
  std::shared_ptr<Entry> entry(std::int64_t collection_id);
  // With the entry held exclusively.
  Status bring_up_to_date(KnowledgeStore& store, const CollectionInfo& c, Entry& e);
  // f(const KeywordIndex&) on the collection's index, brought up to date first if needed.
  template <class F>
  auto with_current_index(KnowledgeStore& store, const CollectionInfo& c, F&& f) -> decltype(f(KeywordIndex{}));

  mutable std::mutex mu_;  // guards entries_
  std::map<std::int64_t, std::shared_ptr<Entry>> entries_;
  std::set<std::int64_t> dropped_;  // deleted collections (ids are never reused)
  struct AtomicCounters;
  std::unique_ptr<AtomicCounters> counters_;
};

}  // namespace hearth::knowledge
