#include "knowledge/keyword_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "knowledge/store.h"

namespace hearth::knowledge {
namespace {

using ::testing::ElementsAre;

// Words with very different frequencies, English and Chinese, some differing only in case or
// width (the tokenizer folds them), so BM25's idf and length normalization both matter.
const std::vector<std::string> kWords = {
    "router", "Router", "ROUTER", "packet", "firewall", "the", "the", "the", "of", "of", "and",
    "kernel", "driver", "memory", "page", "cache", "数据库", "全文检索", "服务器", "我们", "支持",
    "ｒｏｕｔｅｒ", "interrupt", "scheduler", "latency", "throughput", "the", "a", "a", "is"};

std::string random_text(std::mt19937& rng) {
  std::uniform_int_distribution<std::size_t> pick(0, kWords.size() - 1), length(1, 40);
  std::string out;
  const std::size_t n = length(rng);
  for (std::size_t i = 0; i < n; ++i) {
    if (!out.empty()) out += ' ';
    out += kWords[pick(rng)];
  }
  return out + ".";
}

ChunkRecord chunk(std::string text) {
  ChunkRecord c;
  c.text = std::move(text);
  c.text_hash = c.text;
  c.heading_path = "Manual > Section";
  return c;
}

std::map<std::int64_t, double> as_map(const std::vector<Scored>& v) {
  std::map<std::int64_t, double> out;
  for (const Scored& s : v) out[s.id] = s.score;
  return out;
}

class KeywordIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_sqlite_store(":memory:");
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
    auto c = store->create_collection("docs", "test", 3);
    ASSERT_TRUE(c) << c.error().message;
    col = c->id;
  }
  std::int64_t put(const std::string& uri, std::vector<ChunkRecord> chunks) {
    auto id = store->put_document(col, {uri, fmt::format("Title {}", uri), "h"}, std::move(chunks));
    EXPECT_TRUE(id) << id.error().message;
    return id ? *id : 0;
  }
  CollectionInfo info() {
    auto c = store->collection("docs");
    EXPECT_TRUE(c) << c.error().message;
    return *c;
  }
  // The in-memory index must agree with FTS5 exactly: same chunks, same BM25 scores.
  void expect_same_as_fts5(const std::string& query) {
    SCOPED_TRACE(query);
    auto fts = store->keyword_search(col, query, 10000);
    ASSERT_TRUE(fts) << fts.error().message;
    auto mem = cache.search(*store, info(), query, 10000);
    ASSERT_TRUE(mem) << mem.error().message;
    const auto a = as_map(*fts), b = as_map(*mem);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [id, score] : a) {
      ASSERT_TRUE(b.contains(id)) << "chunk " << id;
      EXPECT_NEAR(b.at(id), score, 1e-9 * std::max(1.0, std::abs(score))) << "chunk " << id;
    }
    // Best first, ties by id.
    for (std::size_t i = 1; i < mem->size(); ++i) {
      const Scored &p = (*mem)[i - 1], &q = (*mem)[i];
      EXPECT_TRUE(p.score > q.score || (p.score == q.score && p.id < q.id));
    }
  }
  std::unique_ptr<KnowledgeStore> store;
  std::int64_t col = 0;
  KeywordIndexCache cache;
};

TEST_F(KeywordIndexTest, ScoresEqualFts5Bm25ForEnglishAndChineseQueries) {
  std::mt19937 rng(11);
  for (int d = 0; d < 60; ++d) {
    std::vector<ChunkRecord> chunks;
    for (int i = 0; i < 5; ++i) chunks.push_back(chunk(random_text(rng)));
    put(fmt::format("doc{}.md", d), std::move(chunks));
  }
  for (const char* q : {"router", "ROUTER packet", "the router of the kernel", "数据库", "我们支持全文检索",
                        "firewall latency throughput scheduler", "Ｒｏｕｔｅｒ", "nothing-matches-this",
                        "Title doc7.md", "Manual"}) {
    expect_same_as_fts5(q);
  }
  const auto k = cache.counters();
  EXPECT_EQ(k.builds, 1u);
  EXPECT_EQ(k.chunks_added, 300u);
}

TEST_F(KeywordIndexTest, FollowsTheStoreAfterDeletesAndAdditions) {
  std::mt19937 rng(5);
  std::vector<std::int64_t> docs;
  for (int d = 0; d < 20; ++d) docs.push_back(put(fmt::format("d{}", d), {chunk(random_text(rng)), chunk(random_text(rng))}));
  put("special", {chunk("a zebra crossing near the router")});
  auto hits = cache.search(*store, info(), "zebra", 10);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 1u);
  const std::int64_t zebra = hits->front().id;

  // Delete the zebra's document and a few others, add new text: the next search sees it all.
  auto docs_now = store->documents(col);
  ASSERT_TRUE(docs_now);
  for (const StoredDoc& d : *docs_now) {
    if (d.uri == "special" || d.uri == "d3" || d.uri == "d4") {
      ASSERT_TRUE(store->remove_document(d.id));
    }
  }
  put("new", {chunk("an okapi and a zebra"), chunk("okapi okapi")});
  hits = cache.search(*store, info(), "zebra okapi", 10);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 2u);
  for (const Scored& s : *hits) EXPECT_NE(s.id, zebra);
  for (const char* q : {"zebra okapi", "the router", "数据库 cache"}) expect_same_as_fts5(q);
  const auto k = cache.counters();
  EXPECT_EQ(k.builds, 1u);
  EXPECT_EQ(k.reconciliations, 2u);
  EXPECT_EQ(k.chunks_removed, 5u);  // 2 + 2 + 1
  EXPECT_EQ(k.chunks_added, 41u + 2u);

  // An unchanged revision does no work.
  ASSERT_TRUE(cache.search(*store, info(), "router", 5));
  EXPECT_EQ(cache.counters().reconciliations, 2u);

  cache.drop(col);
  EXPECT_FALSE(cache.has_index(col));
}

