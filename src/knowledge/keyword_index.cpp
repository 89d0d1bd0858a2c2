#include "knowledge/keyword_index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <shared_mutex>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "knowledge/store.h"
#include "knowledge/text_tokenizer.h"

namespace hearth::knowledge {
namespace {

// FTS5's bm25() constants.
constexpr double kK1 = 1.2;
constexpr double kB = 0.75;
constexpr std::size_t kMaxQueryWords = 64;  // as the store's keyword search
constexpr std::size_t kTextBatch = 512;     // chunk texts read from the store at a time

// A TextTokenizer per thread (ICU break iterators keep state).
Result<TextTokenizer*> thread_tokenizer() {
  thread_local std::unique_ptr<TextTokenizer> tokenizer;
  if (!tokenizer) {
    auto t = TextTokenizer::create();
    if (!t) return t.take_error();
    tokenizer = std::move(*t);
  }
  return tokenizer.get();
}

}  // namespace

void KeywordIndex::add(std::int64_t id, std::span<const std::string> tokens) {
  remove(id);
  const auto slot = static_cast<std::uint32_t>(id_of_.size());
  id_of_.push_back(id);
  length_.push_back(static_cast<std::uint32_t>(tokens.size()));
  slot_of_.emplace(id, slot);
  total_length_ += tokens.size();
  std::unordered_map<std::uint32_t, std::uint32_t> tf;
  for (const std::string& t : tokens) {
    auto [it, fresh] = vocabulary_.try_emplace(t, static_cast<std::uint32_t>(lists_.size()));
    if (fresh) lists_.emplace_back();
    ++tf[it->second];
  }
  for (const auto& [term, n] : tf) lists_[term].push_back({slot, n});
  postings_ += tf.size();
}

void KeywordIndex::remove(std::int64_t id) {
  const auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return;
  total_length_ -= length_[it->second];
  id_of_[it->second] = 0;
  slot_of_.erase(it);
  stale_ = true;
}

void KeywordIndex::compact() {
  if (!stale_) return;
  std::vector<std::uint32_t> new_slot(id_of_.size(), UINT32_MAX);
  std::vector<std::int64_t> ids;
  std::vector<std::uint32_t> lengths;
  for (std::size_t s = 0; s < id_of_.size(); ++s) {
    if (id_of_[s] == 0) continue;
    new_slot[s] = static_cast<std::uint32_t>(ids.size());
    ids.push_back(id_of_[s]);
    lengths.push_back(length_[s]);
  }
  postings_ = 0;
  for (auto& list : lists_) {
    std::erase_if(list, [&](const Posting& p) { return new_slot[p.slot] == UINT32_MAX; });
    for (Posting& p : list) p.slot = new_slot[p.slot];
    postings_ += list.size();
  }
  id_of_ = std::move(ids);
  length_ = std::move(lengths);
  for (std::size_t s = 0; s < id_of_.size(); ++s) slot_of_[id_of_[s]] = static_cast<std::uint32_t>(s);
  stale_ = false;
}

std::vector<std::int64_t> KeywordIndex::ids() const {
  std::vector<std::int64_t> out;
  out.reserve(slot_of_.size());
  for (const auto& [id, slot] : slot_of_) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<KeywordIndex::Term> KeywordIndex::query_terms(std::span<const std::string> words) const {
  std::vector<Term> terms;
  std::unordered_set<std::string_view> seen;
  const auto n = static_cast<double>(slot_of_.size());
  for (const std::string& w : words) {
    if (seen.size() == kMaxQueryWords) break;
    if (!seen.insert(w).second) continue;
    const auto it = vocabulary_.find(w);
    if (it == vocabulary_.end() || lists_[it->second].empty()) continue;
    const auto df = static_cast<double>(lists_[it->second].size());
    double idf = std::log((n - df + 0.5) / (df + 0.5));
    if (idf <= 0.0) idf = 1e-6;
    terms.push_back({it->second, idf});
  }
  return terms;
}

double KeywordIndex::norm(std::uint32_t slot) const {
  const double avg = slot_of_.empty() ? 1.0 : static_cast<double>(total_length_) / static_cast<double>(slot_of_.size());
  return kK1 * (1.0 - kB + kB * static_cast<double>(length_[slot]) / avg);
}

std::vector<Scored> KeywordIndex::search(std::span<const std::string> words, std::size_t k) const {
  if (slot_of_.empty()) return {};
  const std::vector<Term> terms = query_terms(words);
  if (terms.empty() || k == 0) return {};
  const double avg = static_cast<double>(total_length_) / static_cast<double>(slot_of_.size());
  // Per slot, k1 x (1 - b + b x length / average), computed once per query for touched slots.
  std::vector<double> acc(id_of_.size(), 0.0);
  std::vector<std::uint32_t> touched;
  for (const Term& t : terms) {
    for (const Posting& p : lists_[t.id]) {
      const double tf = p.tf;
      const double norm = kK1 * (1.0 - kB + kB * static_cast<double>(length_[p.slot]) / avg);
      if (acc[p.slot] == 0.0) touched.push_back(p.slot);
      acc[p.slot] += t.idf * ((tf * (kK1 + 1.0)) / (tf + norm));  // FTS5's order of operations
    }
  }
  std::vector<Scored> hits;
  hits.reserve(touched.size());
  for (std::uint32_t s : touched) {
    if (id_of_[s] != 0) hits.push_back({id_of_[s], acc[s]});  // removed, not yet compacted: skip
  }
  auto better = [](const Scored& a, const Scored& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); };
  if (hits.size() > k) {
    std::nth_element(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k), hits.end(), better);
    hits.resize(k);
  }
  std::sort(hits.begin(), hits.end(), better);
  return hits;
}

