// The scheduler's pure decisions (slot_planning.h): prefix matching, slot choice, batch plans.
#include <gtest/gtest.h>

#include <vector>

#include "engine/slot_planning.h"

using namespace hearth;

TEST(SlotPlanning, CommonPrefix) {
  std::vector<Token> a{1, 2, 3, 4}, b{1, 2, 9}, c;
  EXPECT_EQ(common_prefix_length(a, b), 2u);
  EXPECT_EQ(common_prefix_length(a, a), 4u);
  EXPECT_EQ(common_prefix_length(a, c), 0u);
}

TEST(SlotPlanning, ChooseSlotPrefersLongestOwnPrefixThenLeastRecentlyUsed) {
  std::vector<Token> p{1, 2, 3, 4, 5};
  std::vector<Token> c0{1, 2}, c1{1, 2, 3, 4}, c2{9};
  std::vector<SlotSnapshot> s{{0, false, c0, 5}, {1, false, c1, 9}, {2, false, c2, 1}};
  auto ch = choose_slot(s, p);
  EXPECT_EQ(ch.slot, 1);
  EXPECT_EQ(ch.reuse, 4u);
  EXPECT_EQ(ch.copy_from, -1);
  // No prefix anywhere: least recently used free slot.
  std::vector<Token> q{7, 7};
  auto ch2 = choose_slot(s, q);
  EXPECT_EQ(ch2.slot, 2);
  EXPECT_EQ(ch2.reuse, 0u);
}

TEST(SlotPlanning, ChooseSlotCopiesFromABusySlotWithALongerPrefix) {
  std::vector<Token> p{1, 2, 3, 4, 5, 6};
  std::vector<Token> busy{1, 2, 3, 4, 5, 6, 7}, free_cache{8};
  std::vector<SlotSnapshot> s{{0, true, busy, 1}, {1, false, free_cache, 1}};
  auto ch = choose_slot(s, p);
  EXPECT_EQ(ch.slot, 1);
  EXPECT_EQ(ch.copy_from, 0);
  EXPECT_EQ(ch.reuse, 5u);  // capped: the last prompt token is always computed
}

TEST(SlotPlanning, ATinySharedPrefixDoesNotEvictALongCache) {
  // Slot 0 holds an 800-token conversation sharing only a 3-token template prefix with the new
  // prompt; slot 1 is empty. Taking slot 0 would throw away 797 useful tokens to save 3.
  std::vector<Token> long_cache(800, 5);
  long_cache[0] = 1, long_cache[1] = 2, long_cache[2] = 3;
  std::vector<Token> prompt{1, 2, 3, 9, 9, 9};
  std::vector<SlotSnapshot> s{{0, false, long_cache, 1}, {1, false, {}, 2}};
  auto ch = choose_slot(s, prompt);
  EXPECT_EQ(ch.slot, 1);
  EXPECT_EQ(ch.copy_from, 0);  // the 3 shared tokens are still reused, by copying
  EXPECT_EQ(ch.reuse, 3u);
  // A long shared prefix is copied into the empty slot, which keeps slot 0's whole cache too...
  std::vector<Token> continued(long_cache.begin(), long_cache.begin() + 700);
  continued.push_back(42);
  auto ch2 = choose_slot(s, continued);
  EXPECT_EQ(ch2.slot, 1);
  EXPECT_EQ(ch2.reuse, 700u);
  EXPECT_EQ(ch2.copy_from, 0);
  // ...and without copies (a split KV pool) it is worth taking the slot itself.
  auto ch3 = choose_slot(s, continued, false);
  EXPECT_EQ(ch3.slot, 0);
  EXPECT_EQ(ch3.reuse, 700u);
  EXPECT_EQ(ch3.copy_from, -1);
  // Without copies, the tiny prefix still does not justify evicting the long cache.
  auto ch4 = choose_slot(s, prompt, false);
  EXPECT_EQ(ch4.slot, 1);
  EXPECT_EQ(ch4.reuse, 0u);
}

TEST(SlotPlanning, NoFreeSlot) {
  std::vector<Token> p{1};
  std::vector<SlotSnapshot> s{{0, true, {}, 0}};
  EXPECT_EQ(choose_slot(s, p).slot, -1);
}

