#include "knowledge/knowledge_base.h"
#include "knowledge/extract.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace hearth::knowledge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Deterministic 8-d vectors from the words of a text; counts every text it embeds.
class CountingEmbedder final : public Embedder {
 public:
  std::string name() const override { return "test:bag-of-words-8"; }
  int dimensions() const override { return 8; }
  Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) override {
    std::vector<std::vector<float>> out;
    for (const std::string& t : texts) {
      ++embedded;
      std::vector<float> v(8, 0.0f);
      std::string word;
      for (char ch : t + " ") {
        if (std::isalnum(static_cast<unsigned char>(ch))) {
          word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        } else if (!word.empty()) {
          v[std::hash<std::string>{}(word) % 8] += 1.0f;
          word.clear();
        }
      }
      out.push_back(v);
    }
    return out;
  }
  std::size_t embedded = 0;
};

void write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string paragraphs(const std::string& topic, int n) {
  std::string out = "# " + topic + "\n\n";
  for (int i = 0; i < n; ++i) {
    out += "Paragraph " + std::to_string(i) + " about " + topic + ": the " + topic + " team ships release " +
           std::to_string(i) + " with notes on " + topic + " configuration and testing.\n\n";
  }
  return out;
}

class KnowledgeBaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("hearth-kb-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto s = open_sqlite_store((dir / "kb.sqlite").string());
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
    kb = std::make_unique<KnowledgeBase>(*store, embedder, ChunkerOptions{48, 8});
    ASSERT_TRUE(kb->create_collection("docs"));
    write(dir / "src/network.md", paragraphs("network", 6));
    write(dir / "src/storage.md", paragraphs("storage", 6));
    write(dir / "src/sub/printer.txt", "Printer setup.\n\nThe printer needs a driver.");
    write(dir / "src/skip.log", "excluded by the globs");
    write(dir / "src/中文.md", "# 网络\n\n我们的数据库支持全文检索。");
    write(dir / "src/broken.pdf", "%PDF-1.4 not really");
    write(dir / "src/binary.txt", std::string("\0\1\2\3", 4));
  }
  void TearDown() override { fs::remove_all(dir); }

  fs::path dir;
  CountingEmbedder embedder;
  std::unique_ptr<KnowledgeStore> store;
  std::unique_ptr<KnowledgeBase> kb;
};

TEST_F(KnowledgeBaseTest, IngestEditDeleteSyncReembedsOnlyWhatChanged) {
  auto first = kb->add_source("docs", (dir / "src").string(), "", "*.log");
  ASSERT_TRUE(first) << first.error().message;
  const SyncCounters& c1 = first->counters;
  EXPECT_EQ(c1.documents_added, 4u);
  EXPECT_EQ(c1.documents_failed, 2u) << "broken.pdf and binary.txt";
  ASSERT_EQ(first->errors.size(), 2u);
  EXPECT_THAT(first->errors[0].message + first->errors[1].message, HasSubstr("not a readable PDF"));
  EXPECT_THAT(first->errors[0].message + first->errors[1].message, HasSubstr("binary file"));
  EXPECT_EQ(c1.chunks_embedded, embedder.embedded);
  EXPECT_GT(c1.chunks_embedded, 8u);
  const std::size_t chunks_before = store->collection("docs")->chunks;

  // Nothing changed: nothing embedded.
  embedder.embedded = 0;
  auto again = kb->sync("docs");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->counters.documents_unchanged, 4u);
  EXPECT_EQ(again->counters.chunks_embedded, 0u);
  EXPECT_EQ(embedder.embedded, 0u);

  // Edit one paragraph of network.md, delete storage.md.
  const std::string net_before = paragraphs("network", 6);
  std::string net = net_before;
  const std::string old_para = "Paragraph 5 about network";
  net.replace(net.find(old_para), old_para.size(), "Paragraph five, rewritten, about network");
  write(dir / "src/network.md", net);
  fs::remove(dir / "src/storage.md");
  auto third = kb->sync("docs");
  ASSERT_TRUE(third) << third.error().message;
  const SyncCounters& c3 = third->counters;
  EXPECT_EQ(c3.documents_changed, 1u);
  EXPECT_EQ(c3.documents_removed, 1u);
  EXPECT_EQ(c3.documents_unchanged, 2u);
  // Exactly the chunks whose text the edit touched: the new version's chunks the old one lacks.
  auto chunk_texts = [](const std::string& markdown) {
    auto doc = extract_document("network.md", markdown);
    std::multiset<std::string> out;
    if (!doc) return out;
    for (const Chunk& ch : Chunker(ChunkerOptions{48, 8}).chunk(doc->blocks)) {
      std::string path;
      for (const std::string& h : ch.heading_path) path += h + "\n";
      out.insert(path + ch.text);
    }
    return out;
  };
  const auto old_chunks = chunk_texts(net_before), new_chunks = chunk_texts(net);
  std::size_t touched = 0;
  for (const std::string& t : new_chunks) touched += old_chunks.count(t) == 0 ? 1 : 0;
  ASSERT_GE(touched, 1u);
  EXPECT_LT(touched, new_chunks.size());
  EXPECT_EQ(c3.chunks_embedded, touched) << "only the chunks holding the edited paragraph";
  EXPECT_EQ(c3.chunks_reused, new_chunks.size() - touched);
  EXPECT_EQ(embedder.embedded, c3.chunks_embedded);
  auto docs = store->documents(store->collection("docs")->id);
  ASSERT_TRUE(docs);
  for (const StoredDoc& d : *docs) EXPECT_THAT(d.uri, ::testing::Not(HasSubstr("storage.md")));
  EXPECT_LT(store->collection("docs")->chunks, chunks_before);
  auto gone = kb->search("docs", "storage", SearchOptions{5, 0.0});
  ASSERT_TRUE(gone);
  for (const SearchHit& h : *gone) EXPECT_THAT(h.hit.document_uri, ::testing::Not(HasSubstr("storage.md")));
}

