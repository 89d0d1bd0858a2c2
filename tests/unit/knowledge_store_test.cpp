#include "knowledge/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace hearth::knowledge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ChunkRecord chunk(std::string text, std::vector<float> v = {}, std::string hash = "") {
  ChunkRecord c;
  c.text = std::move(text);
  c.text_hash = hash.empty() ? c.text : hash;
  c.heading_path = "Guide > Install";
  c.char_start = 10;
  c.char_end = 20;
  c.page = 2;
  c.vector = std::move(v);
  return c;
}

std::vector<std::int64_t> ids_of(const std::vector<Scored>& v) {
  std::vector<std::int64_t> out;
  for (const Scored& s : v) out.push_back(s.id);
  return out;
}

class KnowledgeStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_sqlite_store(":memory:");
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
    auto c = store->create_collection("docs", "test", 3);
    ASSERT_TRUE(c) << c.error().message;
    col = c->id;
  }
  std::int64_t put(const std::string& uri, std::vector<ChunkRecord> chunks, const std::string& hash = "h") {
    auto id = store->put_document(col, {uri, "Title of " + uri, hash}, std::move(chunks));
    EXPECT_TRUE(id) << id.error().message;
    return id ? *id : 0;
  }
  std::unique_ptr<KnowledgeStore> store;
  std::int64_t col = 0;
};

TEST_F(KnowledgeStoreTest, CollectionsAreNamedCountedAndDeletedWithTheirDocuments) {
  auto dup = store->create_collection("docs", "test", 3);
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message, HasSubstr("already exists"));
  for (const char* bad : {"", "has space", "a/b", "名字"}) {
    auto r = store->create_collection(bad, "test", 3);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().param, "name");
  }
  EXPECT_FALSE(store->create_collection("zero", "test", 0));
  put("a.md", {chunk("one"), chunk("two")});
  auto other = store->create_collection("other", "static:glove-100d", 100);
  ASSERT_TRUE(other);
  auto all = store->list_collections();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "docs");
  EXPECT_EQ((*all)[0].documents, 1);
  EXPECT_EQ((*all)[0].chunks, 2);
  EXPECT_EQ((*all)[1].embedder, "static:glove-100d");
  EXPECT_EQ((*all)[1].dimensions, 100);
  ASSERT_TRUE(store->delete_collection("docs"));
  EXPECT_EQ(store->collection("docs").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->delete_collection("docs").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store->keyword_search(col, "one", 10)->empty()) << "its chunks left the index too";
}

TEST_F(KnowledgeStoreTest, KeywordSearchFindsEnglishAndChineseWithinTheCollection) {
  const auto a = put("router.md", {chunk("The ROUTER forwards packets."), chunk("Routers, routers, routers.")});
  put("db.md", {chunk("我们的数据库支持全文检索。")});
  auto other = store->create_collection("other", "test", 3);
  ASSERT_TRUE(other);
  ASSERT_TRUE(store->put_document(other->id, {"x.md", "X", "h"}, {chunk("router elsewhere")}));

  auto hits = store->keyword_search(col, "router", 10);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 1u) << "'routers' is another word; the other collection is not searched";
  auto chunks = store->chunks(ids_of(*hits));
  ASSERT_TRUE(chunks);
  EXPECT_EQ((*chunks)[0].chunk.text, "The ROUTER forwards packets.");
  EXPECT_EQ((*chunks)[0].chunk.document_id, a);
  EXPECT_EQ((*chunks)[0].document_uri, "router.md");
  EXPECT_EQ((*chunks)[0].document_title, "Title of router.md");
  EXPECT_EQ((*chunks)[0].chunk.heading_path, "Guide > Install");
  EXPECT_EQ((*chunks)[0].chunk.page, 2);
  EXPECT_GT((*hits)[0].score, 0) << "higher is better";

  auto zh = store->keyword_search(col, "全文检索怎么用", 10);
  ASSERT_TRUE(zh);
  EXPECT_EQ(zh->size(), 1u);
  auto any = store->keyword_search(col, "routers OR \"packets\" 数据", 10);
  ASSERT_TRUE(any) << "FTS5 syntax in a query is just text";
  EXPECT_EQ(any->size(), 3u);
  EXPECT_TRUE(store->keyword_search(col, " ,. ", 10)->empty());
}

