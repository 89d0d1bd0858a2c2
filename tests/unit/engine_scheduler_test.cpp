// SlotScheduler on the fake backend (engine_fake_backend.h): outputs, step shaping, prefix reuse.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "engine_fake_backend.h"

using namespace hearth;
using namespace hearth::testing_fake;
using namespace std::chrono_literals;

TEST(SlotScheduler, SingleRequestMatchesReference) {
  Fixture f(config(2));
  auto prompt = make_prompt(20, 1);
  Collected c;
  auto h = f.sched->submit(request(prompt, 12), c.sink());
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(c.wait());
  const auto ref = reference(prompt, 12);
  EXPECT_EQ(c.text, render(ref));
  EXPECT_EQ(c.last.kind, GenEvent::Kind::kDone);
  EXPECT_EQ(c.last.usage.prompt_tokens, 20);
  EXPECT_EQ(c.last.usage.completion_tokens, static_cast<int>(ref.size()));
  EXPECT_EQ(c.last.finish, ref.back() == kEog ? FinishReason::kStop : FinishReason::kLength);
}

TEST(SlotScheduler, ManyConcurrentRequestsAllMatchTheirReference) {
  Fixture f(config(4, 32));
  constexpr int kN = 24;
  std::vector<std::unique_ptr<Collected>> cs;
  std::vector<std::thread> threads;
  std::vector<std::vector<Token>> prompts;
  for (int i = 0; i < kN; ++i) {
    prompts.push_back(make_prompt(5 + i * 3, i));
    cs.push_back(std::make_unique<Collected>());
  }
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] { ASSERT_TRUE(f.sched->submit(request(prompts[i], 10), cs[i]->sink()).ok()); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(cs[i]->wait()) << i;
    EXPECT_EQ(cs[i]->text, render(reference(prompts[i], 10))) << i;
  }
  const auto st = f.sched->stats();
  EXPECT_EQ(st.requests_completed, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(st.active_slots, 0);
  EXPECT_EQ(st.queued, 0);
}

TEST(SlotScheduler, RequestsArrivingTogetherShareTheFirstStep) {
  // From idle, the first step waits (up to gather_window) for more arrivals: requests 100 ms
  // after the first join its first batch. Without the window it starts alone.
  for (const bool gather : {true, false}) {
    SchedulerConfig cfg = config(4, 64);
    if (gather) cfg.gather_window = 5s;  // ends early: below, every free slot gets a request
    Fixture f(cfg, 50ms);  // each decode takes 50 ms
    std::vector<std::unique_ptr<Collected>> cs;
    for (int i = 0; i < 4; ++i) cs.push_back(std::make_unique<Collected>());
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(f.sched->submit(request(make_prompt(6, 1), 2), cs[0]->sink()).ok());
    std::this_thread::sleep_for(100ms);
    for (int i = 1; i < 4; ++i) ASSERT_TRUE(f.sched->submit(request(make_prompt(6, 1 + i), 2), cs[i]->sink()).ok());
    for (auto& c : cs) ASSERT_TRUE(c->wait());
    std::lock_guard lk(f.log->mu);
    ASSERT_FALSE(f.log->batches.empty());
    const auto& first = f.log->batches.front();
    EXPECT_EQ(first.size(), gather ? 24u : 6u) << "gather=" << gather;
    if (gather) {
      EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s) << "the wait ends once all four arrived";
    }
  }
}