TEST(KeywordIndex, RemovalsCompactAndScoresOfChosenChunksMatchSearch) {
  KeywordIndex index;
  const std::vector<std::string> a = {"alpha", "beta", "beta"}, b = {"beta", "gamma"}, c = {"alpha", "alpha", "delta"};
  index.add(10, a);
  index.add(20, b);
  index.add(30, c);
  EXPECT_EQ(index.postings(), 2u + 2u + 2u);
  index.remove(20);
  index.remove(99);  // absent: nothing happens
  index.compact();
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.postings(), 4u);
  EXPECT_THAT(index.ids(), ElementsAre(10, 30));
  const std::vector<std::string> q = {"beta", "alpha", "beta"};  // a repeated word counts once
  const auto hits = index.search(q, 10);
  ASSERT_EQ(hits.size(), 2u);
  const std::vector<std::int64_t> ids = {30, 20, 10, 30};
  const auto s = index.scores(q, ids);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[1], 0.0);  // removed
  const auto m = as_map(hits);
  EXPECT_DOUBLE_EQ(s[0], m.at(30));
  EXPECT_DOUBLE_EQ(s[3], m.at(30));
  EXPECT_DOUBLE_EQ(s[2], m.at(10));
  // "beta" is now only in 10, so 10 ranks first; k limits the list.
  EXPECT_EQ(hits.front().id, 10);
  EXPECT_EQ(index.search(q, 1).size(), 1u);
  EXPECT_TRUE(index.search(std::vector<std::string>{"unknown"}, 5).empty());
  // Re-adding an id replaces its text.
  index.add(10, std::vector<std::string>{"omega"});
  index.compact();
  EXPECT_TRUE(index.search(std::vector<std::string>{"beta"}, 5).empty());
  EXPECT_EQ(index.search(std::vector<std::string>{"omega"}, 5).size(), 1u);
}

TEST(KeywordIndexCacheThreads, ManyThreadsShareOneCacheWhileAWriterIngests) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("hearth-kw-{}", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "kb.sqlite").string();
  auto writer = open_sqlite_store(db);
  ASSERT_TRUE(writer) << writer.error().message;
  auto c = (*writer)->create_collection("docs", "test", 3);
  ASSERT_TRUE(c) << c.error().message;
  std::mt19937 rng(3);
  auto put = [&](const std::string& uri) {
    auto id = (*writer)->put_document(c->id, {uri, uri, "h"}, {chunk(random_text(rng)), chunk(random_text(rng))});
    ASSERT_TRUE(id) << id.error().message;
  };
  for (int i = 0; i < 20; ++i) put(fmt::format("seed{}", i));
  KeywordIndexCache cache;
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
      const std::string query = t == 0 ? "router packet" : t == 1 ? "数据库 服务器" : "the kernel cache";
      while (!stop) {
        auto info = (*own)->collection("docs");
        if (!info) continue;  // busy
        auto hits = cache.search(**own, *info, query, 10);
        if (!hits && hits.error().code != ErrorCode::kUnavailable) ++failures;
        const std::vector<std::int64_t> ids = {1, 2, 3};
        auto scores = cache.scores(**own, *info, query, ids);
        if (!scores && scores.error().code != ErrorCode::kUnavailable) ++failures;
        ++searches;
      }
    });
  }
  for (int i = 0; i < 15; ++i) {
    put(fmt::format("doc{}", i));
    if (i % 3 == 0) {
      auto docs = (*writer)->documents(c->id);
      ASSERT_TRUE(docs);
      ASSERT_TRUE((*writer)->remove_document(docs->front().id));
    }
  }
  while (searches < 30 && failures == 0) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures, 0);
  // Caught up with every write: the same chunks and scores as FTS5.
  auto now = (*writer)->collection("docs");
  ASSERT_TRUE(now);
  for (const char* q : {"router packet", "数据库 服务器", "the kernel cache"}) {
    auto fts = (*writer)->keyword_search(c->id, q, 10000);
    auto mem = cache.search(**writer, *now, q, 10000);
    ASSERT_TRUE(fts && mem);
    const auto a = as_map(*fts), b = as_map(*mem);
    ASSERT_EQ(a.size(), b.size()) << q;
    for (const auto& [id, score] : a) EXPECT_NEAR(b.at(id), score, 1e-9 * std::max(1.0, std::abs(score))) << q;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hearth::knowledge