std::vector<double> KeywordIndex::scores(std::span<const std::string> words, std::span<const std::int64_t> ids) const {
  std::vector<double> out(ids.size(), 0.0);
  if (slot_of_.empty()) return out;
  const std::vector<Term> terms = query_terms(words);
  if (terms.empty()) return out;
  // Posting lists are in slot order (slots are handed out ascending; compact() keeps the order),
  // so each wanted chunk is a binary search per term, not a walk over common words' postings.
  auto by_slot = [](const Posting& p, std::uint32_t slot) { return p.slot < slot; };
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto it = slot_of_.find(ids[i]);
    if (it == slot_of_.end()) continue;
    const std::uint32_t slot = it->second;
    for (const Term& t : terms) {
      const auto& list = lists_[t.id];
      const auto p = std::lower_bound(list.begin(), list.end(), slot, by_slot);
      if (p == list.end() || p->slot != slot) continue;
      const double tf = p->tf;
      out[i] += t.idf * ((tf * (kK1 + 1.0)) / (tf + norm(slot)));
    }
  }
  return out;
}

// ---- KeywordIndexCache ----

struct KeywordIndexCache::Entry {
  std::shared_mutex mu;                 // shared: searches; exclusive: build, reconcile
  std::unique_ptr<KeywordIndex> index;  // null until built
  bool forgotten = false;               // the collection was deleted
};

struct KeywordIndexCache::AtomicCounters {
  std::atomic<std::uint64_t> builds{0}, reconciliations{0}, chunks_added{0}, chunks_removed{0}, searches{0};
};

KeywordIndexCache::KeywordIndexCache() : counters_(std::make_unique<AtomicCounters>()) {}
KeywordIndexCache::~KeywordIndexCache() = default;

std::shared_ptr<KeywordIndexCache::Entry> KeywordIndexCache::entry(std::int64_t collection_id) {
  std::lock_guard lock(mu_);
  if (dropped_.contains(collection_id)) {
    // A search that read the collection before it was deleted: answer "deleted", keep nothing.
    auto gone = std::make_shared<Entry>();
    gone->forgotten = true;
    return gone;
  }
  auto& e = entries_[collection_id];
  if (!e) e = std::make_shared<Entry>();
  return e;
}

Result<std::vector<Scored>> KeywordIndexCache::search(KnowledgeStore& store, const CollectionInfo& c,
                                                      const std::string& query, std::size_t k) {
  ++counters_->searches;
  auto tokenizer = thread_tokenizer();
  if (!tokenizer) return tokenizer.take_error();
  const std::vector<std::string> words = (*tokenizer)->words(query);
  return with_current_index(store, c, [&](const KeywordIndex& index) -> Result<std::vector<Scored>> {
    return index.search(words, k);
  });
}

