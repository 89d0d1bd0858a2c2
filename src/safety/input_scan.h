// Internals of safety/input_rules: the folded view of a text (with the way back to the original
// bytes), the phrase automaton and the built-in heuristics. Not part of the library's API.
// Thread-safety: FoldedText is a value; PhraseMatcher is immutable after finish() and its const
// methods may run on many threads at once; the heuristic functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::safety::detail {

struct Span {
  std::size_t begin, end;
  bool operator==(const Span&) const = default;
};

// Sorts spans and merges those that overlap or touch.
void merge_spans(std::vector<Span>& spans);

// The text as phrases and heuristics see it (see input_rules.h). Every byte of the folded text
// comes from one character of the original (or one run of whitespace), whose first byte it keeps
// (5 bytes of memory per folded byte); an invalid UTF-8 byte reads as the byte 0xFF, which no
// phrase or pattern contains. Only the first 4 GiB of a text are folded. The original text must
// outlive the FoldedText.
class FoldedText {
 public:
  explicit FoldedText(std::string_view text);

  std::string_view view() const { return folded_; }
  // The original byte range of folded bytes [begin, end), begin < end: whole characters.
  Span to_source(std::size_t begin, std::size_t end) const { return {src_[begin], unit_end(src_[end - 1])}; }

 private:
  void emit(char32_t cp, std::size_t begin);
  // The end of the character at `at`, or of the whitespace run starting there.
  std::size_t unit_end(std::size_t at) const;

  std::string_view text_;
  std::string folded_;
  std::vector<std::uint32_t> src_;
};

// A phrase as the matcher stores it: folded like a text, then trimmed, newlines as spaces. Empty if
// nothing but whitespace and ignorable characters.
std::string fold_phrase(std::string_view phrase);

// Aho-Corasick over the bytes of folded phrases. find() reports, for every position where some
// phrase ends, the longest phrase ending there (whose span covers every shorter one), so the union
// of the spans is the union of all occurrences; linear in the text plus the spans reported.
class PhraseMatcher {
 public:
  void add(std::string_view folded_phrase);  // non-empty
  void finish();                             // after the last add(), before find()
  bool empty() const { return nodes_.size() <= 1; }
  // Spans in the folded text, in order of their ends; stops after `limit`.
  void find(std::string_view folded, std::size_t limit, std::vector<Span>& out) const;

 private:
  struct Node {
    std::int32_t fail = 0;
    std::uint32_t own = 0;   // length of the phrase ending here, 0 if none
    std::uint32_t best = 0;  // longest phrase ending here or at any fail ancestor
    std::uint32_t edge_begin = 0, edge_end = 0;
  };
  std::int32_t child(std::int32_t node, unsigned char c) const;

  std::vector<Node> nodes_{Node{}};
  std::vector<std::vector<std::pair<unsigned char, std::int32_t>>> building_{{}};
  std::vector<unsigned char> edge_byte_;
  std::vector<std::int32_t> edge_to_;
};

enum class Heuristic { kPromptInjection, kSqlInjection };

struct HeuristicResult {
  double score = 0;
  std::vector<std::size_t> signals;  // indexes into the heuristic's table, ascending
};
// Scores the folded text: the summed weight of the distinct signals that match.
HeuristicResult score_heuristic(Heuristic h, const FoldedText& text);
// Appends the original-text spans of the matches of `signals` (up to `limit` in all).
void heuristic_spans(Heuristic h, const FoldedText& text, const std::vector<std::size_t>& signals, std::size_t limit,
                     std::vector<Span>& out);
const char* heuristic_signal_name(Heuristic h, std::size_t signal);
// Built-in patterns that failed to compile ("name: error"); empty unless the tables have a bug.
std::vector<std::string> heuristic_errors();

}  // namespace hearth::safety::detail
