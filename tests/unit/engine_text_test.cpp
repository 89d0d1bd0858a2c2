// The streaming text pipeline: UTF-8 assembly, stop strings, reasoning splitting.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/utf8.h"
#include "engine/reasoning_splitter.h"
#include "engine/stop_matcher.h"

using namespace hearth;

// ---- UTF-8 ----

TEST(Utf8Assembler, HoldsIncompleteCharacterUntilComplete) {
  Utf8Assembler a;
  const std::string han = "\xE4\xBD\xA0";  // 你
  EXPECT_EQ(a.push(han.substr(0, 1)), "");
  EXPECT_EQ(a.push(han.substr(1, 1)), "");
  EXPECT_EQ(a.push(han.substr(2, 1) + "a"), han + "a");
  EXPECT_FALSE(a.has_pending());
}

TEST(Utf8Assembler, EveryByteSplitOfMixedTextReassembles) {
  const std::string text = "Hello 你好, world 🌍! Ω≈ç√ 中文";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Utf8Assembler a;
    std::string out = a.push(text.substr(0, cut));
    EXPECT_TRUE(utf8_is_valid(out)) << "cut " << cut;
    out += a.push(text.substr(cut));
    out += a.flush();
    EXPECT_EQ(out, text) << "cut " << cut;
  }
}

TEST(Utf8Assembler, ByteAtATimeNeverEmitsPartialCharacters) {
  const std::string text = "日本語テキスト and 😀 emoji";
  Utf8Assembler a;
  std::string out;
  for (char c : text) {
    std::string piece = a.push(std::string(1, c));
    EXPECT_TRUE(utf8_is_valid(piece));
    out += piece;
  }
  EXPECT_EQ(out + a.flush(), text);
}

