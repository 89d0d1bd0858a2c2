#include "knowledge/static_embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "knowledge/fusion.h"

namespace hearth::knowledge {
namespace {

using ::testing::HasSubstr;

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string("hearth-") + std::to_string(::getpid()) + name)).string();
}

// Writes a file in the layout scripts/glove_convert.py produces.
void write_file(const std::string& path, const std::vector<std::pair<std::string, std::vector<float>>>& words, int dims) {
  std::ofstream f(path, std::ios::binary);
  f.write("HSEMB001", 8);
  const std::uint32_t n = static_cast<std::uint32_t>(words.size()), d = static_cast<std::uint32_t>(dims);
  f.write(reinterpret_cast<const char*>(&n), 4);
  f.write(reinterpret_cast<const char*>(&d), 4);
  for (const auto& [w, v] : words) {
    const auto len = static_cast<std::uint8_t>(w.size());
    f.write(reinterpret_cast<const char*>(&len), 1);
    f.write(w.data(), static_cast<std::streamsize>(w.size()));
  }
  for (const auto& [w, v] : words) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    const float scale = m > 0 ? m / 127.0f : 1.0f;
    f.write(reinterpret_cast<const char*>(&scale), 4);
    for (float x : v) {
      const auto q = static_cast<std::int8_t>(std::lround(x / scale));
      f.write(reinterpret_cast<const char*>(&q), 1);
    }
  }
}

class KnowledgeEmbedder : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TextTokenizer::create();
    ASSERT_TRUE(t);
    tok = std::move(*t);
  }
  std::unique_ptr<TextTokenizer> tok;
};

TEST_F(KnowledgeEmbedder, FrequentWordsWeighLessAndOutputIsNormalized) {
  const std::string path = temp_path("-tiny.bin");
  // Rank 0 "the" points along x, rank 2 "cat" along y.
  write_file(path, {{"the", {1, 0, 0}}, {"of", {0, 0, 1}}, {"cat", {0, 1, 0}}}, 3);
  auto e = StaticEmbedder::load(path);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ((*e)->dimensions(), 3);
  EXPECT_EQ((*e)->vocabulary_size(), 3u);
  // Version 1, the plain weighted average (version 2 takes 2 common directions out of these 3).
  const auto v = (*e)->embed("The CAT", *tok, StaticVersion::kAverage);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_NEAR(v[0] * v[0] + v[1] * v[1] + v[2] * v[2], 1.0, 1e-6);
  EXPECT_GT(v[1], v[0]) << "a rare word outweighs a frequent one";
  EXPECT_GT(v[0], 0.0f);
  const auto poss = (*e)->embed("cat's", *tok, StaticVersion::kAverage);
  EXPECT_NEAR(poss[1], 1.0f, 1e-6) << "possessive 's falls back to the word";
  const auto none = (*e)->embed("unknown 中文", *tok);
  EXPECT_EQ(none, std::vector<float>(3, 0.0f));
  std::filesystem::remove(path);
}

TEST_F(KnowledgeEmbedder, VersionTwoTakesTheSharedDirectionOut) {
  const std::string path = temp_path("-offset.bin");
  // Every word shares a large offset along the first axis, which says nothing about meaning.
  std::vector<std::pair<std::string, std::vector<float>>> words;
  const char* names[] = {"alpha", "bravo", "charlie", "delta", "echo"};
  for (int i = 0; i < 5; ++i) {
    std::vector<float> v(6, 0.0f);
    v[0] = 5.0f;
    v[static_cast<std::size_t>(i) + 1] = static_cast<float>(i + 1);
    words.emplace_back(names[i], v);
  }
  write_file(path, words, 6);
  auto e = StaticEmbedder::load(path);
  ASSERT_TRUE(e) << e.error().message;
  const auto v1 = (*e)->embed("alpha", *tok, StaticVersion::kAverage);
  const auto v2 = (*e)->embed("alpha", *tok);
  EXPECT_GT(v1[0], 0.9f) << "the plain average is mostly the offset";
  EXPECT_NEAR(v2[0], 0.0f, 1e-4) << "version 2 removes the vocabulary's mean";
  double norm = 0;
  for (float x : v2) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-6);
  EXPECT_LT(cosine((*e)->embed("alpha", *tok), (*e)->embed("bravo", *tok)),
            cosine(v1, (*e)->embed("bravo", *tok, StaticVersion::kAverage)))
      << "unrelated words are further apart without the shared offset";
  std::filesystem::remove(path);
}

TEST_F(KnowledgeEmbedder, MissingOrDamagedFilesAreClearErrors) {
  auto missing = StaticEmbedder::load(temp_path("-none.bin"));
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("not found"));
  const std::string path = temp_path("-bad.bin");
  for (const std::string& content : {std::string("garbage"), std::string("HSEMB001\x02\0\0\0\x03\0\0\0\x03the", 19)}) {
    std::ofstream(path, std::ios::binary) << content;
    auto bad = StaticEmbedder::load(path);
    ASSERT_FALSE(bad);
    EXPECT_THAT(bad.error().message, HasSubstr("damaged"));
  }
  std::filesystem::remove(path);
}

// The real GloVe file that setup builds (scripts/test.sh sets HEARTH_STATIC_EMBEDDINGS).
TEST_F(KnowledgeEmbedder, RealVectorsCarryMeaning) {
  const char* path = std::getenv("HEARTH_STATIC_EMBEDDINGS");
  if (!path) GTEST_SKIP() << "HEARTH_STATIC_EMBEDDINGS is not set (scripts/test.sh sets it)";
  auto e = StaticEmbedder::load(path);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ((*e)->dimensions(), 100);
  EXPECT_GT((*e)->vocabulary_size(), 300000u);
  for (StaticVersion version : {StaticVersion::kAverage, StaticVersion::kAllButTheTop}) {
    SCOPED_TRACE(StaticEmbedder::name_of(version));
    auto sim = [&](const char* a, const char* b) {
      return cosine((*e)->embed(a, *tok, version), (*e)->embed(b, *tok, version));
    };
    EXPECT_GT(sim("car", "automobile"), sim("car", "banana"));
    EXPECT_GT(sim("The cat sat on the mat.", "A kitten rested on a rug."),
              sim("The cat sat on the mat.", "Stock prices fell sharply in March."));
    EXPECT_GT(sim("How do I configure the network interface?", "Setting up an ethernet adapter"),
              sim("How do I configure the network interface?", "A recipe for chocolate cake"));
  }
  // Version 2 spreads unrelated texts further apart: the plain averages share the vocabulary's
  // common directions.
  const char* texts[] = {"Stock prices fell sharply in March.", "A recipe for chocolate cake",
                         "The kernel schedules threads on each processor.", "Whales migrate across the ocean."};
  auto mean_cosine = [&](StaticVersion version) {
    double sum = 0;
    int pairs = 0;
    for (int i = 0; i < 4; ++i)
      for (int j = i + 1; j < 4; ++j, ++pairs) sum += cosine((*e)->embed(texts[i], *tok, version), (*e)->embed(texts[j], *tok, version));
    return sum / pairs;
  };
  EXPECT_LT(mean_cosine(StaticVersion::kAllButTheTop), mean_cosine(StaticVersion::kAverage) - 0.1);
}

}  // namespace
}  // namespace hearth::knowledge