TEST(SlotPlanning, PlanGivesDecodesFirstThenOldestPrefillsInSlotOrder) {
  std::vector<PlanInput> in{
      {0, SlotPhase::kPrefill, 100, 2},
      {1, SlotPhase::kGenerate, 0, 1},
      {2, SlotPhase::kIdle, 0, 0},
      {3, SlotPhase::kPrefill, 10, 1},
      {4, SlotPhase::kGenerate, 0, 5},
  };
  auto plan = plan_batch(in, 32);
  ASSERT_EQ(plan.size(), 4u);
  // The budget goes to decodes, then to the prefill admitted first (slot 3)...
  EXPECT_EQ(plan[2].id, 3);
  EXPECT_EQ(plan[2].n_tokens, 10u);
  EXPECT_TRUE(plan[2].completes_prompt);
  EXPECT_EQ(plan[0].id, 0);
  EXPECT_EQ(plan[0].n_tokens, 20u);  // 32 - 2 decodes - 10
  EXPECT_FALSE(plan[0].completes_prompt);
  // ...and the batch lists slots in id order (consecutive sequences share micro-batches).
  EXPECT_EQ(plan[1].id, 1);
  EXPECT_EQ(plan[1].n_tokens, 1u);
  EXPECT_EQ(plan[3].id, 4);
  EXPECT_EQ(plan[3].n_tokens, 1u);
}

TEST(SlotPlanning, BusyRunsCountsGroupsOfAdjacentBusySlots) {
  std::vector<SlotSnapshot> s{{0, true, {}, 0}, {1, true, {}, 0}, {2, false, {}, 0},
                              {3, true, {}, 0}, {4, false, {}, 0}, {5, false, {}, 0}};
  EXPECT_EQ(busy_runs(s), 2);
  EXPECT_EQ(busy_runs(s, 2), 1);  // closes the gap
  EXPECT_EQ(busy_runs(s, 4), 2);  // extends a run
  EXPECT_EQ(busy_runs(s, 5), 3);  // starts a new run
  std::vector<SlotSnapshot> none{{0, false, {}, 0}, {1, false, {}, 0}};
  EXPECT_EQ(busy_runs(none), 0);
}

TEST(SlotPlanning, SplitCostKeepsBusySlotsAdjacent) {
  // Slots 0 and 2 are busy; 1 (used long ago) closes the gap, 3 extends a run, 5 (least recently
  // used) would start a third run.
  std::vector<Token> p{7, 8, 9};
  std::vector<SlotSnapshot> s{{0, true, {}, 1}, {1, false, {}, 4}, {2, true, {}, 2},
                              {3, false, {}, 5}, {4, false, {}, 6}, {5, false, {}, 0}};
  EXPECT_EQ(choose_slot(s, p).slot, 5);           // no split cost: least recently used
  EXPECT_EQ(choose_slot(s, p, true, 0, 128).slot, 1);
  s[1].busy = true;
  EXPECT_EQ(choose_slot(s, p, true, 0, 128).slot, 3);
  // A long own prefix in a slot that splits the runs is still worth more than the split...
  std::vector<Token> cached(400, 3), prompt(cached);
  prompt.push_back(4);
  s[5].cached = cached;
  auto ch = choose_slot(s, prompt, false, 0, 128);
  EXPECT_EQ(ch.slot, 5);
  EXPECT_EQ(ch.reuse, 400u);
  // ...but when copies are cheap it is copied next to the busy slots instead.
  auto ch2 = choose_slot(s, prompt, true, 64, 128);
  EXPECT_EQ(ch2.slot, 3);
  EXPECT_EQ(ch2.copy_from, 5);
  EXPECT_EQ(ch2.reuse, 400u);
}