TEST_F(KnowledgeStoreTest, VectorSearchIsExactCosine) {
  put("v.md", {chunk("x", {1, 0, 0}), chunk("xy", {0.7f, 0.7f, 0}), chunk("z", {0, 0, 1}), chunk("none")});
  auto hits = store->vector_search(col, std::vector<float>{1, 0.1f, 0}, 2);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 2u);
  auto texts = store->chunks(ids_of(*hits));
  ASSERT_TRUE(texts);
  EXPECT_EQ((*texts)[0].chunk.text, "x");
  EXPECT_EQ((*texts)[1].chunk.text, "xy");
  EXPECT_GT((*hits)[0].score, (*hits)[1].score);
  auto bad = store->vector_search(col, std::vector<float>{1, 0}, 2);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().param, "vector");
}

TEST_F(KnowledgeStoreTest, ReplacingADocumentReusesVectorsAndIsAtomic) {
  const auto first = put("a.md", {chunk("keep", {1, 0, 0}), chunk("old", {0, 1, 0})}, "v1");
  auto stored = store->chunk_hashes(first);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 2u);
  // A new version: "keep" unchanged (its vector reused), "new" embedded.
  std::vector<std::int64_t> reuse = {(*stored)[0].id, 0};
  auto second = store->put_document(col, {"a.md", "A", "v2"}, {chunk("keep"), chunk("new", {0, 0, 1})}, reuse);
  ASSERT_TRUE(second) << second.error().message;
  auto docs = store->documents(col);
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].content_hash, "v2");
  auto hits = store->vector_search(col, std::vector<float>{1, 0, 0}, 1);
  ASSERT_TRUE(hits);
  auto top = store->chunks(ids_of(*hits));
  ASSERT_TRUE(top);
  EXPECT_EQ((*top)[0].chunk.text, "keep");
  EXPECT_THAT((*top)[0].chunk.vector, ElementsAre(1, 0, 0));
  EXPECT_TRUE(store->keyword_search(col, "old", 5)->empty());

  // A failing write (wrong dimensions in the second chunk) leaves the stored version whole.
  auto bad = store->put_document(col, {"a.md", "A", "v3"}, {chunk("fine", {1, 0, 0}), chunk("bad", {1, 0})});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("2-dimensional"));
  docs = store->documents(col);
  EXPECT_EQ((*docs)[0].content_hash, "v2");
  EXPECT_EQ(store->keyword_search(col, "keep", 5)->size(), 1u);
  EXPECT_TRUE(store->keyword_search(col, "fine", 5)->empty());

  ASSERT_TRUE(store->remove_document((*docs)[0].id));
  EXPECT_TRUE(store->documents(col)->empty());
  EXPECT_TRUE(store->keyword_search(col, "keep", 5)->empty());
  EXPECT_EQ(store->remove_document((*docs)[0].id).error().code, ErrorCode::kNotFound);
}

TEST(KnowledgeStoreFile, PersistsAcrossReopen) {
  const auto dir = std::filesystem::temp_directory_path() / ("hearth-kb-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "kb.sqlite").string();
  {
    auto s = open_sqlite_store(path);
    ASSERT_TRUE(s) << s.error().message;
    auto c = (*s)->create_collection("docs", "test", 2);
    ASSERT_TRUE(c);
    ASSERT_TRUE((*s)->put_document(c->id, {"a.md", "A", "h"}, {chunk("persistent words", {1, 0})}));
    EXPECT_TRUE(std::filesystem::exists(path + "-wal")) << "WAL mode";
  }
  {
    auto s = open_sqlite_store(path);
    ASSERT_TRUE(s);
    auto c = (*s)->collection("docs");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->chunks, 1);
    EXPECT_EQ((*s)->keyword_search(c->id, "persistent", 5)->size(), 1u);
  }
  auto bad = open_sqlite_store((dir / "missing" / "kb.sqlite").string());
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("cannot open the knowledge store"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hearth::knowledge
