#include "knowledge/text_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hearth::knowledge {
namespace {

using ::testing::ElementsAre;

class KnowledgeTokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TextTokenizer::create();
    ASSERT_TRUE(t) << t.error().message;
    tok = std::move(*t);
  }
  std::unique_ptr<TextTokenizer> tok;
};

TEST_F(KnowledgeTokenizer, EnglishWordsAreCaseFoldedWithoutPunctuation) {
  EXPECT_THAT(tok->words("The Router's ROUTER router, v2.0!"),
              ElementsAre("the", "router's", "router", "router", "v2.0"));
  EXPECT_THAT(tok->words("e-mail x_y 3.14 1,000"), ElementsAre("e", "mail", "x_y", "3.14", "1,000"));
  EXPECT_THAT(tok->words("Straße"), ElementsAre("strasse")) << "full case folding";
  EXPECT_TRUE(tok->words(" ,.;!? \n").empty());
  EXPECT_TRUE(tok->words("").empty());
}

TEST_F(KnowledgeTokenizer, NfkcMakesFullWidthFormsPlain) {
  EXPECT_THAT(tok->words("Ｒｏｕｔｅｒ １２３"), ElementsAre("router", "123"));
  EXPECT_THAT(tok->words("ﬁle"), ElementsAre("file")) << "the fi ligature";
}

TEST_F(KnowledgeTokenizer, ChineseIsSegmentedIntoWords) {
  EXPECT_THAT(tok->words("中华人民共和国的首都是北京"),
              ElementsAre("中华", "人民", "共和国", "的", "首都", "是", "北京"));
  EXPECT_THAT(tok->words("我们的数据库支持全文检索。"),
              ElementsAre("我们", "的", "数据", "库", "支持", "全文", "检索"));
  EXPECT_THAT(tok->words("Hearth 支持 GPU 推理"), ElementsAre("hearth", "支持", "gpu", "推理"));
  // Words missing from ICU's dictionary come out one character at a time: still searchable.
  EXPECT_THAT(tok->words("Linux内核"), ElementsAre("linux", "内", "核"));
}

TEST_F(KnowledgeTokenizer, OffsetsAreBytesOfTheOriginalText) {
  const std::string text = "Ｒｏｕｔｅｒ，数据库 😀 OK";
  const auto tokens = tok->tokenize(text);
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(text.substr(tokens[0].begin, tokens[0].end - tokens[0].begin), "Ｒｏｕｔｅｒ");
  EXPECT_EQ(tokens[0].text, "router");
  EXPECT_EQ(text.substr(tokens[1].begin, tokens[1].end - tokens[1].begin), "数据");
  EXPECT_EQ(text.substr(tokens[2].begin, tokens[2].end - tokens[2].begin), "库");
  EXPECT_EQ(text.substr(tokens[3].begin, tokens[3].end - tokens[3].begin), "OK") << "after a 4-byte emoji";
  EXPECT_EQ(tokens[3].text, "ok");
}

TEST_F(KnowledgeTokenizer, InvalidUtf8IsNeverAToken) {
  const std::string text = "abc\xff def \xe4\xbd";
  const auto tokens = tok->tokenize(text);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0].text, "abc");
  EXPECT_EQ(tokens[1].text, "def");
  EXPECT_EQ(tokens[1].begin, 5u);
  EXPECT_EQ(tokens[1].end, 8u);
}

TEST_F(KnowledgeTokenizer, ReusableAcrossCalls) {
  EXPECT_THAT(tok->words("first call"), ElementsAre("first", "call"));
  EXPECT_THAT(tok->words("第二次"), ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(tok->words("first call"), ElementsAre("first", "call"));
}

}  // namespace
}  // namespace hearth::knowledge