TEST(Utf8Assembler, InvalidBytesBecomeReplacementCharacters) {
  Utf8Assembler a;
  EXPECT_EQ(a.push("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(a.push("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong encoding
  EXPECT_EQ(a.push("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST(Utf8Assembler, TruncatedTailAtEndIsReplaced) {
  Utf8Assembler a;
  EXPECT_EQ(a.push("x\xE4\xBD"), "x");
  EXPECT_EQ(a.flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8, SafePrefixBacksUpToCharacterBoundary) {
  const std::string s = "a你b";
  EXPECT_EQ(utf8_safe_prefix(s, 2), 1u);
  EXPECT_EQ(utf8_safe_prefix(s, 3), 1u);
  EXPECT_EQ(utf8_safe_prefix(s, 4), 4u);
  EXPECT_EQ(utf8_safe_prefix(s, 99), s.size());
}

// ---- stop strings ----

namespace {
struct StopRun {
  std::string text;
  bool stopped = false;
};
StopRun run_stop(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
  StopMatcher m(std::move(stops));
  StopRun r;
  for (const auto& p : pieces) {
    auto out = m.push(p);
    r.text += out.emit;
    if (out.stopped) {
      r.stopped = true;
      return r;
    }
  }
  r.text += m.flush();
  return r;
}
}  // namespace

TEST(StopMatcher, NoStopsPassesThrough) {
  auto r = run_stop({}, {"ab", "cd"});
  EXPECT_EQ(r.text, "abcd");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, StopInsideOnePieceIsNotEmitted) {
  auto r = run_stop({"END"}, {"hello END world"});
  EXPECT_EQ(r.text, "hello ");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, StopAcrossTokenBoundaries) {
  auto r = run_stop({"</answer>"}, {"42 </", "ans", "wer> tail"});
  EXPECT_EQ(r.text, "42 ");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, PartialMatchThatFailsIsReleased) {
  StopMatcher m({"STOP"});
  auto a = m.push("abc ST");
  EXPECT_EQ(a.emit, "abc ");
  EXPECT_EQ(m.held_bytes(), 2u);
  auto b = m.push("ART");
  EXPECT_EQ(b.emit, "START");
  EXPECT_FALSE(b.stopped);
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  auto r = run_stop({"world", "lo w"}, {"hello world"});
  EXPECT_EQ(r.text, "hel");
}

TEST(StopMatcher, HeldTextIsFlushedAtEnd) {
  auto r = run_stop({"###"}, {"value #", "#"});
  EXPECT_EQ(r.text, "value ##");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, ChineseStopStringAcrossPieces) {
  auto r = run_stop({"结束"}, {"你好", "结", "束了"});
  EXPECT_EQ(r.text, "你好");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, EverySplitOfAStreamGivesTheSameResult) {
  const std::string text = "The answer is 42.\nUser: next";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    auto r = run_stop({"\nUser:"}, {text.substr(0, cut), text.substr(cut)});
    EXPECT_EQ(r.text, "The answer is 42.") << cut;
    EXPECT_TRUE(r.stopped) << cut;
  }
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  auto r = run_stop({""}, {"abc"});
  EXPECT_EQ(r.text, "abc");
}

// ---- reasoning ----

namespace {
ReasoningSplitter::Delta split_all(ReasoningSplitter s, const std::vector<std::string>& pieces) {
  ReasoningSplitter::Delta total;
  for (const auto& p : pieces) {
    auto d = s.push(p);
    total.reasoning += d.reasoning;
    total.content += d.content;
  }
  auto d = s.flush();
  total.reasoning += d.reasoning;
  total.content += d.content;
  return total;
}
}  // namespace

TEST(ReasoningSplitter, PlainContentWithoutThinkBlock) {
  auto d = split_all(ReasoningSplitter(false), {"Hello", " there"});
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Hello there");
}

TEST(ReasoningSplitter, ThinkBlockOpenedByTheModel) {
  auto d = split_all(ReasoningSplitter(false), {"<think>\nLet me see.\n</think>\n\nThe answer is 4."});
  EXPECT_EQ(d.reasoning, "Let me see.");
  EXPECT_EQ(d.content, "The answer is 4.");
}

TEST(ReasoningSplitter, PromptOpenedTheBlock) {
  auto d = split_all(ReasoningSplitter(true), {"2+2 is", " 4", "</think>", "Four."});
  EXPECT_EQ(d.reasoning, "2+2 is 4");
  EXPECT_EQ(d.content, "Four.");
}

TEST(ReasoningSplitter, TagsSplitAcrossEveryBoundary) {
  const std::string text = "<think>hmm, 想一想</think>答案是四";
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); b += 3) {
      auto d = split_all(ReasoningSplitter(false), {text.substr(0, a), text.substr(a, b - a), text.substr(b)});
      EXPECT_EQ(d.reasoning, "hmm, 想一想") << a << "," << b;
      EXPECT_EQ(d.content, "答案是四") << a << "," << b;
    }
  }
}

TEST(ReasoningSplitter, UnterminatedThinkingIsAllReasoning) {
  auto d = split_all(ReasoningSplitter(true), {"still thinking <", "/thi"});
  EXPECT_EQ(d.reasoning, "still thinking </thi");
  EXPECT_EQ(d.content, "");
}

TEST(ReasoningSplitter, LookalikeTagIsContent) {
  auto d = split_all(ReasoningSplitter(false), {"<thinking> is not the tag"});
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "<thinking> is not the tag");
}

TEST(ReasoningSplitter, ThinkTagLaterInContentIsKeptAsContent) {
  auto d = split_all(ReasoningSplitter(false), {"Answer first <think>x</think>"});
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Answer first <think>x</think>");
}

TEST(ReasoningSplitter, StreamsReasoningIncrementally) {
  ReasoningSplitter s(true);
  EXPECT_EQ(s.push("step one").reasoning, "step one");
  EXPECT_EQ(s.push(" step two").reasoning, " step two");
  auto d = s.push("</think>done");
  EXPECT_EQ(d.content, "done");
  EXPECT_FALSE(s.in_reasoning());
}
