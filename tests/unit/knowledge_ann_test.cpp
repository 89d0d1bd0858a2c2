#include "knowledge/ann_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "knowledge/store.h"

namespace hearth::knowledge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<float> random_unit(std::mt19937& rng, int dims) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<std::size_t>(dims));
  double norm = 0;
  for (float& x : v) {
    x = normal(rng);
    norm += x * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

std::vector<std::int64_t> exact_top(const std::vector<std::vector<float>>& data, std::span<const float> q,
                                    std::size_t k) {
  std::vector<std::pair<double, std::int64_t>> all;
  for (std::size_t i = 0; i < data.size(); ++i) all.push_back({-cosine(data[i], q), static_cast<std::int64_t>(i + 1)});
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < k; ++i) out.push_back(all[i].second);
  return out;
}

std::vector<std::int64_t> ids_of(const std::vector<Scored>& v) {
  std::vector<std::int64_t> out;
  for (const Scored& s : v) out.push_back(s.id);
  return out;
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("hearth-ann-" + std::to_string(::getpid()) + "-" +
                                                 std::to_string(counter_++))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline std::atomic<int> counter_{0};
  fs::path path_;
};

std::unique_ptr<AnnIndex> build(const std::vector<std::vector<float>>& data) {
  auto index = AnnIndex::create(static_cast<int>(data.front().size()));
  EXPECT_TRUE(index) << index.error().message;
  for (std::size_t i = 0; i < data.size(); ++i) {
    auto st = (*index)->upsert(static_cast<std::int64_t>(i + 1), data[i]);
    EXPECT_TRUE(st) << st.error().message;
  }
  return std::move(*index);
}

TEST(KnowledgeAnnIndex, RecallAt10AgainstExactSearchIsHigh) {
  std::mt19937 rng(7);
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 5000; ++i) data.push_back(random_unit(rng, 100));
  const auto index = build(data);
  EXPECT_EQ(index->size(), 5000u);
  std::size_t found = 0, wanted = 0;
  for (int q = 0; q < 100; ++q) {
    const auto query = random_unit(rng, 100);
    auto hits = index->search(query, 10, 100);
    ASSERT_TRUE(hits) << hits.error().message;
    ASSERT_EQ(hits->size(), 10u);
    for (std::size_t i = 1; i < hits->size(); ++i) EXPECT_GE((*hits)[i - 1].score, (*hits)[i].score) << "best first";
    EXPECT_NEAR(hits->front().score, cosine(data[static_cast<std::size_t>(hits->front().id - 1)], query), 1e-5)
        << "scores are cosine similarities";
    const auto truth = exact_top(data, query, 10);
    const std::set<std::int64_t> truth_set(truth.begin(), truth.end());
    for (std::int64_t id : ids_of(*hits)) found += truth_set.count(id);
    wanted += truth.size();
  }
  const double recall = static_cast<double>(found) / static_cast<double>(wanted);
  EXPECT_GE(recall, 0.95);
}

TEST(KnowledgeAnnIndex, VectorsAreNormalizedAndDeletionsHidden) {
  auto index = AnnIndex::create(3);
  ASSERT_TRUE(index);
  AnnIndex& a = **index;
  ASSERT_TRUE(a.upsert(1, std::vector<float>{10, 0, 0}));
  ASSERT_TRUE(a.upsert(2, std::vector<float>{0.7f, 0.7f, 0}));
  ASSERT_TRUE(a.upsert(3, std::vector<float>{0, 0, 5}));
  auto hits = a.search(std::vector<float>{2, 0.2f, 0}, 2, 10);
  ASSERT_TRUE(hits);
  EXPECT_EQ(ids_of(*hits), (std::vector<std::int64_t>{1, 2}));
  EXPECT_NEAR((*hits)[0].score, cosine(std::vector<float>{1, 0, 0}, std::vector<float>{2, 0.2f, 0}), 1e-6);
  ASSERT_TRUE(a.remove(1));
  ASSERT_TRUE(a.remove(1)) << "removing twice is harmless";
  ASSERT_TRUE(a.remove(99)) << "so is removing what is not there";
  EXPECT_FALSE(a.contains(1));
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a.deleted(), 1u);
  EXPECT_EQ(a.ids(), (std::vector<std::int64_t>{2, 3}));
  hits = a.search(std::vector<float>{1, 0, 0}, 3, 10);
  ASSERT_TRUE(hits);
  EXPECT_EQ(ids_of(*hits), (std::vector<std::int64_t>{2, 3}));
  // Re-adding a deleted id brings it back with its new vector.
  ASSERT_TRUE(a.upsert(1, std::vector<float>{0, 1, 0}));
  EXPECT_TRUE(a.contains(1));
  EXPECT_EQ(a.deleted(), 0u);
  hits = a.search(std::vector<float>{0, 1, 0}, 1, 10);
  ASSERT_TRUE(hits);
  EXPECT_EQ(hits->front().id, 1);
  auto compact = a.compacted();
  ASSERT_TRUE(compact);
  EXPECT_EQ((*compact)->ids(), a.ids());
}