TEST_F(KnowledgeBaseTest, SearchFindsTheRightDocumentWithCitationsFields) {
  ASSERT_TRUE(kb->add_source("docs", (dir / "src").string(), "*.md,*.txt", ""));
  for (double alpha : {0.0, 0.5, 1.0}) {
    SearchOptions o;
    o.alpha = alpha;
    auto hits = kb->search("docs", "printer driver", o);
    ASSERT_TRUE(hits) << hits.error().message;
    ASSERT_FALSE(hits->empty()) << alpha;
    EXPECT_THAT(hits->front().hit.document_uri, HasSubstr("printer.txt")) << alpha;
  }
  auto zh = kb->search("docs", "全文检索", SearchOptions{3, 0.5});
  ASSERT_TRUE(zh);
  ASSERT_FALSE(zh->empty());
  EXPECT_THAT(zh->front().hit.document_uri, HasSubstr("中文.md"));
  EXPECT_EQ(zh->front().hit.chunk.heading_path, "网络");
  EXPECT_EQ(zh->front().hit.document_title, "网络");
  auto rrf = kb->search("docs", "storage configuration", SearchOptions{3, 0.5, true});
  ASSERT_TRUE(rrf);
  ASSERT_FALSE(rrf->empty());
  EXPECT_THAT(rrf->front().hit.document_uri, HasSubstr("storage.md"));
  EXPECT_FALSE(kb->search("missing", "x", {}));
  EXPECT_EQ(kb->search("docs", "x", SearchOptions{0}).error().param, "top_k");
}

TEST_F(KnowledgeBaseTest, SourcesAreCheckedAndCollectionsKeepTheirEmbedder) {
  auto missing = kb->add_source("docs", (dir / "nope").string(), "", "");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("does not exist"));
  ASSERT_TRUE(store->create_collection("other", "static:glove-6b-100d", 100));
  auto mismatch = kb->add_source("other", (dir / "src").string(), "", "");
  ASSERT_FALSE(mismatch);
  EXPECT_THAT(mismatch.error().message, HasSubstr("was built with static:glove-6b-100d"));
}

