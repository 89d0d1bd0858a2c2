// The registry's eviction policy, choose_evictions(): pure and deterministic.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "models/registry.h"

using namespace hearth;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

namespace {

EvictionCandidate cand(int index, std::uint64_t bytes, std::int64_t last_used, bool idle) {
  EvictionCandidate c;
  c.index = index;
  c.bytes = bytes;
  c.last_used = last_used;
  c.idle = idle;
  return c;
}

}  // namespace

TEST(ChooseEvictions, FitsWithoutEviction) {
  std::vector<int> out = {99};  // stale contents must be cleared
  EXPECT_TRUE(choose_evictions({cand(0, 300, 1, true), cand(1, 200, 2, true)}, 1000, 500, out));
  EXPECT_THAT(out, IsEmpty());
}

TEST(ChooseEvictions, NothingLoaded) {
  std::vector<int> out;
  EXPECT_TRUE(choose_evictions({}, 1000, 1000, out)) << "exactly the budget fits";
  EXPECT_THAT(out, IsEmpty());
  EXPECT_FALSE(choose_evictions({}, 1000, 1001, out));
  EXPECT_THAT(out, IsEmpty());
}

TEST(ChooseEvictions, ExactFitNeedsNoEviction) {
  std::vector<int> out;
  EXPECT_TRUE(choose_evictions({cand(0, 600, 1, true)}, 1000, 400, out));
  EXPECT_THAT(out, IsEmpty());
}

TEST(ChooseEvictions, EvictsLeastRecentlyUsedFirstAndOnlyAsNeeded) {
  // Given out of order: the oldest (last_used 10) is index 2, then index 0 (20), then index 1 (30).
  const std::vector<EvictionCandidate> loaded = {cand(0, 300, 20, true), cand(1, 300, 30, true),
                                                 cand(2, 300, 10, true)};
  std::vector<int> out;
  // used 900, budget 1000: need 300 -> free 200 -> one model (the oldest).
  EXPECT_TRUE(choose_evictions(loaded, 1000, 300, out));
  EXPECT_THAT(out, ElementsAre(2));
  // need 500 -> free 400 -> two models, oldest first.
  EXPECT_TRUE(choose_evictions(loaded, 1000, 500, out));
  EXPECT_THAT(out, ElementsAre(2, 0));
  // need 1000 -> everything.
  EXPECT_TRUE(choose_evictions(loaded, 1000, 1000, out));
  EXPECT_THAT(out, ElementsAre(2, 0, 1));
}

TEST(ChooseEvictions, StopsAsSoonAsItFitsEvenIfASmallOneWasOlder) {
  // The oldest model is small; LRU order is still followed, stopping once it fits.
  const std::vector<EvictionCandidate> loaded = {cand(0, 100, 1, true), cand(1, 800, 2, true),
                                                 cand(2, 100, 3, true)};
  std::vector<int> out;
  EXPECT_TRUE(choose_evictions(loaded, 1000, 500, out));
  EXPECT_THAT(out, ElementsAre(0, 1));
}

TEST(ChooseEvictions, NeverEvictsBusyModels) {
  // The LRU model is busy: it is skipped, and the next idle ones go instead.
  const std::vector<EvictionCandidate> loaded = {cand(0, 400, 1, false), cand(1, 300, 2, true),
                                                 cand(2, 300, 3, true)};
  std::vector<int> out;
  EXPECT_TRUE(choose_evictions(loaded, 1000, 300, out));
  EXPECT_THAT(out, ElementsAre(1));
  EXPECT_TRUE(choose_evictions(loaded, 1000, 600, out));
  EXPECT_THAT(out, ElementsAre(1, 2));
}

TEST(ChooseEvictions, FailsWhenEvictingEveryIdleModelIsNotEnough) {
  const std::vector<EvictionCandidate> loaded = {cand(0, 400, 1, false), cand(1, 300, 2, true),
                                                 cand(2, 300, 3, true)};
  std::vector<int> out = {7};
  // Evicting both idle models frees 600 of 1000; 400 stay busy, so 700 cannot fit.
  EXPECT_FALSE(choose_evictions(loaded, 1000, 700, out));
  EXPECT_THAT(out, IsEmpty()) << "a failed choice must not name models to unload";
}

TEST(ChooseEvictions, FailsWhenAllAreBusy) {
  std::vector<int> out;
  EXPECT_FALSE(choose_evictions({cand(0, 500, 1, false), cand(1, 500, 2, false)}, 1000, 1, out));
  EXPECT_THAT(out, IsEmpty());
}

TEST(ChooseEvictions, FailsWhenTheNewModelAloneExceedsTheBudget) {
  std::vector<int> out;
  EXPECT_FALSE(choose_evictions({cand(0, 100, 1, true), cand(1, 100, 2, true)}, 1000, 1001, out));
  EXPECT_THAT(out, IsEmpty());
}

TEST(ChooseEvictions, AlreadyOverBudgetStillEvictsDownToFit) {
  // A budget lowered below what is loaded: evict until the new model fits.
  const std::vector<EvictionCandidate> loaded = {cand(5, 700, 2, true), cand(9, 700, 1, true)};
  std::vector<int> out;
  EXPECT_TRUE(choose_evictions(loaded, 1000, 200, out));
  EXPECT_THAT(out, ElementsAre(9));
}

TEST(ChooseEvictions, HugeRequestsDoNotOverflow) {
  std::vector<int> out;
  std::vector<EvictionCandidate> loaded{{0, 100, 1, true}};
  EXPECT_FALSE(choose_evictions(loaded, 1000, UINT64_MAX - 10, out));
  EXPECT_TRUE(out.empty());
  std::vector<EvictionCandidate> big{{0, UINT64_MAX - 5, 1, true}, {1, 100, 2, true}};
  EXPECT_TRUE(choose_evictions(big, 1000, 10, out));
  EXPECT_EQ(out, std::vector<int>{0});
}