TEST(KnowledgeAnnIndex, BadInputIsAnErrorNotACrash) {
  auto index = AnnIndex::create(3);
  ASSERT_TRUE(index);
  AnnIndex& a = **index;
  EXPECT_EQ(a.upsert(1, std::vector<float>{1, 0}).error().param, "vector");
  EXPECT_EQ(a.upsert(1, std::vector<float>{NAN, 0, 0}).error().param, "vector");
  EXPECT_EQ(a.upsert(0, std::vector<float>{1, 0, 0}).error().param, "id");
  EXPECT_EQ(a.search(std::vector<float>{1, 0}, 3, 10).error().param, "vector");
  auto empty = a.search(std::vector<float>{1, 0, 0}, 3, 10);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(AnnIndex::create(0));
  AnnParams bad;
  bad.m = 1;
  EXPECT_FALSE(AnnIndex::create(3, bad));
  // Growing past the initial capacity.
  std::mt19937 rng(1);
  for (int i = 1; i <= 3000; ++i) ASSERT_TRUE(a.upsert(i, random_unit(rng, 3)));
  EXPECT_EQ(a.size(), 3000u);
}

TEST(KnowledgeAnnIndex, SaveLoadRoundTrip) {
  TempDir dir;
  std::mt19937 rng(3);
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 800; ++i) data.push_back(random_unit(rng, 20));
  auto index = build(data);
  for (std::int64_t id = 1; id <= 800; id += 7) ASSERT_TRUE(index->remove(id));
  index->set_revision(42);
  const std::string path = (dir.path() / "sub" / "1.hnsw").string();
  ASSERT_TRUE(index->save(path));
  auto loaded = AnnIndex::load(path, 20);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ((*loaded)->revision(), 42);
  EXPECT_EQ((*loaded)->ids(), index->ids());
  EXPECT_EQ((*loaded)->deleted(), index->deleted());
  for (int q = 0; q < 20; ++q) {
    const auto query = random_unit(rng, 20);
    auto before = index->search(query, 10, 50);
    auto after = (*loaded)->search(query, 10, 50);
    ASSERT_TRUE(before && after);
    EXPECT_EQ(ids_of(*before), ids_of(*after));
  }
  // The loaded index keeps working.
  ASSERT_TRUE((*loaded)->upsert(5000, data[0]));
  EXPECT_TRUE((*loaded)->contains(5000));
  for (const auto& entry : fs::directory_iterator(dir.path() / "sub")) {
    EXPECT_EQ(entry.path().filename(), "1.hnsw") << "no temporary file is left behind";
  }
  auto wrong_dims = AnnIndex::load(path, 21);
  ASSERT_FALSE(wrong_dims);
  EXPECT_EQ(wrong_dims.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(AnnIndex::load((dir.path() / "missing.hnsw").string(), 20).error().code, ErrorCode::kNotFound);
}

TEST(KnowledgeAnnIndex, CorruptOrTruncatedFilesAreReportedNotLoaded) {
  TempDir dir;
  std::mt19937 rng(5);
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 300; ++i) data.push_back(random_unit(rng, 16));
  const std::string path = (dir.path() / "good.hnsw").string();
  ASSERT_TRUE(build(data)->save(path));
  std::ifstream in(path, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(good.size(), 1000u);

  auto try_load = [&](const std::string& bytes, const std::string& what) {
    const std::string bad = (dir.path() / "bad.hnsw").string();
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes;
    auto r = AnnIndex::load(bad, 16);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, ErrorCode::kInternal) << what;
    EXPECT_THAT(r.error().message, HasSubstr("corrupt")) << what;
  };
  try_load("", "empty");
  try_load(good.substr(0, 10), "inside the magic");
  try_load(good.substr(0, 56), "header only");
  try_load(good.substr(0, 200), "truncated early");
  try_load(good.substr(0, good.size() / 2), "truncated in the middle");
  try_load(good.substr(0, good.size() - 1), "one byte short");
  try_load(good + "x", "one byte long");
  for (std::size_t at : {std::size_t{0}, std::size_t{60}, std::size_t{130}, good.size() / 2, good.size() - 3}) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);
    try_load(flipped, "byte " + std::to_string(at) + " flipped");
  }
  std::string future = good;
  future[8] = 9;  // format version
  try_load(future, "a later format");
}