TEST_F(KnowledgeBaseTest, SourceOptionsAreRecordedAndDocumentsListed) {
  SourceOptions o;
  o.include = "*.md,*.txt";
  o.interval_seconds = 3600;
  o.max_document_bytes = 300;  // network.md and storage.md are bigger
  auto r = kb->add_source("docs", (dir / "src").string(), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->counters.documents_added, 2u) << "printer.txt and 中文.md";
  EXPECT_EQ(r->counters.documents_failed, 3u) << "two too big, binary.txt";
  const auto c = store->collection("docs");
  auto sources = store->sources(c->id);
  ASSERT_TRUE(sources);
  ASSERT_EQ(sources->size(), 1u);
  EXPECT_EQ((*sources)[0].interval_seconds, 3600);
  EXPECT_GT((*sources)[0].last_synced_at, 1700000000);
  auto docs = store->document_infos(c->id);
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_THAT((*docs)[0].uri, HasSubstr("printer.txt"));
  EXPECT_EQ((*docs)[0].title, "printer") << "a text file is titled by its name";
  EXPECT_GT((*docs)[0].chunks, 0);
  EXPECT_EQ((*docs)[0].metadata_json, "{}");
  EXPECT_GT((*docs)[0].updated_at, 0);
}

TEST_F(KnowledgeBaseTest, AnnSearchFindsWhatExactSearchFinds) {
  ASSERT_TRUE(kb->add_source("docs", (dir / "src").string(), "*.md,*.txt", ""));
  const auto id = store->collection("docs")->id;
  const std::string index_file = (dir / ("kb.sqlite.ann/" + std::to_string(id) + ".hnsw")).string();
  EXPECT_FALSE(fs::exists(index_file)) << "a small collection gets no index at sync";
  for (const char* query : {"printer driver", "storage configuration", "network release 3", "testing notes"}) {
    SearchOptions exact;
    exact.alpha = 1.0;
    exact.vector_mode = VectorMode::kExact;
    SearchOptions ann = exact;
    ann.vector_mode = VectorMode::kAuto;
    ann.exact_below = 0;  // forces the index
    auto e = kb->search("docs", query, exact);
    auto a = kb->search("docs", query, ann);
    ASSERT_TRUE(e && a) << query;
    ASSERT_FALSE(e->empty()) << query;
    ASSERT_FALSE(a->empty()) << query;
    EXPECT_EQ(a->front().hit.chunk.id, e->front().hit.chunk.id) << query;
    EXPECT_NEAR(*a->front().semantic, *e->front().semantic, 1e-6) << query;
  }
  EXPECT_EQ(kb->search_counters().ann_vector_searches, 4u);
  EXPECT_EQ(kb->search_counters().exact_vector_searches, 4u);
  EXPECT_EQ(kb->search_counters().keyword_searches, 0u) << "alpha 1 skips BM25";
  EXPECT_TRUE(fs::exists(index_file)) << "built on first use and saved";
  EXPECT_EQ(kb->vector_indexes()->counters().builds, 1u);
  SearchOptions bad;
  bad.ef = 0;
  EXPECT_EQ(kb->search("docs", "x", bad).error().param, "ef");
}

TEST_F(KnowledgeBaseTest, KeywordOnlySearchEmbedsNothing) {
  ASSERT_TRUE(kb->add_source("docs", (dir / "src").string(), "*.md,*.txt", ""));
  embedder.embedded = 0;
  auto hits = kb->search("docs", "printer driver", SearchOptions{5, 0.0});
  ASSERT_TRUE(hits);
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ(embedder.embedded, 0u);
  EXPECT_EQ(kb->search_counters().query_embeddings, 0u);
  EXPECT_EQ(kb->search_counters().exact_vector_searches + kb->search_counters().ann_vector_searches, 0u);
  EXPECT_EQ(kb->search_counters().keyword_searches, 1u);
  ASSERT_TRUE(kb->search("docs", "printer driver", SearchOptions{5, 0.5}));
  EXPECT_EQ(embedder.embedded, 1u);
  EXPECT_EQ(kb->search_counters().keyword_searches, 2u);
}

