// The default embedder (issue #3): GloVe 6B 100-d word vectors (scripts/embeddings.sh builds the
// file at setup), averaged with smooth-inverse-frequency weights, a / (a + p(w)) with p(w) from
// the word's frequency rank (Zipf), so "the" and "of" barely count. L2-normalized. English only:
// Chinese text has no GloVe words and embeds to zeros; keyword search carries it.
//
// Thread-safety: immutable after load(); embed() may run on any number of threads (each passing
// its own TextTokenizer).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "knowledge/text_tokenizer.h"

namespace hearth::knowledge {

// Where setup puts the converted vectors: $HEARTH_STATIC_EMBEDDINGS, else
// $HOME/.cache/hearth/embeddings/glove-6b-100d-v1.bin.
std::string default_static_embeddings_path();

class StaticEmbedder {
 public:
  static Result<std::unique_ptr<StaticEmbedder>> load(const std::string& path);

  int dimensions() const { return dims_; }
  std::size_t vocabulary_size() const { return scales_.size(); }
  static constexpr const char* kName = "static:glove-6b-100d";

  // L2-normalized; all zeros when no word of the text is known.
  std::vector<float> embed(std::string_view text, TextTokenizer& tokenizer) const;
  std::vector<float> embed_words(std::span<const std::string> words) const;

 private:
  StaticEmbedder() = default;
  int dims_ = 0;
  std::string words_;                                  // all words, back to back
  std::unordered_map<std::string_view, std::uint32_t> index_;  // word -> frequency rank
  std::vector<float> scales_;
  std::vector<std::int8_t> values_;                    // rank x dims
  double harmonic_ = 1.0;                              // sum of 1/rank over the vocabulary
};

}  // namespace hearth::knowledge
