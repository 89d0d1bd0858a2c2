// The default embedder (issue #3): GloVe 6B 100-d word vectors (scripts/embeddings.sh builds the
// file at setup), averaged with smooth-inverse-frequency weights, a / (a + p(w)) with p(w) from
// the word's frequency rank (Zipf), so "the" and "of" barely count. L2-normalized. English only:
// Chinese text has no GloVe words and embeds to zeros; keyword search carries it.
//
// Two versions, named in a collection's embedder spec so that a collection's queries are always
// embedded as its chunks were:
//   v2, "static:glove-6b-100d-v2" (the default): each word vector less the mean of the 50,000 most
//       frequent words' vectors and less its part along their top 2 principal directions
//       ("all-but-the-top", Mu & Viswanath, ICLR 2018). Those directions mostly encode frequency,
//       not meaning; taking them out raised vector-only MRR@10 on the linux-doc title sets from
//       7.4 to 10.5 (title masked) and from 16.9 to 21.9 (title indexed), dev queries.
//   v1, "static:glove-6b-100d": the plain weighted average, for collections made before v2.
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

enum class StaticVersion { kAverage = 1, kAllButTheTop = 2 };

class StaticEmbedder {
 public:
  // Loads the file and computes the mean and common directions (about 0.2 s).
  static Result<std::unique_ptr<StaticEmbedder>> load(const std::string& path);

  int dimensions() const { return dims_; }
  std::size_t vocabulary_size() const { return scales_.size(); }
  static constexpr const char* kName = "static:glove-6b-100d-v2";    // the default version
  static constexpr const char* kNameV1 = "static:glove-6b-100d";
  static const char* name_of(StaticVersion v) { return v == StaticVersion::kAverage ? kNameV1 : kName; }

  // L2-normalized; all zeros when no word of the text is known.
  std::vector<float> embed(std::string_view text, TextTokenizer& tokenizer,
                           StaticVersion version = StaticVersion::kAllButTheTop) const;
  std::vector<float> embed_words(std::span<const std::string> words,
                                 StaticVersion version = StaticVersion::kAllButTheTop) const;

 private:
  StaticEmbedder() = default;
  void find_common_directions(std::size_t words, int count);
  std::vector<double> mean_;                           // of the most frequent words' vectors
  std::vector<std::vector<double>> common_;            // their top principal directions
  int dims_ = 0;
  std::string words_;                                  // all words, back to back
  std::unordered_map<std::string_view, std::uint32_t> index_;  // word -> frequency rank
  std::vector<float> scales_;
  std::vector<std::int8_t> values_;                    // rank x dims
  double harmonic_ = 1.0;                              // sum of 1/rank over the vocabulary
};

}  // namespace hearth::knowledge