TEST_F(KnowledgeBaseTest, AnIndexIsKeptCurrentBySyncAndDeletedWithTheCollection) {
  ASSERT_TRUE(kb->add_source("docs", (dir / "src").string(), "*.md,*.txt", ""));
  const auto id = store->collection("docs")->id;
  const std::string index_file = (dir / ("kb.sqlite.ann/" + std::to_string(id) + ".hnsw")).string();
  ASSERT_TRUE(kb->build_index("docs"));
  ASSERT_TRUE(fs::exists(index_file));
  const auto saves = kb->vector_indexes()->counters().saves;
  fs::remove(dir / "src/storage.md");
  write(dir / "src/new.md", paragraphs("kitchen", 2));
  ASSERT_TRUE(kb->sync("docs"));
  EXPECT_EQ(kb->vector_indexes()->counters().saves, saves + 1) << "the sync updated and saved the index";
  SearchOptions ann;
  ann.alpha = 1.0;
  ann.vector_mode = VectorMode::kAnn;
  ann.top_k = 20;
  ann.mmr_lambda = 1.0;
  auto hits = kb->search("docs", "storage configuration kitchen", ann);
  ASSERT_TRUE(hits) << hits.error().message;
  bool kitchen = false;
  for (const SearchHit& h : *hits) {
    EXPECT_THAT(h.hit.document_uri, ::testing::Not(HasSubstr("storage.md")));
    kitchen = kitchen || h.hit.document_uri.find("new.md") != std::string::npos;
  }
  EXPECT_TRUE(kitchen);

  // Another KnowledgeBase reopening the database loads the saved index.
  auto reopened = open_sqlite_store((dir / "kb.sqlite").string());
  ASSERT_TRUE(reopened);
  KnowledgeBase other(**reopened, embedder, ChunkerOptions{48, 8});
  ASSERT_TRUE(other.search("docs", "kitchen", ann));
  EXPECT_EQ(other.vector_indexes()->counters().loads, 1u);
  EXPECT_EQ(other.vector_indexes()->counters().vectors_added, 0u) << "it was up to date";

  ASSERT_TRUE(kb->delete_collection("docs"));
  EXPECT_FALSE(fs::exists(index_file));
  EXPECT_EQ(kb->search("docs", "kitchen", ann).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(kb->delete_collection("docs").error().code, ErrorCode::kNotFound);
}

TEST_F(KnowledgeBaseTest, FiltersNarrowSearchByMetadataAndDocument) {
  ASSERT_TRUE(kb->add_source("docs", (dir / "src").string(), "*.md,*.txt", ""));
  ASSERT_TRUE(kb->put_document("docs", "upload://team/printers.md", "# Printers\n\nThe printer driver lives here.",
                               R"({"部门":"运维","year":2024})"));
  ASSERT_TRUE(kb->put_document("docs", "upload://team/old.md", "# Old\n\nAn old printer driver note.",
                               R"({"部门":"研发","year":2019})"));
  auto bad = kb->put_document("docs", "upload://x.md", "text", "[1]");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().param, "metadata");
  auto broken = kb->put_document("docs", "upload://broken.pdf", "not a PDF at all");
  ASSERT_TRUE(broken) << "an unreadable document is reported, not an error";
  ASSERT_EQ(broken->errors.size(), 1u);
  EXPECT_EQ(broken->counters.documents_failed, 1u);
  auto again = kb->put_document("docs", "upload://team/old.md", "# Old\n\nAn old printer driver note.",
                                R"({"部门":"研发","year":2019})");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->counters.documents_changed, 1u);
  EXPECT_EQ(again->counters.chunks_reused, 1u) << "same text, same vector";
  for (double alpha : {0.0, 0.5, 1.0}) {
    SearchOptions o;
    o.alpha = alpha;
    o.vector_mode = VectorMode::kAnn;  // a filtered search is exact anyway
    o.filter.metadata = {{"部门", "运维"}};
    auto hits = kb->search("docs", "printer driver", o);
    ASSERT_TRUE(hits) << hits.error().message;
    ASSERT_FALSE(hits->empty()) << alpha;
    for (const SearchHit& h : *hits) EXPECT_EQ(h.hit.document_uri, "upload://team/printers.md") << alpha;
    EXPECT_THAT(hits->front().hit.document_metadata_json, HasSubstr("运维"));
    o.filter.metadata.clear();
    o.filter.documents = {"*/sub/*"};
    hits = kb->search("docs", "printer driver", o);
    ASSERT_TRUE(hits);
    ASSERT_FALSE(hits->empty());
    for (const SearchHit& h : *hits) EXPECT_THAT(h.hit.document_uri, HasSubstr("printer.txt")) << alpha;
  }
  EXPECT_EQ(kb->search_counters().ann_vector_searches, 0u);
  EXPECT_EQ(kb->search_counters().exact_vector_searches, 4u);
}