TEST(SlotScheduler, ARequestArrivingEarlyInABusySpellJoinsTheFirstStep) {
  // join_window: a request arriving while the first step of a busy spell computes prompts alone
  // stops that step (which leaves half its cells behind, to be dropped), and the step is redone
  // with both prompts; the first request starts at once. A backend that cannot be stopped has
  // the gather window instead (the first step waits for company, here in vain) and finishes
  // the step before the second request gets in. Outputs never change.
  for (const bool interruptible : {true, false}) {
    SchedulerConfig cfg = config(4, 64);
    cfg.join_window = 10s;
    cfg.gather_window = 2s;
    Fixture f(cfg, 300ms, 0us, interruptible);
    const auto a = make_prompt(6, 1), b = make_prompt(8, 2);
    Collected ca, cb;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(f.sched->submit(request(a, 2), ca.sink()).ok());
    f.wait_for_decodes(1);
    if (interruptible) {
      EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms) << "a lone request does not wait for company";
    } else {
      EXPECT_GE(std::chrono::steady_clock::now() - t0, 2s) << "the gather window applies";
    }
    ASSERT_TRUE(f.sched->submit(request(b, 2), cb.sink()).ok());
    ASSERT_TRUE(ca.wait());
    ASSERT_TRUE(cb.wait());
    EXPECT_EQ(ca.text, render(reference(a, 2)));
    EXPECT_EQ(cb.text, render(reference(b, 2)));
    std::lock_guard lk(f.log->mu);
    ASSERT_GE(f.log->batches.size(), 2u);
    EXPECT_EQ(f.log->batches[0].size(), 6u);
    if (interruptible) {
      EXPECT_EQ(f.log->stopped, std::vector<size_t>{0});
      EXPECT_EQ(f.log->batches[1].size(), 14u) << "the step is redone with both prompts";
      EXPECT_EQ(f.sched->stats().decode_interrupts, 1u);
      EXPECT_EQ(f.sched->stats().prompt_tokens_computed, 14u) << "the stopped step's tokens are not computed ones";
      EXPECT_EQ(f.sched->stats().decode_calls, f.log->batches.size()) << "a stopped decode is still a call";
    } else {
      EXPECT_TRUE(f.log->stopped.empty());
      EXPECT_EQ(f.sched->stats().decode_interrupts, 0u);
    }
  }
}

TEST(SlotScheduler, StepsAreNotStoppedOnceAStreamDecodesOrAfterTheJoinWindow) {
  // Late in the busy spell (past join_window), or once a stream has its first token, a newcomer
  // waits for the running step: stopping it would cost the others more than it saves.
  for (const bool late : {true, false}) {
    SchedulerConfig cfg = config(4, 64);
    cfg.join_window = late ? 20ms : 10s;
    Fixture f(cfg, 100ms, 0us, true);
    const auto a = make_prompt(6, 1), b = make_prompt(8, 2);
    Collected ca, cb;
    ASSERT_TRUE(f.sched->submit(request(a, late ? 2 : 6), ca.sink()).ok());
    f.wait_for_decodes(late ? 1 : 3);  // late: 30 ms later, in the first step; else in a decoding step
    if (late) std::this_thread::sleep_for(30ms);
    ASSERT_TRUE(f.sched->submit(request(b, 2), cb.sink()).ok());
    ASSERT_TRUE(ca.wait());
    ASSERT_TRUE(cb.wait());
    EXPECT_EQ(ca.text, render(reference(a, late ? 2 : 6)));
    EXPECT_EQ(cb.text, render(reference(b, 2)));
    std::lock_guard lk(f.log->mu);
    EXPECT_TRUE(f.log->stopped.empty()) << "late=" << late;
    EXPECT_EQ(f.sched->stats().decode_interrupts, 0u);
  }
}

namespace {
// Prompts completed by each step of a run, and the prompt tokens it carried.
std::vector<std::pair<int, size_t>> completions_per_step(FakeLog& log, size_t prompt_len) {
  std::vector<std::pair<int, size_t>> out;
  std::map<int, size_t> fed;  // slot -> prompt tokens in the KV
  std::lock_guard lk(log.mu);
  for (const auto& b : log.batches) {
    int completed = 0;
    size_t prompt_tokens = 0;
    std::map<int, size_t> in_batch;
    for (const auto& item : b) {
      if (static_cast<size_t>(item.pos) < prompt_len) ++in_batch[item.slot];
    }
    for (const auto& [slot, n] : in_batch) {
      prompt_tokens += n;
      fed[slot] += n;
      if (fed[slot] == prompt_len) ++completed;
    }
    if (prompt_tokens > 0) out.emplace_back(completed, prompt_tokens);
  }
  return out;
}
}  // namespace

