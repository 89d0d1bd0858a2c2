#include "knowledge/fusion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hearth::knowledge {
namespace {

using ::testing::ElementsAre;

std::vector<std::int64_t> ids(const std::vector<Fused>& v) {
  std::vector<std::int64_t> out;
  for (const Fused& f : v) out.push_back(f.id);
  return out;
}

// Keyword hits 1 > 2 > 3; semantic hits 3 > 4 > 1.
const std::vector<Scored> kKeyword = {{1, 12.0}, {2, 7.0}, {3, 2.0}};
const std::vector<Scored> kSemantic = {{3, 0.90}, {4, 0.80}, {1, 0.40}};

TEST(KnowledgeFusion, AlphaZeroIsKeywordOnlyAndOneIsSemanticOnly) {
  auto kw = fuse_weighted(kKeyword, kSemantic, 0.0);
  ASSERT_TRUE(kw);
  EXPECT_THAT(ids(*kw), ElementsAre(1, 2, 3));
  auto sem = fuse_weighted(kKeyword, kSemantic, 1.0);
  ASSERT_TRUE(sem);
  EXPECT_THAT(ids(*sem), ElementsAre(3, 4, 1));
  for (double a : {0.0, 1.0}) {
    auto rrf = fuse_rrf(kKeyword, kSemantic, a);
    ASSERT_TRUE(rrf);
    EXPECT_THAT(ids(*rrf), a == 0.0 ? ElementsAre(1, 2, 3) : ElementsAre(3, 4, 1));
  }
}

TEST(KnowledgeFusion, WeightedNormalizesEachListAndMixes) {
  auto out = fuse_weighted(kKeyword, kSemantic, 0.5);
  ASSERT_TRUE(out);
  // Normalized keyword: 1 -> 1, 2 -> 0.5, 3 -> 0; semantic: 3 -> 1, 4 -> 0.8, 1 -> 0.
  // Fused: 1 -> 0.5, 2 -> 0.25, 3 -> 0.5, 4 -> 0.4; the tie 1/3 goes to the smaller id.
  ASSERT_EQ(out->size(), 4u);
  EXPECT_THAT(ids(*out), ElementsAre(1, 3, 4, 2));
  EXPECT_DOUBLE_EQ((*out)[0].score, 0.5);
  EXPECT_DOUBLE_EQ(*(*out)[0].keyword, 1.0);
  EXPECT_DOUBLE_EQ(*(*out)[0].semantic, 0.0);
  EXPECT_DOUBLE_EQ((*out)[2].score, 0.4);
  EXPECT_FALSE((*out)[2].keyword.has_value()) << "4 is not a keyword hit";
  // Leaning semantic moves 3 ahead.
  auto sem_leaning = fuse_weighted(kKeyword, kSemantic, 0.7);
  ASSERT_TRUE(sem_leaning);
  EXPECT_EQ(sem_leaning->front().id, 3);
}

TEST(KnowledgeFusion, RrfUsesRanksOnly) {
  auto out = fuse_rrf(kKeyword, kSemantic, 0.5, 60);
  ASSERT_TRUE(out);
  // 1: ranks 1 and 3; 3: ranks 3 and 1 (tie, smaller id first); 2: rank 2; 4: rank 2.
  EXPECT_THAT(ids(*out), ElementsAre(1, 3, 2, 4));
  EXPECT_DOUBLE_EQ((*out)[0].score, 0.5 / 61 + 0.5 / 63);
  EXPECT_DOUBLE_EQ(*(*out)[0].keyword, 1.0);
  EXPECT_DOUBLE_EQ(*(*out)[0].semantic, 3.0);
  // Ranks come from the scores, not the order given.
  const std::vector<Scored> shuffled = {{3, 2.0}, {1, 12.0}, {2, 7.0}};
  auto same = fuse_rrf(shuffled, kSemantic, 0.5, 60);
  ASSERT_TRUE(same);
  EXPECT_THAT(ids(*same), ElementsAre(1, 3, 2, 4));
}

TEST(KnowledgeFusion, EdgeCasesAndBadArguments) {
  auto empty = fuse_weighted({}, {}, 0.5);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  const std::vector<Scored> one = {{9, -3.0}};
  auto single = fuse_weighted(one, {}, 0.5);
  ASSERT_TRUE(single);
  ASSERT_EQ(single->size(), 1u);
  EXPECT_DOUBLE_EQ(single->front().score, 0.5) << "a lone score normalizes to 1";
  for (double bad : {-0.1, 1.5, std::nan("")}) {
    auto w = fuse_weighted(kKeyword, kSemantic, bad);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().param, "alpha");
    EXPECT_FALSE(fuse_rrf(kKeyword, kSemantic, bad));
  }
  EXPECT_FALSE(fuse_rrf(kKeyword, kSemantic, 0.5, -1));
}

TEST(KnowledgeMmr, DropsNearDuplicatesAndPrefersDiversity) {
  // Candidates 0 and 1 are near-identical; 2 is different but a little less relevant.
  const std::vector<std::vector<float>> vec = {{1, 0, 0}, {0.99f, 0.01f, 0}, {0, 1, 0}, {0.7f, 0.7f, 0}};
  const std::vector<double> relevance = {1.0, 0.98, 0.9, 0.5};
  auto sim = [&](std::size_t a, std::size_t b) { return cosine(vec[a], vec[b]); };
  EXPECT_THAT(select_mmr(relevance, sim, 0.7, 3), ElementsAre(0, 2, 3)) << "1 is a near-duplicate of 0";
  EXPECT_THAT(select_mmr(relevance, sim, 1.0, 2, 1.01), ElementsAre(0, 1)) << "lambda 1: relevance only";
  EXPECT_THAT(select_mmr(relevance, sim, 0.7, 10), ElementsAre(0, 2, 3)) << "fewer than k remain";
  EXPECT_TRUE(select_mmr({}, sim, 0.5, 3).empty());
}

TEST(KnowledgeMmr, CosineBasics) {
  const std::vector<float> a = {1, 2, 3}, b = {2, 4, 6}, z = {0, 0, 0}, o = {-1, -2, -3};
  EXPECT_NEAR(cosine(a, b), 1.0, 1e-12);
  EXPECT_NEAR(cosine(a, o), -1.0, 1e-12);
  EXPECT_EQ(cosine(a, z), 0.0);
}

}  // namespace
}  // namespace hearth::knowledge