TEST_F(KnowledgeBaseTest, HybridSearchScoresEveryCandidateOnBothSides) {
  // "qwerty" is rare, so BM25 puts e.md first; f.md is near the query's vector (one of its two
  // words and little else). With two candidates from each side (top_k), some chunk is missing
  // from the other list unless completed.
  ASSERT_TRUE(kb->put_document("docs", "upload://e.md", "# E\n\nqwerty lion tiger zebra giraffe elephant hippo"));
  ASSERT_TRUE(kb->put_document("docs", "upload://f.md", "# F\n\nprinter"));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(kb->put_document("docs", fmt::format("upload://p{}.md", i), fmt::format("# P\n\nprinter number{}", i)));
  }
  SearchOptions o;
  o.alpha = 0.5;
  o.candidates = 1;
  o.top_k = 2;
  o.mmr_lambda = 1.0;
  auto hits = kb->search("docs", "printer qwerty", o);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 2u);
  for (const SearchHit& h : *hits) {
    EXPECT_TRUE(h.keyword.has_value()) << h.hit.document_uri;
    EXPECT_TRUE(h.semantic.has_value()) << h.hit.document_uri;
    // Both sides are real scores: f.md has "printer" (BM25 > 0), e.md shares a word (cosine > 0).
    EXPECT_GT(*h.keyword + *h.semantic, 0.0) << h.hit.document_uri;
  }
  o.complete_scores = false;
  auto partial = kb->search("docs", "printer qwerty", o);
  ASSERT_TRUE(partial) << partial.error().message;
  ASSERT_EQ(partial->size(), 2u);
  std::size_t one_sided = 0;
  for (const SearchHit& h : *partial) one_sided += (h.keyword.has_value() != h.semantic.has_value());
  EXPECT_GE(one_sided, 1u) << "the fixture must give each side a chunk the other does not find";
}

TEST_F(KnowledgeBaseTest, TheInMemoryKeywordIndexRanksAsFts5Does) {
  ASSERT_TRUE(kb->add_source("docs", (dir / "src").string(), "*.md,*.txt", ""));
  for (const char* q : {"printer driver", "storage configuration", "全文检索", "release notes testing"}) {
    SearchOptions fts, mem;
    fts.alpha = mem.alpha = 0.0;
    fts.top_k = mem.top_k = 10;
    fts.mmr_lambda = mem.mmr_lambda = 1.0;
    fts.keyword_mode = KeywordMode::kFts5;
    mem.keyword_mode = KeywordMode::kMemory;
    auto a = kb->search("docs", q, fts);
    auto b = kb->search("docs", q, mem);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->size(), b->size()) << q;
    for (std::size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].hit.chunk.id, (*b)[i].hit.chunk.id) << q << " #" << i;
      EXPECT_NEAR((*a)[i].score, (*b)[i].score, 1e-9) << q << " #" << i;
    }
  }
  EXPECT_EQ(kb->search_counters().indexed_keyword_searches, 4u);
  // A filtered search cannot use the index.
  SearchOptions filtered;
  filtered.alpha = 0.0;
  filtered.keyword_mode = KeywordMode::kMemory;
  filtered.filter.documents = {"*printer*"};
  ASSERT_TRUE(kb->search("docs", "printer", filtered));
  EXPECT_EQ(kb->search_counters().indexed_keyword_searches, 4u);
  // The index follows deletions (the revision moved).
  ASSERT_TRUE(kb->put_document("docs", "upload://new.md", "# New\n\nA zebra printer."));
  SearchOptions mem;
  mem.alpha = 0.0;
  mem.keyword_mode = KeywordMode::kMemory;
  auto z = kb->search("docs", "zebra", mem);
  ASSERT_TRUE(z);
  ASSERT_EQ(z->size(), 1u);
  EXPECT_EQ(z->front().hit.document_uri, "upload://new.md");
  EXPECT_EQ(default_alpha("static:glove-6b-100d"), 0.1);
  EXPECT_EQ(default_alpha("static:glove-6b-100d-v2"), 0.1);
  EXPECT_EQ(default_alpha("gguf:bge-small"), 0.5);
}

