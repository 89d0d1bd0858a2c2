#include "knowledge/chunker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth::knowledge {
namespace {

using ::testing::ElementsAre;

Block heading(int level, std::string text) { return {Block::Kind::kHeading, level, std::move(text), 0}; }
Block para(std::string text, int page = 0) { return {Block::Kind::kParagraph, 0, std::move(text), page}; }

std::vector<std::string> strings(const std::vector<std::string_view>& v) { return {v.begin(), v.end()}; }

// The document text the offsets refer to, as code points.
std::u32string doc_text(const std::vector<Block>& blocks) {
  std::string joined;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i) joined += "\n\n";
    joined += blocks[i].text;
  }
  std::u32string out;
  for (size_t i = 0; i < joined.size();) {
    const auto b = static_cast<unsigned char>(joined[i]);
    const size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    char32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(joined[i + k]) & 0x3F);
    out += cp;
    i += len;
  }
  return out;
}

std::u32string to_u32(const std::string& s) { return doc_text({para(s)}); }

TEST(KnowledgeTokens, EstimatesEnglishChineseAndSymbols) {
  EXPECT_EQ(estimate_tokens(""), 0u);
  EXPECT_EQ(estimate_tokens("   \n"), 0u);
  EXPECT_EQ(estimate_tokens("a"), 1u);
  EXPECT_EQ(estimate_tokens("the cat"), 2u);
  EXPECT_EQ(estimate_tokens("internationalization"), 5u);  // 20 letters
  EXPECT_EQ(estimate_tokens("你好，世界"), 5u);             // 4 characters + a full-width comma
  EXPECT_EQ(estimate_tokens("GPU内存"), 3u);                // one word + 2 characters
  EXPECT_EQ(estimate_tokens("x = 1;"), 4u);
  EXPECT_EQ(estimate_tokens("café déjà"), 2u) << "accented letters belong to words";
}

TEST(KnowledgeSentences, EnglishRespectsAbbreviationsNumbersAndInitials) {
  EXPECT_THAT(strings(split_sentences(
                  "Dr. Smith went to Washington. He arrived at 3.15 p.m. on Monday! Did he? Yes.")),
              ElementsAre("Dr. Smith went to Washington.", "He arrived at 3.15 p.m. on Monday!", "Did he?", "Yes."));
  EXPECT_THAT(strings(split_sentences("Use a tool, e.g. a hammer. J. R. R. Tolkien wrote it.")),
              ElementsAre("Use a tool, e.g. a hammer.", "J. R. R. Tolkien wrote it."));
  EXPECT_THAT(strings(split_sentences("He said \"stop.\" Then he left...  Really?!")),
              ElementsAre("He said \"stop.\"", "Then he left...", "Really?!"));
  EXPECT_THAT(strings(split_sentences("no final punctuation")), ElementsAre("no final punctuation"));
  EXPECT_TRUE(split_sentences("  ").empty());
}

TEST(KnowledgeSentences, ChineseFullWidthEnds) {
  EXPECT_THAT(strings(split_sentences("今天天气很好。我们去公园吧！你去吗？好的；走吧")),
              ElementsAre("今天天气很好。", "我们去公园吧！", "你去吗？", "好的；", "走吧"));
  EXPECT_THAT(strings(split_sentences("他说：“你好。”然后走了。")), ElementsAre("他说：“你好。”", "然后走了。"));
  EXPECT_THAT(strings(split_sentences("等等……真的吗？！")), ElementsAre("等等……", "真的吗？！"));
  EXPECT_THAT(strings(split_sentences("Hearth 支持中文。It also speaks English. 很好！")),
              ElementsAre("Hearth 支持中文。", "It also speaks English.", "很好！"));
}

TEST(KnowledgeChunker, RejectsBadOptions) {
  EXPECT_THROW(Chunker({0, 0}), std::invalid_argument);
  EXPECT_THROW(Chunker({64, 64}), std::invalid_argument);
}

TEST(KnowledgeChunker, HeadingsSetThePathAndAreNeverCrossed) {
  const std::vector<Block> blocks = {
      heading(1, "Guide"),   para("Intro text."),
      heading(2, "Install"), para("Run the installer."),
      heading(2, "Use"),     para("Start it."),
      heading(1, "Appendix"), para("More."),
  };
  const auto chunks = Chunker({64, 8}).chunk(blocks);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].text, "Intro text.");
  EXPECT_THAT(chunks[0].heading_path, ElementsAre("Guide"));
  EXPECT_THAT(chunks[1].heading_path, ElementsAre("Guide", "Install"));
  EXPECT_EQ(chunks[1].text, "Run the installer.");
  EXPECT_THAT(chunks[2].heading_path, ElementsAre("Guide", "Use"));
  EXPECT_THAT(chunks[3].heading_path, ElementsAre("Appendix"));
  EXPECT_EQ(chunks[3].text, "More.");
}