TEST(SlotPlanning, SpreadTakesAsManyStepsAsTheBudgetAllows) {
  const SpreadPolicy off{};
  const SpreadPolicy p{0.15, 4};
  EXPECT_EQ(prompts_this_step(4, 160, 0, off), 4u);
  EXPECT_EQ(prompts_this_step(4, 160, 0, {0.15, 0}), 4u) << "unknown pass cost: no spreading";
  // 24 tokens' time allowed; with nothing else decoding an extra step costs one pass and the
  // split micro-batches, 4 + 2 = 6: 4 steps, so one now.
  EXPECT_EQ(prompts_this_step(4, 160, 0, p), 1u);
  // Streams from before the burst decoding: a second pass and their tokens, 8 + 4 + 2 = 14 an
  // extra step: 2 steps, so two now.
  EXPECT_EQ(prompts_this_step(4, 160, 4, p), 2u);
  // 12 allowed, 8 + 2 + 1 = 11 an extra step: 2 steps, one now.
  EXPECT_EQ(prompts_this_step(2, 80, 2, p), 1u);
  EXPECT_EQ(prompts_this_step(1, 40, 3, p), 1u);
  // Short prompts are not worth a pass each: all together.
  EXPECT_EQ(prompts_this_step(8, 40, 0, p), 8u);
  // Long prompts: one after another.
  EXPECT_EQ(prompts_this_step(4, 8000, 0, p), 1u);
  // Many streams already decoding make extra steps dearer.
  EXPECT_EQ(prompts_this_step(4, 400, 0, p), 1u);
  EXPECT_EQ(prompts_this_step(4, 400, 64, p), 4u);
  EXPECT_EQ(prompts_this_step(0, 0, 3, p), 0u);
}

TEST(SlotPlanning, PlanCompletesTheOldestPromptsThisStepAndDecodesTheRest) {
  std::vector<PlanInput> in{
      {0, SlotPhase::kGenerate, 0, 1},   {1, SlotPhase::kPrefill, 40, 5}, {2, SlotPhase::kPrefill, 40, 3},
      {3, SlotPhase::kPrefill, 40, 4},   {4, SlotPhase::kPrefill, 40, 2},
  };
  // 160 waiting tokens, 1 decoding: an extra step costs 8 + 1 + 2 = 11 of 24 allowed: 3 steps,
  // so the two oldest prompts (slots 4 and 2) complete now, alongside slot 0's decode.
  auto plan = plan_batch(in, 512, {0.15, 4});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].id, 0);
  EXPECT_EQ(plan[1].id, 2);
  EXPECT_TRUE(plan[1].completes_prompt);
  EXPECT_EQ(plan[2].id, 4);
  EXPECT_EQ(plan[2].n_tokens, 40u);
  // Their streams wait for the prompts left pending, the latest of which was admitted 5th.
  EXPECT_EQ(plan[1].hold_until, 5u);
  EXPECT_EQ(plan[2].hold_until, 5u);
  EXPECT_EQ(plan[0].hold_until, 0u);
  const auto all = plan_batch(in, 512);
  ASSERT_EQ(all.size(), 5u) << "no spreading: every prompt now";
  for (const auto& e : all) EXPECT_EQ(e.hold_until, 0u) << "nothing left pending, nothing held";
}

TEST(SlotPlanning, StreamsStartedByASpreadBurstWaitForTheRestOfIt) {
  // Slot 0 was generating before the burst; slot 1 got its first token early in a burst whose
  // latest prompt was admitted 5th; slot 2 (admitted 4th) is still pending, and slot 3 arrived after.
  std::vector<PlanInput> in{
      {0, SlotPhase::kGenerate, 0, 1, 0},
      {1, SlotPhase::kGenerate, 0, 3, 5},
      {2, SlotPhase::kPrefill, 40, 4},
      {3, SlotPhase::kPrefill, 40, 6},
  };
  const auto ids = [](const std::vector<PlanEntry>& plan) {
    std::vector<int> out;
    for (const auto& e : plan) out.push_back(e.id);
    return out;
  };
  EXPECT_EQ(ids(plan_batch(in, 512)), (std::vector<int>{0, 2, 3})) << "slot 1 waits for slot 2's prompt";
  // A later arrival does not hold it: once its own burst is done it decodes again.
  in[2] = {2, SlotPhase::kGenerate, 0, 4, 0};
  EXPECT_EQ(ids(plan_batch(in, 512)), (std::vector<int>{0, 1, 2, 3}));
  in[3] = {3, SlotPhase::kIdle, 0, 0};
  EXPECT_EQ(ids(plan_batch(in, 512)), (std::vector<int>{0, 1, 2})) << "no prompt pending";
}