TEST(SlotScheduler, PromptsArrivingTogetherCompleteOverSeveralStepsWhenThatIsCheap) {
  // Four 40-token prompts arrive together; a pass over the weights costs 4 prompt tokens and the
  // spread may cost the last of them 15%: each step completes one (see SpreadPolicy), and the
  // streams started early do not decode until the fourth prompt is done, so every step of the
  // burst carries prompt tokens only. With spreading off all four complete in one step. Outputs
  // never change.
  for (const double spread : {0.15, 0.0}) {
    SchedulerConfig cfg = config(4, 512);
    cfg.gather_window = 5s;  // ends as soon as all four are in
    cfg.prefill_spread = spread;
    cfg.pass_tokens = 4;
    Fixture f(cfg);
    std::vector<std::unique_ptr<Collected>> cs;
    std::vector<std::vector<Token>> prompts;
    for (int i = 0; i < 4; ++i) {
      cs.push_back(std::make_unique<Collected>());
      prompts.push_back(make_prompt(40, 20 + i));
    }
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.sched->submit(request(prompts[i], 3), cs[i]->sink()).ok());
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(cs[i]->wait());
      EXPECT_EQ(cs[i]->text, render(reference(prompts[i], 3)));
    }
    const auto steps = completions_per_step(*f.log, 40);
    std::vector<int> completed;
    for (const auto& [n, tokens] : steps) {
      completed.push_back(n);
      EXPECT_EQ(tokens, 40u * static_cast<size_t>(n)) << "each step carries whole prompts here";
    }
    EXPECT_EQ(completed, spread > 0 ? std::vector<int>({1, 1, 1, 1}) : std::vector<int>({4})) << "spread=" << spread;
    std::lock_guard lk(f.log->mu);
    ASSERT_GT(f.log->batches.size(), completed.size());
    for (size_t i = 0; i < completed.size(); ++i) {
      EXPECT_EQ(f.log->batches[i].size(), 40u * static_cast<size_t>(completed[i])) << "no decode tokens in step " << i;
    }
    EXPECT_EQ(f.log->batches[completed.size()].size(), 4u) << "then all four decode together";
  }
}

TEST(SlotScheduler, EqualSplitPromptsCompleteInOneMicroBatchAndTheRestRidesTheDecodingStep) {
  // Prompts of 40, 41, 41 and 40 tokens arrive together. With llama.cpp's equal split priced in,
  // the first step computes 40 tokens of each (one micro-batch) and the next step carries the two
  // last prompt tokens beside the two first decoding tokens; without it the first step carries
  // all 162 tokens. Outputs never change.
  for (const int split : {512, 0}) {
    SchedulerConfig cfg = config(4, 512);
    cfg.gather_window = 5s;  // ends as soon as all four are in
    cfg.equal_split_ubatch = split;
    Fixture f(cfg);
    std::vector<std::unique_ptr<Collected>> cs;
    std::vector<std::vector<Token>> prompts;
    for (const int n : {40, 41, 41, 40}) {
      cs.push_back(std::make_unique<Collected>());
      prompts.push_back(make_prompt(n, 100 + 7 * static_cast<int>(prompts.size())));
    }
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.sched->submit(request(prompts[i], 3), cs[i]->sink()).ok());
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(cs[i]->wait());
      EXPECT_EQ(cs[i]->text, render(reference(prompts[i], 3))) << i;
    }
    std::lock_guard lk(f.log->mu);
    ASSERT_GE(f.log->batches.size(), 2u);
    const auto& first = f.log->batches[0];
    EXPECT_EQ(first.size(), split > 0 ? 160u : 162u) << "split=" << split;
    std::map<int, int> per_slot;
    for (const auto& item : first) ++per_slot[item.slot];
    ASSERT_EQ(per_slot.size(), 4u);
    if (split > 0) {
      for (const auto& [slot, n] : per_slot) EXPECT_EQ(n, 40) << "slot " << slot;
    }
    const auto& second = f.log->batches[1];
    EXPECT_EQ(second.size(), 4u) << "one token per sequence";
    std::map<int, int> second_slots;
    for (const auto& item : second) ++second_slots[item.slot];
    EXPECT_EQ(second_slots.size(), 4u) << "every sequence in the second step, split=" << split;
  }
}