// A store with one collection whose chunks have 8-d vectors; documents are put and removed
// behind an index's back to play the part of a crash.
class KnowledgeAnnCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db = (dir.path() / "kb.sqlite").string();
    auto s = open_sqlite_store(db);
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
    auto c = store->create_collection("docs", "test", 8);
    ASSERT_TRUE(c);
  }
  CollectionInfo info() {
    auto c = store->collection("docs");
    EXPECT_TRUE(c);
    return *c;
  }
  // A document of `n` chunks whose vectors point near axis `axis`.
  std::int64_t put(const std::string& uri, int axis, int n) {
    std::vector<ChunkRecord> chunks;
    for (int i = 0; i < n; ++i) {
      ChunkRecord r;
      r.text = uri + " chunk " + std::to_string(i);
      r.text_hash = r.text;
      r.vector.assign(8, 0.01f * static_cast<float>(i + 1));
      r.vector[static_cast<std::size_t>(axis)] = 1;
      chunks.push_back(std::move(r));
    }
    auto id = store->put_document(info().id, {uri, uri, "h"}, std::move(chunks));
    EXPECT_TRUE(id) << id.error().message;
    return id ? *id : 0;
  }
  std::set<std::int64_t> live_ids() {
    auto ids = store->vector_chunk_ids(info().id);
    EXPECT_TRUE(ids);
    return {ids->begin(), ids->end()};
  }
  // Every hit is a live chunk; returns the hits.
  std::vector<Scored> search_live(VectorIndexCache& cache, int axis) {
    std::vector<float> q(8, 0.0f);
    q[static_cast<std::size_t>(axis)] = 1;
    auto hits = cache.search(*store, info(), q, 50, 100);
    EXPECT_TRUE(hits) << hits.error().message;
    const auto live = live_ids();
    for (const Scored& s : *hits) EXPECT_TRUE(live.count(s.id)) << "chunk " << s.id << " is gone";
    return *hits;
  }

  TempDir dir;
  std::string db;
  std::unique_ptr<KnowledgeStore> store;
};

TEST_F(KnowledgeAnnCacheTest, ReconcilesAfterAnIngestTheIndexNeverSaw) {
  const auto a = put("a.md", 0, 20);
  put("b.md", 1, 20);
  const std::string file = ann_index_path(db, info().id);
  EXPECT_EQ(file, db + ".ann/" + std::to_string(info().id) + ".hnsw");
  {
    VectorIndexCache cache(db);
    ASSERT_TRUE(cache.refresh(*store, info()));
    EXPECT_TRUE(fs::exists(file));
    EXPECT_EQ(cache.counters().builds, 1u);
    EXPECT_EQ(cache.counters().vectors_added, 40u);
    EXPECT_EQ(cache.counters().saves, 1u);
  }
  // "Crash": the store changes, the index file does not.
  ASSERT_TRUE(store->remove_document(a));
  put("c.md", 2, 10);
  put("b.md", 3, 5);  // replaced: new chunk ids
  VectorIndexCache reopened(db);
  const auto hits = search_live(reopened, 0);
  EXPECT_EQ(hits.size(), 15u) << "every live chunk, none of the removed ones";
  const AnnCounters c = reopened.counters();
  EXPECT_EQ(c.loads, 1u);
  EXPECT_EQ(c.load_failures, 0u);
  EXPECT_EQ(c.vectors_added, 15u);
  EXPECT_EQ(c.vectors_removed, 40u);
  EXPECT_EQ(c.saves, 1u) << "a just-loaded index that had to change is saved";
  // Up to date: the next search neither reconciles nor saves.
  search_live(reopened, 2);
  EXPECT_EQ(reopened.counters().reconciliations, c.reconciliations);
  EXPECT_EQ(reopened.counters().saves, 1u);
}