TEST(SlotPlanning, AShortPromptIsNotHeldBehindALongOnesChunkedPrefill) {
  // A 40-token prompt admitted first and a 4,000-token one: spread, the short one completes now
  // and the long one takes many 512-token steps. Had nothing been spread, the short one would
  // have completed alone in this step too, so its stream decodes right away.
  std::vector<PlanInput> in{{0, SlotPhase::kPrefill, 40, 1}, {1, SlotPhase::kPrefill, 4000, 2}};
  auto plan = plan_batch(in, 512, {0.15, 4});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_TRUE(plan[0].completes_prompt);
  EXPECT_EQ(plan[0].hold_until, 0u);
  // Two short ones ahead of the long one: the second would have fit, so the first waits for it only.
  in = {{0, SlotPhase::kPrefill, 40, 1}, {1, SlotPhase::kPrefill, 40, 2}, {2, SlotPhase::kPrefill, 4000, 3}};
  plan = plan_batch(in, 512, {0.15, 4});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].id, 0);
  EXPECT_EQ(plan[0].hold_until, 2u);
}

TEST(SlotPlanning, ABurstLargerThanOneBatchHoldsItsStreamsUntilTwoBatchesAreDone) {
  // 16 prompts of 64 tokens: unspread, 8 complete in the first 512-token step and 8 in the second.
  // Spread, the streams started first wait for all 16 (those started by the first unspread step
  // would have got their second token only when the second step ended), and no longer: a 17th
  // prompt beyond the two batches does not hold them.
  std::vector<PlanInput> in;
  for (int i = 0; i < 17; ++i) in.push_back({i, SlotPhase::kPrefill, 64, static_cast<std::uint64_t>(i + 1)});
  auto plan = plan_batch(in, 512, {0.05, 2});
  ASSERT_FALSE(plan.empty());
  ASSERT_LT(plan.size(), 8u) << "spread";
  for (const auto& e : plan) EXPECT_EQ(e.hold_until, 16u) << "slot " << e.id;
  // Not spread (no budget): 8 complete now and their streams decode in the next step, as before.
  plan = plan_batch(in, 512, {0, 2});
  ASSERT_EQ(plan.size(), 8u);
  for (const auto& e : plan) EXPECT_EQ(e.hold_until, 0u) << "slot " << e.id;
}

TEST(SlotPlanning, PlanRespectsTinyBudgets) {
  std::vector<PlanInput> in{{0, SlotPhase::kGenerate, 0, 1}, {1, SlotPhase::kGenerate, 0, 2},
                            {2, SlotPhase::kPrefill, 5, 3}};
  auto plan = plan_batch(in, 2);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].n_tokens + plan[1].n_tokens, 2u);
  EXPECT_TRUE(plan_batch(in, 0).empty());
}

TEST(SlotPlanning, CopiesThatCostMoreThanTheyReuseAreSkipped) {
  std::vector<Token> other(100, 7);
  other[0] = 1, other[1] = 2;
  std::vector<Token> prompt{1, 2, 9, 9, 9, 9};
  std::vector<SlotSnapshot> s{{0, false, other, 1}, {1, false, {}, 2}};
  // Free copies: the 2 shared tokens are copied into the empty slot.
  EXPECT_EQ(choose_slot(s, prompt, true, 0).copy_from, 0);
  // A copy that costs 32 tokens is not worth 2 tokens: the empty slot computes everything.
  auto ch = choose_slot(s, prompt, true, 32);
  EXPECT_EQ(ch.slot, 1);
  EXPECT_EQ(ch.copy_from, -1);
  EXPECT_EQ(ch.reuse, 0u);
  // A long shared prefix: its own slot is taken when free...
  std::vector<Token> longer(other.begin(), other.begin() + 90);
  longer.push_back(5);
  auto ch2 = choose_slot(s, longer, true, 32);
  EXPECT_EQ(ch2.slot, 0);
  EXPECT_EQ(ch2.copy_from, -1);
  EXPECT_EQ(ch2.reuse, 90u);
  // ...and copied from it while it is busy: 90 reused tokens are worth the copy.
  s[0].busy = true;
  auto ch3 = choose_slot(s, longer, true, 32);
  EXPECT_EQ(ch3.slot, 1);
  EXPECT_EQ(ch3.copy_from, 0);
  EXPECT_EQ(ch3.reuse, 90u);
}

