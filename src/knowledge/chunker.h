// Structure-aware chunking of extracted document text, for retrieval (issue #3).
//
// Input: a document as a sequence of blocks (headings and paragraphs, in order), as the format
// extractors produce them. Output: chunks of about `target_tokens` tokens that never cross a
// heading, built from whole paragraphs where they fit, else whole sentences, else (a sentence
// longer than a chunk, such as Chinese text without punctuation) pieces cut on character
// boundaries. Consecutive chunks of one section overlap by about `overlap_tokens` tokens of
// whole sentences, so a fact cut by a boundary is whole in one of them.
//
// Sentences end at Chinese/Japanese full-width 。！？；… (plus closing quotes or brackets) and at
// ASCII . ! ? followed by white space, except after common abbreviations and single-letter
// initials.
//
// Thread-safety: pure functions; a Chunker is immutable after construction.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::knowledge {

struct Block {
  enum class Kind { kHeading, kParagraph };
  Kind kind = Kind::kParagraph;
  int level = 0;     // headings: 1 = top level
  std::string text;  // UTF-8
  int page = 0;      // 1-based page number where the format has pages; 0 unknown
};

struct Chunk {
  std::string text;
  std::vector<std::string> heading_path;  // enclosing headings, outermost first
  std::size_t char_start = 0;  // Unicode code points into the document's text (blocks joined by "\n\n")
  std::size_t char_end = 0;    // exclusive
  int page = 0;                // page of the chunk's first character; 0 unknown
  std::size_t tokens = 0;      // as counted by the chunker's TokenCounter
};

// Counts tokens in UTF-8 text. The default estimates a BPE tokenizer's count without a model:
// see estimate_tokens().
using TokenCounter = std::function<std::size_t(std::string_view)>;

// About one token per 4 ASCII letters or digits of a word (at least one per word), one per
// CJK character, one per other symbol. Within ~25 % of the Qwen2/Llama 3 tokenizers on English
// and Chinese prose; chunk sizes need no more.
std::size_t estimate_tokens(std::string_view text);

// Splits one paragraph into sentences (each keeps its trailing punctuation; white space between
// sentences is dropped).
std::vector<std::string_view> split_sentences(std::string_view text);

struct ChunkerOptions {
  std::size_t target_tokens = 256;
  std::size_t overlap_tokens = 32;  // < target_tokens
};

class Chunker {
 public:
  explicit Chunker(ChunkerOptions options = {}, TokenCounter count = estimate_tokens);
  // Invalid UTF-8 in a block is replaced by U+FFFD first; offsets count the replaced text.
  std::vector<Chunk> chunk(const std::vector<Block>& blocks) const;

 private:
  ChunkerOptions opt_;
  TokenCounter count_;
};

}  // namespace hearth::knowledge