TEST(SlotScheduler, SpreadingUsesMeasuredStepCosts) {
  // No price given: the scheduler measures a pass (decoding-only steps) and a prompt token
  // (steps with prompts) from its own steps. A decode here takes 20 ms plus 1 ms a token (a pass
  // is worth about 20 tokens); once a first request has been served, a burst of four 200-token
  // prompts is spread out. Before any measurement nothing is spread.
  SchedulerConfig cfg = config(4, 1024, 1024);
  cfg.gather_window = 5s;
  cfg.prefill_spread = 0.5;
  Fixture f(cfg, 20ms, 1ms);
  const auto burst = [&](int seed) {
    std::vector<std::unique_ptr<Collected>> cs;
    for (int i = 0; i < 4; ++i) cs.push_back(std::make_unique<Collected>());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.sched->submit(request(make_prompt(200, seed + i), 4), cs[i]->sink()).ok());
    for (auto& c : cs) ASSERT_TRUE(c->wait());
  };
  burst(40);
  size_t first_burst_steps = 0;
  {
    auto steps = completions_per_step(*f.log, 200);
    first_burst_steps = steps.size();
    ASSERT_FALSE(steps.empty());
    EXPECT_EQ(steps.front().first, 4) << "nothing measured yet: all four in one step";
  }
  burst(50);
  auto steps = completions_per_step(*f.log, 200);
  ASSERT_GT(steps.size(), first_burst_steps);
  EXPECT_LT(steps[first_burst_steps].first, 4) << "measured costs: the second burst is spread";
}