namespace {
std::vector<Token> shared_then(size_t shared, std::vector<Token> tail) {
  std::vector<Token> p;
  for (size_t i = 0; i < shared; ++i) p.push_back(static_cast<Token>(100 + i));
  p.insert(p.end(), tail.begin(), tail.end());
  return p;
}
}  // namespace

TEST(SlotPlanning, PromptsOfABurstWaitForTheFirstToComputeTheirSharedPrefix) {
  // Three prompts admitted together share 40 tokens. The first computes them; the others wait.
  const auto a = shared_then(40, {1, 2}), b = shared_then(40, {3}), c = shared_then(40, {4, 5, 6});
  std::vector<Token> none;
  std::vector<SlotSnapshot> slots{{0, true, none, 0}, {1, true, none, 0}, {2, true, none, 0}};
  std::vector<PrefillState> pre{{0, a, 0, 1}, {1, b, 0, 2}, {2, c, 0, 3}};
  auto d = share_prefixes(slots, pre, 8);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].id, 1);
  EXPECT_TRUE(d[0].wait);
  EXPECT_EQ(d[1].id, 2);
  EXPECT_TRUE(d[1].wait);
  // Waiting puts a prompt in a later step: not worth it when a pass over the weights costs more
  // than what the wait saves beyond the copy (40 - 8 here).
  EXPECT_EQ(share_prefixes(slots, pre, 8, 31.5).size(), 2u);
  EXPECT_TRUE(share_prefixes(slots, pre, 8, 32.5).empty());

  // Half computed: still waiting (one copy of the whole shared part, not two).
  std::vector<Token> half(a.begin(), a.begin() + 20);
  slots[0].cached = half;
  pre[0].done = 20;
  d = share_prefixes(slots, pre, 8);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(d[0].wait && d[1].wait);

  // Computed: both copy it from slot 0.
  slots[0].cached = a;
  pre[0].done = a.size();
  d = share_prefixes(slots, pre, 8);
  ASSERT_EQ(d.size(), 2u);
  for (const auto& e : d) {
    EXPECT_FALSE(e.wait);
    EXPECT_EQ(e.copy_from, 0);
    EXPECT_EQ(e.reuse, 40u);
  }
}

TEST(SlotPlanning, PrefixSharingLeavesAlonePromptsThatShareLittle) {
  // A shared part no longer than the copy cost, or already in the prompt's own KV, changes nothing;
  // the earliest prompt never waits; the last prompt token is always computed.
  const auto a = shared_then(8, {1, 2, 3}), b = shared_then(8, {4, 5, 6});
  std::vector<Token> none;
  std::vector<SlotSnapshot> slots{{0, true, none, 0}, {1, true, none, 0}};
  std::vector<PrefillState> pre{{0, a, 0, 1}, {1, b, 0, 2}};
  EXPECT_TRUE(share_prefixes(slots, pre, 8).empty());
  EXPECT_EQ(share_prefixes(slots, pre, 7).size(), 1u);

  const auto long_a = shared_then(40, {1}), long_b = shared_then(40, {2});
  std::vector<Token> own(long_b.begin(), long_b.begin() + 36), first(long_a.begin(), long_a.begin() + 40);
  slots[0].cached = first;
  slots[1].cached = own;
  pre = {{0, long_a, 40, 1}, {1, long_b, 36, 2}};
  EXPECT_TRUE(share_prefixes(slots, pre, 8).empty()) << "4 more tokens are not worth a copy of 8";

  const auto same = shared_then(40, {});
  slots[0].cached = same;
  slots[1].cached = none;
  pre = {{1, same, 0, 2}};
  auto d = share_prefixes(slots, pre, 8);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reuse, 39u);
}