template <class F>
auto KeywordIndexCache::with_current_index(KnowledgeStore& store, const CollectionInfo& c, F&& f)
    -> decltype(f(KeywordIndex{})) {
  auto e = entry(c.id);
  {
    std::shared_lock lock(e->mu);
    if (e->index && e->index->revision() >= c.revision) return f(*e->index);
  }
  {
    std::unique_lock lock(e->mu);
    HEARTH_TRY(bring_up_to_date(store, c, *e));
  }
  std::shared_lock lock(e->mu);
  if (!e->index) return not_found(fmt::format("collection '{}' was deleted", c.name));
  return f(*e->index);
}

Result<std::vector<double>> KeywordIndexCache::scores(KnowledgeStore& store, const CollectionInfo& c,
                                                      const std::string& query, std::span<const std::int64_t> ids) {
  auto tokenizer = thread_tokenizer();
  if (!tokenizer) return tokenizer.take_error();
  const std::vector<std::string> words = (*tokenizer)->words(query);
  return with_current_index(store, c, [&](const KeywordIndex& index) -> Result<std::vector<double>> {
    return index.scores(words, ids);
  });
}

Status KeywordIndexCache::refresh(KnowledgeStore& store, const CollectionInfo& c) {
  auto e = entry(c.id);
  std::unique_lock lock(e->mu);
  return bring_up_to_date(store, c, *e);
}

Status KeywordIndexCache::bring_up_to_date(KnowledgeStore& store, const CollectionInfo& c, Entry& e) {
  if (e.forgotten) return not_found(fmt::format("collection '{}' was deleted", c.name));
  if (e.index && e.index->revision() >= c.revision) return {};  // revisions only grow
  ++counters_->reconciliations;
  auto tokenizer = thread_tokenizer();
  if (!tokenizer) return tokenizer.take_error();
  auto live = store.chunk_ids(c.id);
  if (!live) return live.take_error();
  // A first build fills a fresh index that is installed only when complete.
  std::unique_ptr<KeywordIndex> fresh;
  if (!e.index) {
    fresh = std::make_unique<KeywordIndex>();
    ++counters_->builds;
  }
  KeywordIndex& index = fresh ? *fresh : *e.index;
  const std::vector<std::int64_t> have = index.ids();
  std::vector<std::int64_t> missing, gone;
  std::set_difference(live->begin(), live->end(), have.begin(), have.end(), std::back_inserter(missing));
  std::set_difference(have.begin(), have.end(), live->begin(), live->end(), std::back_inserter(gone));
  for (std::int64_t id : gone) index.remove(id);
  counters_->chunks_removed += gone.size();
  std::vector<std::string> tokens;
  for (std::size_t at = 0; at < missing.size(); at += kTextBatch) {
    const std::span<const std::int64_t> batch(missing.data() + at, std::min(kTextBatch, missing.size() - at));
    auto texts = store.chunk_search_texts(batch);
    if (!texts) {
      e.index.reset();  // half reconciled: start over next time
      return texts.take_error();
    }
    for (const auto& [id, text] : *texts) {
      tokens.clear();
      for (TextToken& t : (*tokenizer)->tokenize(text)) tokens.push_back(std::move(t.text));
      index.add(id, tokens);
    }
    counters_->chunks_added += texts->size();
  }
  index.compact();
  index.set_revision(c.revision);
  if (fresh) e.index = std::move(fresh);
  return {};
}

bool KeywordIndexCache::has_index(std::int64_t collection_id) const {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(collection_id);
    if (it == entries_.end()) return false;
    e = it->second;
  }
  std::shared_lock entry_lock(e->mu);
  return e->index != nullptr;
}

void KeywordIndexCache::drop(std::int64_t collection_id) {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard lock(mu_);
    dropped_.insert(collection_id);
    const auto it = entries_.find(collection_id);
    if (it == entries_.end()) return;
    e = it->second;
    entries_.erase(it);
  }
  if (!e) return;
  std::unique_lock lock(e->mu);  // waits for searches and updates in flight
  e->forgotten = true;
  e->index.reset();
}

KeywordIndexCounters KeywordIndexCache::counters() const {
  const AtomicCounters& c = *counters_;
  return {c.builds, c.reconciliations, c.chunks_added, c.chunks_removed, c.searches};
}

}  // namespace hearth::knowledge