TEST_F(KnowledgeAnnCacheTest, ReconcilesWhenAnotherConnectionWrites) {
  put("a.md", 0, 10);
  VectorIndexCache cache(db);
  EXPECT_EQ(search_live(cache, 0).size(), 10u);
  // Another connection (another thread or process) writes; the revision tells.
  auto other = open_sqlite_store(db);
  ASSERT_TRUE(other);
  auto docs = (*other)->documents(info().id);
  ASSERT_TRUE(docs);
  ASSERT_TRUE((*other)->remove_document(docs->front().id));
  put("b.md", 1, 4);
  const auto hits = search_live(cache, 1);
  EXPECT_EQ(hits.size(), 4u);
  EXPECT_EQ(cache.counters().vectors_removed, 10u);
  EXPECT_EQ(cache.counters().saves, 1u) << "search-time reconciliation leaves saving to refresh()";
  ASSERT_TRUE(cache.refresh(*store, info()));
  EXPECT_EQ(cache.counters().saves, 2u);
}

TEST_F(KnowledgeAnnCacheTest, ACorruptFileIsRebuiltFromTheStore) {
  put("a.md", 0, 12);
  const std::string file = ann_index_path(db, info().id);
  fs::create_directories(fs::path(file).parent_path());
  std::ofstream(file, std::ios::binary) << "HNSWHRTH garbage";
  VectorIndexCache cache(db);
  EXPECT_TRUE(cache.has_index(info().id));
  EXPECT_EQ(search_live(cache, 0).size(), 12u);
  EXPECT_EQ(cache.counters().load_failures, 1u);
  EXPECT_EQ(cache.counters().builds, 1u);
  auto reloaded = AnnIndex::load(file, 8);
  ASSERT_TRUE(reloaded) << "the rebuilt index replaced the corrupt file";
  EXPECT_EQ((*reloaded)->size(), 12u);
  cache.drop(info().id);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(cache.has_index(info().id));
}

TEST_F(KnowledgeAnnCacheTest, ACacheServesOneDatabase) {
  put("a.md", 0, 3);
  VectorIndexCache cache;  // bound by its first use
  EXPECT_EQ(search_live(cache, 0).size(), 3u);
  EXPECT_TRUE(fs::exists(ann_index_path(db, info().id)));
  auto elsewhere = open_sqlite_store(":memory:");
  ASSERT_TRUE(elsewhere);
  auto c = (*elsewhere)->create_collection("docs", "test", 8);
  ASSERT_TRUE(c);
  auto wrong = cache.search(**elsewhere, *c, std::vector<float>(8, 1.0f), 5, 10);
  ASSERT_FALSE(wrong);
  EXPECT_THAT(wrong.error().message, HasSubstr("one per database"));
  // A database without a file keeps its indexes in memory.
  VectorIndexCache memory;
  ASSERT_TRUE((*elsewhere)->put_document(c->id, {"m.md", "M", "h"}, [] {
    ChunkRecord r;
    r.text = r.text_hash = "m";
    r.vector.assign(8, 1.0f);
    return std::vector<ChunkRecord>{r};
  }()));
  auto hits = memory.search(**elsewhere, *(*elsewhere)->collection("docs"), std::vector<float>(8, 1.0f), 5, 10);
  ASSERT_TRUE(hits) << hits.error().message;
  EXPECT_EQ(hits->size(), 1u);
  EXPECT_EQ(memory.counters().saves, 0u);
}

TEST_F(KnowledgeAnnCacheTest, ManyThreadsShareOneCacheWhileAWriterIngests) {
  put("seed.md", 0, 30);
  VectorIndexCache cache(db);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      auto own = open_sqlite_store(db);  // one connection per thread
      if (!own) {
        ++failures;
        return;
      }
      std::vector<float> q(8, 0.0f);
      q[static_cast<std::size_t>(t)] = 1;
      while (!stop) {
        auto c = (*own)->collection("docs");
        if (!c) continue;  // busy
        auto hits = cache.search(**own, *c, q, 10, 50);
        if (!hits && hits.error().code != ErrorCode::kUnavailable) ++failures;
        ++searches;
      }
    });
  }
  for (int i = 0; i < 15; ++i) put("doc" + std::to_string(i) + ".md", i % 8, 5);
  while (searches < 30 && failures == 0) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(search_live(cache, 0).size(), 50u) << "caught up with every write";
}

}  // namespace
}  // namespace hearth::knowledge