TEST(SlotPlanning, APromptCopiesFromTheLongestCacheAndWaitsOnlyForMore) {
  // Slot 3 (idle) holds 30 of the shared 50 tokens; the earlier prompt in slot 0 will compute all
  // 50: the later prompt waits for it rather than copying twice. Once slot 0 is done, it copies
  // 50 from there. Prompts admitted later never make an earlier one wait.
  const auto a = shared_then(50, {1}), b = shared_then(50, {2});
  std::vector<Token> part(a.begin(), a.begin() + 30), none;
  std::vector<SlotSnapshot> slots{{0, true, none, 0}, {1, true, none, 0}, {3, false, part, 0}};
  std::vector<PrefillState> pre{{0, a, 0, 1}, {1, b, 0, 2}};
  auto d = share_prefixes(slots, pre, 8);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].id, 0);
  EXPECT_FALSE(d[0].wait);
  EXPECT_EQ(d[0].copy_from, 3);  // the earliest copies what the idle cache has
  EXPECT_EQ(d[0].reuse, 30u);
  EXPECT_EQ(d[1].id, 1);
  EXPECT_TRUE(d[1].wait);

  std::vector<PlanInput> in{{0, SlotPhase::kPrefill, 21, 1}, {1, SlotPhase::kPrefill, 51, 2, 0, true}};
  const auto plan = plan_batch(in, 512);
  ASSERT_EQ(plan.size(), 1u) << "a waiting prompt is not in the batch";
  EXPECT_EQ(plan[0].id, 0);
  // ...but it belongs to the burst: the stream the step starts waits for it, as for a spread one.
  EXPECT_TRUE(plan[0].completes_prompt);
  EXPECT_EQ(plan[0].hold_until, 2u);
  std::vector<PlanInput> next{{0, SlotPhase::kGenerate, 0, 1, 2}, {1, SlotPhase::kPrefill, 51, 2, 0, true}};
  EXPECT_TRUE(plan_batch(next, 512).empty()) << "held while the prompt waits, which then copies and runs";
}

TEST(SlotPlanning, CopyPricesGrowWithTheSourcesCells) {
  // Price: 2 tokens plus one per 16 cells of the source. From a 100-cell source (8 tokens) a
  // 7-token prefix is not worth copying, a 20-token one is; a short source with the same 7 is.
  const CopyPrice price{2, 16};
  EXPECT_EQ(price.of(100), 8u);
  std::vector<Token> long_source = shared_then(7, std::vector<Token>(93, 3));
  std::vector<Token> short_source = shared_then(7, {3});
  const auto prompt = shared_then(7, {4, 5});
  std::vector<SlotSnapshot> s{{0, true, long_source, 1}, {1, false, {}, 2}};
  EXPECT_EQ(choose_slot(s, prompt, true, price).copy_from, -1);
  s[0].cached = short_source;  // 8 cells: 2 tokens
  EXPECT_EQ(choose_slot(s, prompt, true, price).copy_from, 0);
  const auto longer = shared_then(20, {4});
  std::vector<Token> long_match = shared_then(20, std::vector<Token>(80, 3));
  s[0].cached = long_match;  // 100 cells: 8 tokens, 20 reused
  EXPECT_EQ(choose_slot(s, longer, true, price).copy_from, 0);

  std::vector<PrefillState> pre{{1, prompt, 0, 5}};
  s[0].cached = long_source;
  EXPECT_TRUE(share_prefixes(s, pre, price).empty());
  s[0].cached = short_source;
  ASSERT_EQ(share_prefixes(s, pre, price).size(), 1u);
}

namespace {
std::vector<PlanEntry> entries(std::initializer_list<std::pair<int, size_t>> list) {
  std::vector<PlanEntry> out;
  for (const auto& [id, n] : list) out.push_back({id, n, false, 0});
  return out;
}
}  // namespace

TEST(SlotPlanning, MicroBatchesFollowLlamaCppsEqualSplit) {
  // Equal chunks of consecutive sequences: one micro-batch.
  EXPECT_EQ(count_micro_batches(entries({{0, 40}, {1, 40}, {2, 40}, {3, 40}}), 512), 1u);
  // One token more in slots 1 and 2: a second micro-batch for those two tokens...
  EXPECT_EQ(count_micro_batches(entries({{0, 40}, {1, 41}, {2, 41}, {3, 40}}), 512), 2u);
  // ...and in slots 1 and 3, which are not consecutive once slot 2 is done: two more.
  EXPECT_EQ(count_micro_batches(entries({{0, 40}, {1, 41}, {2, 40}, {3, 41}}), 512), 3u);
  // Decoding tokens (one each) beside a prompt: the prompt's first token joins them, the rest follows.
  EXPECT_EQ(count_micro_batches(entries({{0, 1}, {1, 1}, {2, 30}}), 512), 2u);
  // A gap in the ids splits the run.
  EXPECT_EQ(count_micro_batches(entries({{0, 1}, {2, 1}}), 512), 2u);
  // At most n_ubatch tokens: 4 x 128, then 4 x 72.
  EXPECT_EQ(count_micro_batches(entries({{0, 200}, {1, 200}, {2, 200}, {3, 200}}), 512), 2u);
  EXPECT_EQ(count_micro_batches({}, 512), 0u);
}