TEST(SlotScheduler, BatchesNeverExceedBudgetAndPromptsArePrefilledInChunks) {
  Fixture f(config(2, 16));
  Collected c;
  auto prompt = make_prompt(100, 3);
  ASSERT_TRUE(f.sched->submit(request(prompt, 4), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.text, render(reference(prompt, 4)));
  std::lock_guard lk(f.log->mu);
  size_t prefill_batches = 0;
  for (const auto& b : f.log->batches) {
    EXPECT_LE(b.size(), 16u);
    if (b.size() > 1) ++prefill_batches;
  }
  EXPECT_GE(prefill_batches, 100u / 16u);  // 100 prompt tokens in chunks of at most 16
}

TEST(SlotScheduler, GeneratingSequencesKeepDecodingWhileALongPromptPrefills) {
  Fixture f(config(2, 8), 200us);
  Collected a, b;
  auto pa = make_prompt(4, 5);
  ASSERT_TRUE(f.sched->submit(request(pa, 60), a.sink()).ok());
  // Wait until A is generating, then add B with a long prompt.
  for (int i = 0; i < 2000; ++i) {
    {
      std::lock_guard lk(a.mu);
      if (!a.deltas.empty()) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  auto pb = make_prompt(120, 6);
  ASSERT_TRUE(f.sched->submit(request(pb, 3), b.sink()).ok());
  ASSERT_TRUE(a.wait());
  ASSERT_TRUE(b.wait());
  EXPECT_EQ(a.text, render(reference(pa, 60)));
  EXPECT_EQ(b.text, render(reference(pb, 3)));
  // Some batch mixed A's decode token (slot of A, 1 token) with a chunk of B's prompt.
  std::lock_guard lk(f.log->mu);
  bool mixed = false;
  for (const auto& batch : f.log->batches) {
    std::map<int, int> per_slot;
    for (const auto& it : batch) ++per_slot[it.slot];
    if (per_slot.size() == 2) mixed = true;
  }
  EXPECT_TRUE(mixed) << "a new request must join the running batch (continuous batching)";
}

TEST(SlotScheduler, PrefixOfAnEarlierRequestIsReused) {
  Fixture f(config(2));
  auto shared = make_prompt(60, 7);
  auto p1 = shared;
  p1.push_back(101);
  auto p2 = shared;
  p2.push_back(102);
  p2.push_back(103);
  Collected c1, c2;
  ASSERT_TRUE(f.sched->submit(request(p1, 5), c1.sink()).ok());
  ASSERT_TRUE(c1.wait());
  const auto computed_before = f.sched->stats().prompt_tokens_computed;
  ASSERT_TRUE(f.sched->submit(request(p2, 5), c2.sink()).ok());
  ASSERT_TRUE(c2.wait());
  EXPECT_EQ(c2.text, render(reference(p2, 5)));
  EXPECT_EQ(c2.last.usage.cached_tokens, 60);
  EXPECT_EQ(f.sched->stats().prompt_tokens_computed - computed_before, 2u);
}

TEST(SlotScheduler, IdenticalPromptStillComputesItsLastToken) {
  Fixture f(config(1));
  auto p = make_prompt(30, 8);
  Collected c1, c2;
  ASSERT_TRUE(f.sched->submit(request(p, 4), c1.sink()).ok());
  ASSERT_TRUE(c1.wait());
  ASSERT_TRUE(f.sched->submit(request(p, 4), c2.sink()).ok());
  ASSERT_TRUE(c2.wait());
  EXPECT_EQ(c2.last.usage.cached_tokens, 29);
  EXPECT_EQ(c1.text, c2.text);
}

TEST(SlotScheduler, PrefixCachedInAnotherSlotIsCopied) {
  Fixture f(config(2));
  auto p1 = make_prompt(50, 9);
  auto p2 = make_prompt(50, 10);
  Collected c1, c2, c3;
  ASSERT_TRUE(f.sched->submit(request(p1, 3), c1.sink()).ok());
  ASSERT_TRUE(c1.wait());
  ASSERT_TRUE(f.sched->submit(request(p2, 3), c2.sink()).ok());  // takes the other slot (LRU)
  ASSERT_TRUE(c2.wait());
  // Keep slot of p1 busy... simply ask for p2's prefix + more while p1's slot is the LRU free one.
  auto p3 = p1;
  p3.push_back(120);
  ASSERT_TRUE(f.sched->submit(request(p3, 3), c3.sink()).ok());
  ASSERT_TRUE(c3.wait());
  EXPECT_EQ(c3.last.usage.cached_tokens, 50);
  EXPECT_EQ(c3.text, render(reference(p3, 3)));
}

TEST(SlotScheduler, PromptsArrivingTogetherComputeTheirSharedPrefixOnce) {
  // Four requests arrive together with one 60-token system prompt and their own 5-token
  // questions. The first computes the system prompt; the others copy its KV and compute only
  // their questions (80 prompt tokens instead of 260, the system prompt fed once),
  // usage reporting the copied tokens as cached, and outputs unchanged. Here one of the three
  // copies fails, so that request computes its whole prompt (140 tokens in all). Without copying, every
  // request computes all of its prompt.
  for (const bool copy : {true, false}) {
    SchedulerConfig cfg = config(4, 512);
    cfg.gather_window = 5s;  // ends as soon as all four are in
    cfg.allow_kv_copy = copy;
    cfg.kv_copy_price = 8;
    Fixture f(cfg);
    if (copy) f.log->fail_next_copies = 1;  // one copy fails: that request computes its prompt
    const int expected_copies = copy ? 3 : 0;
    const auto system = make_prompt(60, 31);
    std::vector<std::unique_ptr<Collected>> cs;
    std::vector<std::vector<Token>> prompts;
    for (int i = 0; i < 4; ++i) {
      cs.push_back(std::make_unique<Collected>());
      auto p = system;
      for (int k = 0; k < 5; ++k) p.push_back(static_cast<Token>(160 + i * 5 + k));
      prompts.push_back(p);
    }
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.sched->submit(request(prompts[i], 4), cs[i]->sink()).ok());
    int cached_total = 0;
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(cs[i]->wait());
      EXPECT_EQ(cs[i]->text, render(reference(prompts[i], 4))) << i;
      EXPECT_EQ(cs[i]->last.usage.prompt_tokens, 65);
      cached_total += cs[i]->last.usage.cached_tokens;
    }
    const auto st = f.sched->stats();
    EXPECT_EQ(st.prompt_tokens_computed, copy ? 140u : 260u) << "copy=" << copy;
    EXPECT_EQ(st.prompt_tokens_reused, copy ? 120u : 0u);
    EXPECT_EQ(cached_total, copy ? 120 : 0);
    std::lock_guard lk(f.log->mu);
    EXPECT_EQ(f.log->copies, expected_copies);
    int system_tokens_fed = 0;
    for (const auto& b : f.log->batches) {
      for (const auto& item : b) system_tokens_fed += item.pos < 60 ? 1 : 0;
    }
    EXPECT_EQ(system_tokens_fed, copy ? 120 : 240);
  }
}
