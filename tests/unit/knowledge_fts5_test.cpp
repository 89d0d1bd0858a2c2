#include "knowledge/fts5_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

namespace hearth::knowledge {
namespace {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};

class KnowledgeFts5 : public ::testing::Test {
 protected:
  void SetUp() override {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(":memory:", &raw), SQLITE_OK);
    db.reset(raw);
    auto st = register_fts5_tokenizer(db.get());
    ASSERT_TRUE(st) << st.error().message;
    exec("CREATE VIRTUAL TABLE docs USING fts5(body, tokenize = 'hearth')");
    const char* rows[] = {
        "The ROUTER forwards packets between networks.",       // 1
        "我们的数据库支持全文检索和向量检索。",                       // 2
        "Ｆｕｌｌ－ｗｉｄｔｈ letters and １２３ digits.",          // 3
        "Straße names are folded.",                             // 4
        "A router, a switch and another router: router heavy.",  // 5
    };
    for (const char* r : rows) {
      sqlite3_stmt* s = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db.get(), "INSERT INTO docs(body) VALUES (?1)", -1, &s, nullptr), SQLITE_OK);
      sqlite3_bind_text(s, 1, r, -1, SQLITE_STATIC);
      ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
      sqlite3_finalize(s);
    }
  }

  void exec(const char* sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db.get(), sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  }

  // Row ids matching `query` (an FTS5 query), best BM25 first.
  std::vector<int> search(const std::string& query) {
    std::vector<int> ids;
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.get(), "SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY bm25(docs)", -1, &s,
                                 nullptr),
              SQLITE_OK);
    sqlite3_bind_text(s, 1, query.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(s) == SQLITE_ROW) ids.push_back(sqlite3_column_int(s, 0));
    sqlite3_finalize(s);
    return ids;
  }

  std::unique_ptr<sqlite3, DbClose> db;
};

TEST_F(KnowledgeFts5, EnglishIsCaseInsensitiveAndRankedByBm25) {
  EXPECT_THAT(search("\"router\""), ::testing::ElementsAre(5, 1)) << "three mentions rank first";
  EXPECT_THAT(search("\"ROUTER\""), ::testing::ElementsAre(5, 1));
  EXPECT_THAT(search("\"STRASSE\""), ::testing::ElementsAre(4)) << "case folding, not just lower case";
  EXPECT_TRUE(search("\"bridge\"").empty());
}

TEST_F(KnowledgeFts5, ChineseWordsMatch) {
  EXPECT_THAT(search("\"检索\""), ::testing::ElementsAre(2));
  EXPECT_THAT(search("\"数据\""), ::testing::ElementsAre(2));
  EXPECT_THAT(search("\"全文检索\""), ::testing::ElementsAre(2)) << "a phrase of two words";
  EXPECT_TRUE(search("\"图书馆\"").empty());
}

TEST_F(KnowledgeFts5, FullWidthFormsMatchTheirPlainForms) {
  EXPECT_THAT(search("\"full\" AND \"123\""), ::testing::ElementsAre(3));
  EXPECT_THAT(search("\"ｒｏｕｔｅｒ\""), ::testing::ElementsAre(5, 1));
}

TEST_F(KnowledgeFts5, HighlightUsesOriginalOffsets) {
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.get(), "SELECT highlight(docs, 0, '[', ']') FROM docs WHERE docs MATCH '\"数据\"'",
                               -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))), "我们的[数据]库支持全文检索和向量检索。");
  sqlite3_finalize(s);
}

TEST_F(KnowledgeFts5, TokenizerRejectsOptions) {
  char* err = nullptr;
  EXPECT_NE(sqlite3_exec(db.get(), "CREATE VIRTUAL TABLE bad USING fts5(body, tokenize = 'hearth extra')", nullptr,
                         nullptr, &err),
            SQLITE_OK);
  sqlite3_free(err);
}

}  // namespace
}  // namespace hearth::knowledge
