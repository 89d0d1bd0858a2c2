#include "knowledge/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

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

TEST_F(KnowledgeStoreTest, MetadataAndDocumentFiltersApplyToBothSearches) {
  auto put_meta = [&](const std::string& uri, const std::string& meta, std::vector<float> v) {
    auto id = store->put_document(col, {uri, "T", "h", meta}, {chunk("router setup for " + uri, std::move(v))});
    ASSERT_TRUE(id) << id.error().message;
  };
  put_meta("/kb/guide/a.md", R"({"lang":"zh","部门":"研发","year":2024,"draft":false})", {1, 0, 0});
  put_meta("/kb/news/b.md", R"({"lang":"en","部门":"市场","year":2023,"draft":true,"score":2.5})", {0.9f, 0.1f, 0});
  put_meta("/kb/news/c.txt", "", {0.8f, 0.2f, 0});  // empty means {}
  const std::vector<float> q = {1, 0, 0};
  auto both = [&](const SearchFilter& f) {
    auto k = store->keyword_search(col, "router", 10, f);
    auto v = store->vector_search(col, q, 10, f);
    EXPECT_TRUE(k) << k.error().message;
    EXPECT_TRUE(v) << v.error().message;
    std::vector<std::string> uris;
    for (const auto* list : {&*k, &*v}) {
      auto hits = store->chunks(ids_of(*list));
      EXPECT_TRUE(hits);
      std::vector<std::string> these;
      for (const ChunkHit& h : *hits) these.push_back(h.document_uri);
      std::sort(these.begin(), these.end());
      if (list == &*k) {
        uris = these;
      } else {
        EXPECT_EQ(these, uris) << "keyword and vector search filter alike";
      }
    }
    return uris;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(both({}).size(), 3u);
  EXPECT_EQ(both({{}, {{"部门", "研发"}}}), V{"/kb/guide/a.md"}) << "Chinese keys and values";
  EXPECT_EQ(both({{}, {{"year", "2023"}}}), V{"/kb/news/b.md"}) << "numbers compare as text";
  EXPECT_EQ(both({{}, {{"score", "2.5"}}}), V{"/kb/news/b.md"});
  EXPECT_EQ(both({{}, {{"draft", "false"}}}), V{"/kb/guide/a.md"}) << "booleans as true/false";
  EXPECT_EQ(both({{}, {{"lang", "zh"}, {"year", "2023"}}}), V{}) << "every term must hold";
  EXPECT_EQ(both({{}, {{"missing", "x"}}}), V{});
  EXPECT_EQ(both({{"/kb/news/*"}, {}}), (V{"/kb/news/b.md", "/kb/news/c.txt"}));
  EXPECT_EQ(both({{"*.txt", "a.md"}, {}}), (V{"/kb/guide/a.md", "/kb/news/c.txt"})) << "any glob; file names too";
  EXPECT_EQ(both({{"/kb/news/*"}, {{"lang", "en"}}}), V{"/kb/news/b.md"});
  EXPECT_EQ(both({{"*.pdf"}, {}}), V{});

  auto hits = store->chunks(ids_of(*store->keyword_search(col, "router", 10, {{}, {{"lang", "zh"}}})));
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_THAT(hits->front().document_metadata_json, HasSubstr("\"部门\":\"研发\""));
}

TEST_F(KnowledgeStoreTest, BadMetadataAndFiltersAreRejected) {
  for (const char* bad : {"not json", "[1, 2]", R"({"a": [1]})", R"({"a": {"b": 1}})", R"({"a": null})", "\"s\""}) {
    auto r = store->put_document(col, {"x.md", "X", "h", bad}, {chunk("words")});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(r.error().param, "metadata") << bad;
  }
  EXPECT_TRUE(store->documents(col)->empty()) << "nothing was written";
  auto empty_key = store->keyword_search(col, "words", 5, {{}, {{"", "v"}}});
  ASSERT_FALSE(empty_key);
  EXPECT_EQ(empty_key.error().param, "filter.metadata");
  SearchFilter many;
  many.documents.assign(65, "*.md");
  EXPECT_EQ(store->vector_search(col, std::vector<float>{1, 0, 0}, 5, many).error().param, "filter");
  EXPECT_EQ(store->vector_search(col, std::vector<float>{1, 0, 0}, 5, {{""}, {}}).error().param, "filter.documents");
}

TEST_F(KnowledgeStoreTest, IdsAreNeverReusedAndRevisionsMove) {
  const std::int64_t rev0 = store->collection("docs")->revision;
  const auto doc = put("a.md", {chunk("one", {1, 0, 0}), chunk("two"), chunk("three", {0, 1, 0})});
  const std::int64_t rev1 = store->collection("docs")->revision;
  EXPECT_NE(rev1, rev0);
  auto with_vectors = store->vector_chunk_ids(col);
  ASSERT_TRUE(with_vectors);
  ASSERT_EQ(with_vectors->size(), 2u) << "chunk 'two' has no vector";
  auto vectors = store->chunk_vectors(*with_vectors);
  ASSERT_TRUE(vectors);
  ASSERT_EQ(vectors->size(), 2u);
  EXPECT_THAT((*vectors)[1].vector, ElementsAre(0, 1, 0));
  const std::int64_t old_max = with_vectors->back();

  ASSERT_TRUE(store->remove_document(doc));
  const std::int64_t rev2 = store->collection("docs")->revision;
  EXPECT_NE(rev2, rev1);
  EXPECT_TRUE(store->chunk_vectors(*with_vectors)->empty()) << "gone ids are left out";
  EXPECT_TRUE(store->chunks(*with_vectors)->empty()) << "gone ids are left out";
  put("a.md", {chunk("one", {1, 0, 0})});
  auto again = store->vector_chunk_ids(col);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_GT(again->front(), old_max) << "the deleted chunks' ids are not handed out again";
  EXPECT_NE(store->collection("docs")->revision, rev2);

  auto x = store->create_collection("x", "test", 3);
  ASSERT_TRUE(x);
  ASSERT_TRUE(store->put_document(x->id, {"x.md", "X", "h"}, {chunk("x", {1, 0, 0})}));
  EXPECT_NE(store->collection("x")->revision, store->collection("docs")->revision) << "unique in the database";
  ASSERT_TRUE(store->delete_collection("x"));
  auto y = store->create_collection("y", "test", 3);
  ASSERT_TRUE(y);
  EXPECT_GT(y->id, x->id);
}

TEST_F(KnowledgeStoreTest, SourcesKeepTheirIdIntervalAndLastSync) {
  auto id = store->put_source(col, {0, "/data/docs", "*.md", "", 600});
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_TRUE(store->mark_source_synced(*id, 1234));
  auto again = store->put_source(col, {0, "/data/docs", "*.txt", "*.log", 60});
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *id) << "an upsert by URI";
  auto all = store->sources(col);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].include, "*.txt");
  EXPECT_EQ((*all)[0].exclude, "*.log");
  EXPECT_EQ((*all)[0].interval_seconds, 60);
  EXPECT_EQ((*all)[0].last_synced_at, 1234) << "kept by the upsert";
  EXPECT_EQ(store->mark_source_synced(*id + 100, 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->put_source(col, {0, "/x", "", "", -1}).error().param, "interval_seconds");
}