TEST(KnowledgeChunker, SmallParagraphsShareAChunkAndOffsetsPointIntoTheDocument) {
  const std::vector<Block> blocks = {heading(1, "标题"), para("第一段。", 3), para("第二段，还有更多。", 3),
                                     para("Third paragraph.", 4)};
  const auto chunks = Chunker({64, 8}).chunk(blocks);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "第一段。\n\n第二段，还有更多。\n\nThird paragraph.");
  EXPECT_EQ(chunks[0].page, 3);
  const std::u32string doc = doc_text(blocks);
  EXPECT_EQ(doc.substr(chunks[0].char_start, chunks[0].char_end - chunks[0].char_start), to_u32(chunks[0].text));
  EXPECT_EQ(chunks[0].char_start, 4u) << "after the 2-character heading and the separator";
}

// Many paragraphs of several sentences: every chunk within the target, consecutive chunks of one
// section overlapping, every sentence present, and every offset exact.
TEST(KnowledgeChunker, LongSectionsSplitWithinTargetWithOverlapAndExactOffsets) {
  std::vector<Block> blocks = {heading(1, "Shipments")};
  std::vector<std::string> sentences;
  for (int p = 0; p < 12; ++p) {
    std::string text;
    for (int s = 0; s < 6; ++s) {
      const std::string sentence = "Shipment " + std::to_string(p * 6 + s) + " arrived at dock " +
                                   std::to_string(s) + " with " + std::to_string(p + s) + " crates of parts.";
      sentences.push_back(sentence);
      text += (s ? " " : "") + sentence;
    }
    blocks.push_back(para(text, p / 4 + 1));
  }
  const ChunkerOptions opt{60, 20};
  const auto chunks = Chunker(opt).chunk(blocks);
  ASSERT_GT(chunks.size(), 5u);
  const std::u32string doc = doc_text(blocks);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    SCOPED_TRACE(i);
    EXPECT_LE(c.tokens, opt.target_tokens);
    EXPECT_EQ(c.tokens, estimate_tokens(c.text));
    EXPECT_THAT(c.heading_path, ElementsAre("Shipments"));
    EXPECT_EQ(doc.substr(c.char_start, c.char_end - c.char_start), to_u32(c.text));
    if (i > 0) {
      EXPECT_LT(chunks[i - 1].char_start, c.char_start) << "chunks move forward";
      EXPECT_LT(c.char_start, chunks[i - 1].char_end) << "consecutive chunks overlap";
      EXPECT_GT(c.char_end, chunks[i - 1].char_end);
    }
  }
  for (const std::string& s : sentences) {
    bool found = false;
    for (const Chunk& c : chunks) found = found || c.text.find(s) != std::string::npos;
    EXPECT_TRUE(found) << s;
  }
  EXPECT_EQ(chunks.front().page, 1);
  EXPECT_EQ(chunks.back().page, 3);
}

TEST(KnowledgeChunker, ChineseWithoutPunctuationIsCutOnCharacterBoundaries) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += i % 2 ? "汉" : "字";
  const std::vector<Block> blocks = {para(text)};
  const auto chunks = Chunker({64, 8}).chunk(blocks);
  ASSERT_GE(chunks.size(), 8u);
  size_t covered = 0;
  for (const Chunk& c : chunks) {
    EXPECT_LE(c.tokens, 64u);
    EXPECT_GT(c.tokens, 32u) << "fragments use most of the target";
    EXPECT_EQ(c.char_start, covered) << "fragments of one sentence follow each other";
    covered = c.char_end;
    EXPECT_EQ(c.text.size() % 3, 0u) << "whole 3-byte characters only";
  }
  EXPECT_EQ(covered, 500u);
}

TEST(KnowledgeChunker, ChineseSentencesPackAndOverlap) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "第" + std::to_string(i) + "号仓库今天收到了一批零件。";
  const auto chunks = Chunker({48, 16}).chunk({para(text)});
  ASSERT_GT(chunks.size(), 3u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].tokens, 48u);
    // Chunks start and end on sentence ends.
    EXPECT_EQ(chunks[i].text.substr(chunks[i].text.size() - 3), "。");
    if (i > 0) {
      EXPECT_LT(chunks[i].char_start, chunks[i - 1].char_end);
    }
  }
}

TEST(KnowledgeChunker, CustomTokenCounterAndEmptyInput) {
  const Chunker by_words({4, 1}, [](std::string_view s) {
    size_t n = 0;
    bool in = false;
    for (char c : s) {
      const bool w = c != ' ';
      n += w && !in;
      in = w;
    }
    return n;
  });
  const auto chunks = by_words.chunk({para("One two three. Four five six. Seven eight.")});
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].text, "One two three.");
  EXPECT_EQ(chunks[1].text, "Four five six.");
  EXPECT_EQ(chunks[2].text, "Seven eight.");
  EXPECT_TRUE(by_words.chunk({}).empty());
  EXPECT_TRUE(by_words.chunk({heading(1, "Only a heading"), para("   ")}).empty());
}

}  // namespace
}  // namespace hearth::knowledge