// Prefers texts containing a word, and records how many texts it was asked to score.
class PreferringReranker final : public Reranker {
 public:
  explicit PreferringReranker(std::string word) : word_(std::move(word)) {}
  std::string name() const override { return "test:prefers-" + word_; }
  Result<std::vector<double>> score(const std::string&, std::span<const std::string> texts) override {
    scored += texts.size();
    std::vector<double> out;
    for (const std::string& t : texts) out.push_back(t.find(word_) != std::string::npos ? 5.0 : -5.0);
    return out;
  }
  std::size_t scored = 0;

 private:
  std::string word_;
};

TEST_F(KnowledgeBaseTest, ARerankerDecidesTheOrderOfTheBestCandidates) {
  ASSERT_TRUE(kb->put_document("docs", "upload://a.md", "# A\n\nThe printer driver lives here, printer driver."));
  ASSERT_TRUE(kb->put_document("docs", "upload://b.md", "# B\n\nA note that mentions a printer once, zebra."));
  SearchOptions o;
  o.alpha = 0.0;
  o.top_k = 2;
  o.mmr_lambda = 1.0;
  auto plain = kb->search("docs", "printer driver", o);
  ASSERT_TRUE(plain) << plain.error().message;
  ASSERT_FALSE(plain->empty());
  EXPECT_NE(plain->front().hit.document_uri, "upload://b.md") << "the fixture must test a reordering";
  EXPECT_FALSE(plain->front().rerank.has_value());

  o.rerank = true;
  auto none = kb->search("docs", "printer driver", o);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().param, "rerank");

  PreferringReranker reranker("zebra");
  kb->set_reranker(&reranker);
  o.rerank_candidates = 3;
  auto hits = kb->search("docs", "printer driver", o);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ(hits->front().hit.document_uri, "upload://b.md");
  ASSERT_TRUE(hits->front().rerank.has_value());
  EXPECT_DOUBLE_EQ(*hits->front().rerank, 5.0);
  ASSERT_TRUE((*hits)[1].rerank.has_value());
  EXPECT_DOUBLE_EQ(*(*hits)[1].rerank, -5.0);
  EXPECT_LE(reranker.scored, 3u) << "only rerank_candidates are scored";
  kb->set_reranker(nullptr);
}

TEST_F(KnowledgeBaseTest, KnowledgeBasesOnOtherConnectionsShareOneIndexCache) {
  ASSERT_TRUE(kb->add_source("docs", (dir / "src").string(), "*.md,*.txt", ""));
  auto shared = std::make_shared<VectorIndexCache>((dir / "kb.sqlite").string());
  auto conn_a = open_sqlite_store((dir / "kb.sqlite").string());
  auto conn_b = open_sqlite_store((dir / "kb.sqlite").string());
  ASSERT_TRUE(conn_a && conn_b);
  KnowledgeBase writer(**conn_a, embedder, ChunkerOptions{48, 8}, shared);
  KnowledgeBase reader(**conn_b, embedder, ChunkerOptions{48, 8}, shared);
  SearchOptions ann;
  ann.alpha = 1.0;
  ann.exact_below = 0;
  ASSERT_TRUE(reader.search("docs", "printer", ann));
  ASSERT_TRUE(writer.put_document("docs", "upload://zebra.md", "# Zebra\n\nZebra zebra stripes."));
  // The counting embedder's bags of words: this query has the zebra chunk's exact vector.
  auto hits = reader.search("docs", "Zebra Zebra Zebra zebra stripes", ann);
  ASSERT_TRUE(hits);
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ(hits->front().hit.document_uri, "upload://zebra.md");
  EXPECT_EQ(shared->counters().builds, 1u) << "one index for both";
}

}  // namespace
}  // namespace hearth::knowledge
