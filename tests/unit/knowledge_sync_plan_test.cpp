#include "knowledge/sync_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hearth::knowledge {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(KnowledgeSyncPlan, AddedChangedRemovedUnchanged) {
  const std::vector<StoredDoc> stored = {{1, "a.md", "h1"}, {2, "b.md", "h2"}, {3, "c.md", "h3"}};
  const std::vector<SourceDoc> current = {{"d.md", "h4"}, {"b.md", "h2-edited"}, {"a.md", "h1"}};
  auto plan = plan_sync(stored, current);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->added.size(), 1u);
  EXPECT_EQ(plan->added[0].uri, "d.md");
  ASSERT_EQ(plan->changed.size(), 1u);
  EXPECT_EQ(plan->changed[0].first.id, 2);
  EXPECT_EQ(plan->changed[0].second.content_hash, "h2-edited");
  ASSERT_EQ(plan->removed.size(), 1u);
  EXPECT_EQ(plan->removed[0].id, 3);
  EXPECT_EQ(plan->unchanged, 1u);
}

TEST(KnowledgeSyncPlan, FirstSyncAddsEverythingAndEmptySourceRemovesEverything) {
  const std::vector<SourceDoc> current = {{"z.txt", "1"}, {"文档/说明.md", "2"}};
  auto first = plan_sync({}, current);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->added.size(), 2u);
  EXPECT_EQ(first->added[0].uri, "z.txt") << "sorted by URI (bytes)";
  EXPECT_TRUE(first->removed.empty());
  const std::vector<StoredDoc> stored = {{7, "z.txt", "1"}};
  auto gone = plan_sync(stored, {});
  ASSERT_TRUE(gone);
  ASSERT_EQ(gone->removed.size(), 1u);
  EXPECT_EQ(gone->removed[0].id, 7);
  EXPECT_EQ(gone->unchanged, 0u);
}

TEST(KnowledgeSyncPlan, DuplicateUriInTheSourceIsAnError) {
  const std::vector<SourceDoc> current = {{"a", "1"}, {"a", "2"}};
  auto plan = plan_sync({}, current);
  ASSERT_FALSE(plan);
  EXPECT_THAT(plan.error().message, ::testing::HasSubstr("'a' twice"));
}

TEST(KnowledgeChunkPlan, OnlyNewChunkTextIsEmbedded) {
  // A document of chunks A B C D is edited: B changes to B', a new chunk E is appended.
  const std::vector<StoredChunk> stored = {{10, "A"}, {11, "B"}, {12, "C"}, {13, "D"}};
  const std::vector<std::string> now = {"A", "B'", "C", "D", "E"};
  const ChunkPlan plan = plan_chunks(stored, now);
  EXPECT_THAT(plan.embed, ElementsAre(1, 4));
  EXPECT_THAT(plan.reuse, ElementsAre(Pair(0, 10), Pair(2, 12), Pair(3, 13)));
  EXPECT_THAT(plan.drop, ElementsAre(11));
}

TEST(KnowledgeChunkPlan, IdenticalChunksPairUpOnce) {
  const std::vector<StoredChunk> stored = {{1, "X"}, {2, "X"}, {3, "Y"}};
  const std::vector<std::string> now = {"X", "X", "X", "Y"};
  const ChunkPlan plan = plan_chunks(stored, now);
  EXPECT_THAT(plan.reuse, ElementsAre(Pair(0, 1), Pair(1, 2), Pair(3, 3)));
  EXPECT_THAT(plan.embed, ElementsAre(2));
  EXPECT_TRUE(plan.drop.empty());
  const ChunkPlan fresh = plan_chunks({}, now);
  EXPECT_THAT(fresh.embed, ElementsAre(0, 1, 2, 3));
  const ChunkPlan cleared = plan_chunks(stored, {});
  EXPECT_THAT(cleared.drop, ElementsAre(1, 2, 3));
}

}  // namespace
}  // namespace hearth::knowledge
