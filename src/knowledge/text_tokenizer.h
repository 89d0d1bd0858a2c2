// Word tokens for keyword search (BM25), for Chinese and English alike (issue #3).
//
// Words are found with ICU's word break rules (dictionary-based segmentation for Chinese and
// Japanese, Unicode rules elsewhere), then each word is normalized with NFKC and case folding, so
// "Ｒｏｕｔｅｒ", "ROUTER" and "router" are one term and full-width digits match ASCII ones.
// Punctuation and white space are not tokens. Offsets are bytes into the original UTF-8 text, as
// SQLite's FTS5 tokenizer interface wants them.
//
// Thread-safety: a TextTokenizer is not shared between threads (ICU break iterators keep state);
// make one per thread. Construction costs about a millisecond.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hearth::knowledge {

struct TextToken {
  std::string text;          // normalized (NFKC + case folded)
  std::size_t begin = 0;     // bytes into the input
  std::size_t end = 0;       // exclusive
};

class TextTokenizer {
 public:
  static Result<std::unique_ptr<TextTokenizer>> create();
  ~TextTokenizer();
  TextTokenizer(const TextTokenizer&) = delete;
  TextTokenizer& operator=(const TextTokenizer&) = delete;

  // Invalid UTF-8 is read as U+FFFD (never a token).
  std::vector<TextToken> tokenize(std::string_view text);
  // Just the normalized words, for queries.
  std::vector<std::string> words(std::string_view text);

 private:
  struct Impl;
  explicit TextTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::knowledge