TEST(SlotPlanning, EqualSplitLeavesAPromptsLastTokenToTheNextStepWhenThatSavesAMicroBatch) {
  // Four prompts of 40, 41, 41 and 40 tokens, all completing now: unequal, llama.cpp makes a
  // second micro-batch for slots 1 and 2's last tokens.
  std::vector<PlanInput> in{{0, SlotPhase::kPrefill, 40, 1},
                            {1, SlotPhase::kPrefill, 41, 2},
                            {2, SlotPhase::kPrefill, 41, 3},
                            {3, SlotPhase::kPrefill, 40, 4}};
  auto plain = plan_batch(in, 512);
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(count_micro_batches(plain, 512), 2u);
  for (const auto& e : plain) EXPECT_TRUE(e.completes_prompt);
  // With the equal split priced in, slots 1 and 2 leave their last token for the next step.
  auto plan = plan_batch(in, 512, {}, 512);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(count_micro_batches(plan, 512), 1u);
  for (const auto& e : plan) {
    EXPECT_EQ(e.n_tokens, 40u) << "slot " << e.id;
    EXPECT_EQ(e.completes_prompt, e.id == 0 || e.id == 3) << "slot " << e.id;
    EXPECT_EQ(e.hold_until, 0u);
  }
  // The next step: slots 0 and 3 decode and 1 and 2 compute their last token, one micro-batch.
  // A stream held for its burst is not held for a one-token remainder.
  in = {{0, SlotPhase::kGenerate, 0, 1, 4},
        {1, SlotPhase::kPrefill, 1, 2},
        {2, SlotPhase::kPrefill, 1, 3},
        {3, SlotPhase::kGenerate, 0, 4, 4}};
  plan = plan_batch(in, 512, {}, 512);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(count_micro_batches(plan, 512), 1u);
  EXPECT_TRUE(plan[1].completes_prompt);
  EXPECT_TRUE(plan[2].completes_prompt);
}

TEST(SlotPlanning, EqualSplitCutsNothingThatWouldNotSaveAMicroBatch) {
  // A gap between the slots: 40 and 41 tokens take two micro-batches either way.
  std::vector<PlanInput> in{{0, SlotPhase::kPrefill, 40, 1}, {2, SlotPhase::kPrefill, 41, 2}};
  auto plan = plan_batch(in, 512, {}, 512);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_TRUE(plan[0].completes_prompt);
  EXPECT_TRUE(plan[1].completes_prompt);
  EXPECT_EQ(plan[1].n_tokens, 41u);
  // Two tokens more is no free ride on the next step's decoding tokens: left alone.
  in = {{0, SlotPhase::kPrefill, 40, 1}, {1, SlotPhase::kPrefill, 42, 2}};
  plan = plan_batch(in, 512, {}, 512);
  EXPECT_EQ(plan[1].n_tokens, 42u);
  EXPECT_TRUE(plan[1].completes_prompt);
  // A prompt left pending (spread over steps) makes the next step a prompt step, where a token
  // left over would need a micro-batch of its own: nothing is cut.
  in = {{0, SlotPhase::kPrefill, 40, 1}, {1, SlotPhase::kPrefill, 41, 2}, {2, SlotPhase::kPrefill, 40, 3},
        {3, SlotPhase::kPrefill, 41, 4}};
  plan = plan_batch(in, 512, {0.15, 4}, 512);
  ASSERT_LT(plan.size(), 4u) << "spread";
  for (const auto& e : plan) EXPECT_TRUE(e.completes_prompt) << "slot " << e.id;
  // Decoding streams beside the prompts: a 2-token prompt leaves one token to join the next
  // step's decoding; the 1-token level is there already.
  in = {{0, SlotPhase::kGenerate, 0, 1}, {1, SlotPhase::kGenerate, 0, 2}, {2, SlotPhase::kPrefill, 2, 3}};
  plan = plan_batch(in, 512, {}, 512);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(count_micro_batches(plan, 512), 1u);
  EXPECT_FALSE(plan[2].completes_prompt);
}
