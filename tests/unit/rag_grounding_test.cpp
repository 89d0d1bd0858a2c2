// Grounding: numbered sources in the prompt, citations that match them, budgets, and where the
// sources go in the conversation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "rag/grounding.h"

using namespace hearth;
using namespace hearth::rag;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

RetrievedChunk hit(std::int64_t id, std::string uri, std::string title, std::string heading, std::string text,
                   double score, int page = 0) {
  RetrievedChunk r;
  r.collection = "manuals";
  r.hit.hit.document_uri = std::move(uri);
  r.hit.hit.document_title = std::move(title);
  r.hit.hit.chunk.id = id;
  r.hit.hit.chunk.heading_path = std::move(heading);
  r.hit.hit.chunk.text = std::move(text);
  r.hit.hit.chunk.page = page;
  r.hit.hit.chunk.char_start = id * 10;
  r.hit.hit.chunk.char_end = id * 10 + 5;
  r.hit.score = score;
  return r;
}

TEST(Grounding, NumbersSourcesAndCitationsAlike) {
  const Grounding g = build_grounding({hit(7, "/docs/pump.md", "Pump manual", "Maintenance > Seals", "Replace seals yearly.", 0.9),
                                       hit(3, "upload://规章.pdf", "规章", "", "每年检查一次。", 0.5, 4)});
  ASSERT_EQ(g.citations.size(), 2u);
  EXPECT_EQ(g.citations[0].index, 1);
  EXPECT_EQ(g.citations[0].document, "/docs/pump.md");
  EXPECT_EQ(g.citations[0].chunk_id, 7);
  EXPECT_EQ(g.citations[0].char_start, 70);
  EXPECT_EQ(g.citations[1].index, 2);
  EXPECT_EQ(g.citations[1].page, 4);
  EXPECT_THAT(g.instructions, HasSubstr("[1] Pump manual > Maintenance > Seals\nReplace seals yearly."));
  EXPECT_THAT(g.instructions, HasSubstr("[2] 规章 (page 4)\n每年检查一次。"));
  EXPECT_THAT(g.instructions, HasSubstr("cite it as [n]"));
}

TEST(Grounding, NoHitsSaysSoAndCitesNothing) {
  const Grounding g = build_grounding({});
  EXPECT_TRUE(g.citations.empty());
  EXPECT_THAT(g.instructions, HasSubstr("do not cover"));
}

TEST(Grounding, BudgetsCutOnCharacterBoundaries) {
  std::string chinese;
  for (int i = 0; i < 400; ++i) chinese += "知";  // 3 bytes each
  const Grounding g = build_grounding({hit(1, "a", "A", "", chinese, 1)}, 100, 12000);
  ASSERT_EQ(g.citations.size(), 1u);
  EXPECT_LE(g.citations[0].text.size(), 100u + 4);
  EXPECT_EQ(g.citations[0].text.substr(0, 99), chinese.substr(0, 99));  // 33 whole characters
  EXPECT_THAT(g.citations[0].text, HasSubstr(" ..."));
  // The total budget drops later sources, but never the first.
  std::vector<RetrievedChunk> many;
  for (int i = 0; i < 10; ++i) many.push_back(hit(i, fmt::format("d{}", i), "T", "", std::string(500, 'x'), 1));
  const Grounding small = build_grounding(many, 2000, 1200);
  EXPECT_EQ(small.citations.size(), 2u);
  EXPECT_THAT(small.instructions, Not(HasSubstr("[3] T")));
}

TEST(Grounding, GoesIntoTheSystemMessage) {
  const Grounding g = build_grounding({hit(1, "a", "A", "", "text", 1)});
  std::vector<ChatMessage> plain = {{"user", "q1", "", "", ""}, {"assistant", "a1", "", "", ""}, {"user", "q2", "", "", ""}};
  apply_grounding(plain, g);
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain[0].role, "system");
  EXPECT_EQ(plain[0].content, g.instructions);
  std::vector<ChatMessage> with_system = {{"system", "You are terse.", "", "", ""}, {"user", "q", "", "", ""}};
  apply_grounding(with_system, g);
  ASSERT_EQ(with_system.size(), 2u);
  EXPECT_THAT(with_system[0].content, HasSubstr("You are terse.\n\nAnswer the question"));
}

TEST(Grounding, QueryIsTheLastUserMessage) {
  EXPECT_EQ(retrieval_query({{"user", "first", "", "", ""}, {"assistant", "x", "", "", ""}, {"user", "second", "", "", ""}}),
            "second");
  EXPECT_EQ(retrieval_query({{"system", "s", "", "", ""}}), "");
}

}  // namespace