TEST_F(KnowledgeStoreTest, LongQueriesUseTheirFirst64DistinctWords) {
  put("r.md", {chunk("The router forwards packets.")});
  std::string repeated;
  for (int i = 0; i < 5000; ++i) repeated += "router ";
  auto many = store->keyword_search(col, repeated, 5);
  ASSERT_TRUE(many) << many.error().message;
  EXPECT_EQ(many->size(), 1u);
  std::string filler;
  for (int i = 0; i < 64; ++i) filler += "filler" + std::to_string(i) + " filler" + std::to_string(i) + " ";
  EXPECT_EQ(store->keyword_search(col, "router " + filler, 5)->size(), 1u);
  EXPECT_TRUE(store->keyword_search(col, filler + "router", 5)->empty()) << "the 65th distinct word is dropped";
}

TEST(KnowledgeStoreFile, OpensADatabaseFromBeforeMetadataAndRevisions) {
  const auto dir = std::filesystem::temp_directory_path() / ("hearth-kb-old-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "kb.sqlite").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* old_schema = R"sql(
      CREATE TABLE collections (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, embedder TEXT NOT NULL,
        dimensions INTEGER NOT NULL, created_at INTEGER NOT NULL DEFAULT (unixepoch()));
      CREATE TABLE documents (id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE, uri TEXT NOT NULL,
        title TEXT NOT NULL, content_hash TEXT NOT NULL, updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
        UNIQUE (collection_id, uri));
      CREATE TABLE chunks (id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, ordinal INTEGER NOT NULL,
        text TEXT NOT NULL, heading_path TEXT NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
        page INTEGER NOT NULL, text_hash TEXT NOT NULL, search_text TEXT NOT NULL, vector BLOB);
      INSERT INTO collections(id, name, embedder, dimensions) VALUES (3, 'docs', 'test', 3);
      INSERT INTO documents(id, collection_id, uri, title, content_hash) VALUES (1, 3, 'old.md', 'Old', 'h');
      INSERT INTO chunks VALUES (7, 1, 0, 'old text', '', 0, 8, 0, 'h', 'old text', NULL);
    )sql";
    ASSERT_EQ(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  for (int round = 0; round < 2; ++round) {  // the migration runs once, then finds nothing to do
    auto s = open_sqlite_store(path);
    ASSERT_TRUE(s) << s.error().message;
    auto c = (*s)->collection("docs");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->chunks, round + 1);
    auto doc = (*s)->put_document(c->id, {"new" + std::to_string(round) + ".md", "New", "h", R"({"k":"v"})"},
                                  {chunk("fresh words", {1, 0, 0})});
    ASSERT_TRUE(doc) << doc.error().message;
    auto ids = (*s)->vector_chunk_ids(c->id);
    ASSERT_TRUE(ids);
    EXPECT_GT(ids->front(), 7) << "new chunk ids start above the old ones";
    auto hits = (*s)->keyword_search(c->id, "fresh", 5, {{}, {{"k", "v"}}});
    ASSERT_TRUE(hits) << hits.error().message;
    EXPECT_EQ(hits->size(), static_cast<std::size_t>(round + 1));
    auto other = (*s)->create_collection("other" + std::to_string(round), "test", 3);
    ASSERT_TRUE(other);
    EXPECT_GT(other->id, 3);
  }
  std::filesystem::remove_all(dir);
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

namespace hearth::knowledge {
namespace {

TEST_F(KnowledgeStoreTest, CountsFollowAddsReplacementsAndRemovals) {
  auto counts = [&] {
    auto c = store->collection("docs");
    EXPECT_TRUE(c);
    return std::pair{c->documents, c->chunks};
  };
  EXPECT_EQ(counts(), (std::pair<std::int64_t, std::int64_t>{0, 0}));
  const auto a = put("a.md", {chunk("one"), chunk("two"), chunk("three")});
  put("b.md", {chunk("four")});
  EXPECT_EQ(counts(), (std::pair<std::int64_t, std::int64_t>{2, 4}));
  put("a.md", {chunk("one"), chunk("five")}, "h2");  // replaced: 3 chunks become 2
  EXPECT_EQ(counts(), (std::pair<std::int64_t, std::int64_t>{2, 3}));
  auto docs = store->documents(col);
  ASSERT_TRUE(docs);
  for (const auto& d : *docs) {
    if (d.uri == "b.md") {
      ASSERT_TRUE(store->remove_document(d.id));
    }
  }
  EXPECT_EQ(counts(), (std::pair<std::int64_t, std::int64_t>{1, 2}));
  (void)a;
  // A second connection to the same file sees the same counts (they live in the database).
  const auto path = std::filesystem::temp_directory_path() / ("hearth-counts-" + std::to_string(::getpid()) + ".sqlite");
  {
    auto file = open_sqlite_store(path.string());
    ASSERT_TRUE(file);
    auto c = (*file)->create_collection("f", "test", 3);
    ASSERT_TRUE((*file)->put_document(c->id, {"x.md", "X", "h"}, {chunk("x"), chunk("y")}));
    auto again = open_sqlite_store(path.string());
    ASSERT_TRUE(again);
    EXPECT_EQ((*again)->collection("f")->chunks, 2);
    ASSERT_TRUE((*again)->delete_collection("f"));
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST_F(KnowledgeStoreTest, LongQueriesMatchByTheirRareWords) {
  // 40 chunks share the common words; one also has the rare word. A pasted sentence full of
  // common words still finds it first (common words are pruned or barely count).
  for (int i = 0; i < 40; ++i) {
    put("common" + std::to_string(i) + ".md", {chunk("the system of the network and the rules of the office")});
  }
  const auto rare = put("rare.md", {chunk("the network of the office uses a zeppelin for backups")});
  auto hits = store->keyword_search(col, "what is the rule of the office network and the zeppelin", 5);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_FALSE(hits->empty());
  auto first = store->chunks(std::vector<std::int64_t>{(*hits)[0].id});
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)[0].chunk.document_id, rare);
  EXPECT_TRUE(store->keyword_search(col, "unknownword anotherunknown thirdunknown", 5)->empty());
}

}  // namespace
}  // namespace hearth::knowledge
