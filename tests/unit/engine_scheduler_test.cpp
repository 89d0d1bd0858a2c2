// SlotScheduler with a deterministic fake backend that really keeps per-sequence "KV" contents:
// every sampled token is a function of the whole sequence so far, so any mistake in prefix
// reuse, KV copying, truncation or batching changes the output. Also run under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/utf8.h"
#include "engine/scheduler.h"
#include "engine/slot_planning.h"

using namespace hearth;
using namespace std::chrono_literals;

namespace {

constexpr Token kEog = 2;
constexpr Token kVocab = 200;

// Next token of a sequence: a hash of all its tokens. Token 2 is end-of-generation, and only
// comes when `eog_after` tokens were generated (so tests control lengths).
Token next_token(const std::vector<Token>& seq) {
  std::uint64_t h = 1469598103934665603ULL;
  for (Token t : seq) h = (h ^ static_cast<std::uint64_t>(t)) * 1099511628211ULL;
  return static_cast<Token>(3 + (h >> 17) % (kVocab - 3));
}

// Built with append: GCC 12 -O3 warns falsely (-Wrestrict) on "<" + std::to_string(t) + ">".
std::string angle(Token t) {
  std::string s = "<";
  s += std::to_string(t);
  s += '>';
  return s;
}

struct FakeLog {
  std::mutex mu;
  std::vector<std::vector<DecodeBackend::BatchItem>> batches;
  int fail_next_decodes = 0;
  int fail_next_copies = 0;
  int copies = 0;
  std::vector<size_t> stopped;  // indices (in batches) of the decodes stopped by the interrupt flag
};

class FakeBackend final : public DecodeBackend {
 public:
  // Each decode takes `delay` plus `per_token` for each token of the batch.
  // interruptible: a decode watches the interrupt flag while it waits out its delay; when stopped
  // it leaves the first half of the batch's cells behind (llama.cpp keeps the micro-batches it
  // finished) and returns kCancelled.
  FakeBackend(int n_slots, std::shared_ptr<FakeLog> log, std::chrono::microseconds delay = 0us,
              std::chrono::microseconds per_token = 0us, bool interruptible = false)
      : kv_(static_cast<size_t>(n_slots)),
        log_(std::move(log)),
        delay_(delay),
        per_token_(per_token),
        interruptible_(interruptible) {}

  bool watch_interrupt(const std::atomic<bool>* flag) override {
    if (!interruptible_) return false;
    interrupt_ = flag;
    return true;
  }

  Status begin(int, const SamplingParams& p) override {
    if (p.grammar == "bad") return invalid_argument("the grammar could not be parsed", "response_format");
    return {};
  }
  void end(int) override {}
  void kv_truncate(int slot, int from) override {
    auto& kv = kv_[static_cast<size_t>(slot)];
    if (static_cast<size_t>(from) < kv.size()) kv.resize(static_cast<size_t>(from));
  }
  bool kv_copy(int src, int dst, int n) override {
    const auto& s = kv_[static_cast<size_t>(src)];
    EXPECT_LE(static_cast<size_t>(n), s.size());
    {
      std::lock_guard lk(log_->mu);
      ++log_->copies;
      if (log_->fail_next_copies > 0) {
        --log_->fail_next_copies;
        kv_[static_cast<size_t>(dst)].clear();
        return false;
      }
    }
    kv_[static_cast<size_t>(dst)].assign(s.begin(), s.begin() + n);
    return true;
  }
  Status decode(std::span<const BatchItem> batch) override {
    {
      std::lock_guard lk(log_->mu);
      log_->batches.emplace_back(batch.begin(), batch.end());
      if (log_->fail_next_decodes > 0) {
        --log_->fail_next_decodes;
        return internal_error("injected decode failure");
      }
    }
    const auto delay = delay_ + per_token_ * static_cast<long>(batch.size());
    if (interrupt_ != nullptr) {
      const auto end = std::chrono::steady_clock::now() + delay;
      while (std::chrono::steady_clock::now() < end) {
        if (interrupt_->load()) {
          for (size_t i = 0; i < batch.size() / 2; ++i) kv_[static_cast<size_t>(batch[i].slot)].push_back(batch[i].token);
          std::lock_guard lk(log_->mu);
          log_->stopped.push_back(log_->batches.size() - 1);
          return Error{ErrorCode::kCancelled, "decoding was aborted"};
        }
        std::this_thread::sleep_for(1ms);
      }
    } else if (delay.count() > 0) {
      std::this_thread::sleep_for(delay);
    }
    outputs_.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& kv = kv_[static_cast<size_t>(batch[i].slot)];
      // Positions must be contiguous: the scheduler may never leave holes.
      EXPECT_EQ(static_cast<size_t>(batch[i].pos), kv.size()) << "slot " << batch[i].slot;
      kv.push_back(batch[i].token);
      if (batch[i].logits) outputs_[static_cast<int>(i)] = next_token(kv);
    }
    return {};
  }
  Token sample(int, int batch_index) override {
    auto it = outputs_.find(batch_index);
    EXPECT_NE(it, outputs_.end()) << "sampled an index without logits";
    return it == outputs_.end() ? kEog : it->second;
  }
  std::string piece(Token t) const override {
    if (t == 7) return "\xE4\xBD";  // the first two bytes of 你: must be held back
    if (t == 8) return "\xA0";      // ...and its last byte
    return angle(t);
  }
  bool is_end_of_generation(Token t) const override { return t == kEog; }

 private:
  std::vector<std::vector<Token>> kv_;
  std::map<int, Token> outputs_;
  std::shared_ptr<FakeLog> log_;
  std::chrono::microseconds delay_, per_token_;
  bool interruptible_;
  const std::atomic<bool>* interrupt_ = nullptr;
};

// What the generation of `prompt` must produce, computed without the scheduler.
std::vector<Token> reference(std::vector<Token> seq, int max_tokens) {
  std::vector<Token> out;
  for (int i = 0; i < max_tokens; ++i) {
    const Token t = next_token(seq);
    out.push_back(t);
    if (t == kEog) break;
    seq.push_back(t);
  }
  return out;
}

// The text the scheduler must emit for a token sequence: the pieces' bytes, with bytes that
// never form a character replaced by U+FFFD (what the UTF-8 assembler guarantees).
std::string render(const std::vector<Token>& toks) {
  std::string s;
  for (Token t : toks) {
    if (t == kEog) break;
    if (t == 7) s += "\xE4\xBD";
    else if (t == 8) s += "\xA0";
    else s += angle(t);
  }
  return utf8_sanitize(s);
}

struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  std::vector<std::string> deltas;
  bool done = false;
  GenEvent last;

  EventSink sink() {
    return [this](GenEvent&& ev) {
      std::lock_guard lk(mu);
      if (ev.kind == GenEvent::Kind::kDelta) {
        text += ev.text;
        deltas.push_back(ev.text);
        return;
      }
      last = std::move(ev);
      done = true;
      cv.notify_all();
    };
  }
  bool wait(std::chrono::seconds timeout = 20s) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, timeout, [&] { return done; });
  }
};

std::vector<Token> make_prompt(int n, int seed) {
  std::vector<Token> p;
  for (int i = 0; i < n; ++i) p.push_back(static_cast<Token>(10 + (i * 7 + seed * 13) % 150));
  return p;
}

GenerationRequest request(std::vector<Token> prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

struct Fixture {
  std::shared_ptr<FakeLog> log = std::make_shared<FakeLog>();
  std::unique_ptr<SlotScheduler> sched;
  Fixture(SchedulerConfig cfg, std::chrono::microseconds delay = 0us, std::chrono::microseconds per_token = 0us,
          bool interruptible = false) {
    sched = std::make_unique<SlotScheduler>(
        std::make_unique<FakeBackend>(cfg.n_slots, log, delay, per_token, interruptible), cfg);
  }
  // Waits until the backend has begun `n` decodes.
  void wait_for_decodes(size_t n) {
    for (;;) {
      {
        std::lock_guard lk(log->mu);
        if (log->batches.size() >= n) return;
      }
      std::this_thread::sleep_for(1ms);
    }
  }
};

SchedulerConfig config(int slots, int batch = 64, int ctx = 512, int queue = 64) {
  SchedulerConfig c;
  c.n_slots = slots;
  c.n_batch = batch;
  c.n_ctx_per_seq = ctx;
  c.max_queue = queue;
  return c;
}

}  // namespace

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

TEST(SlotScheduler, MaxTokensAndContextLimitEndWithLength) {
  Fixture f(config(1, 64, 40));
  auto p = make_prompt(30, 11);
  Collected c;
  ASSERT_TRUE(f.sched->submit(request(p, 100), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  const auto ref = reference(p, 100);
  if (std::find(ref.begin(), ref.begin() + std::min<size_t>(ref.size(), 10), kEog) == ref.begin() + std::min<size_t>(ref.size(), 10)) {
    EXPECT_EQ(c.last.finish, FinishReason::kLength);
    EXPECT_EQ(c.last.usage.prompt_tokens + c.last.usage.completion_tokens, 40);  // exactly the context
  }
}

TEST(SlotScheduler, PromptThatDoesNotFitIsRejectedWithTokenCounts) {
  Fixture f(config(1, 64, 32));
  Collected c;
  auto r = f.sched->submit(request(make_prompt(40, 1), 5), c.sink());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().type_override, "context_length_exceeded");
  EXPECT_NE(r.error().message.find("40"), std::string::npos);
  EXPECT_NE(r.error().message.find("32"), std::string::npos);
  auto empty = f.sched->submit(request({}, 5), c.sink());
  EXPECT_FALSE(empty.ok());
}

TEST(SlotScheduler, StopStringsAcrossTokensAreNotEmitted) {
  Fixture f(config(1));
  auto p = make_prompt(10, 12);
  const auto ref = reference(p, 6);
  const std::string full = render(ref);
  ASSERT_GE(ref.size(), 4u);
  // Stop on the text of tokens 2..3 (spanning a token boundary).
  const std::string t2 = angle(ref[2]);
  const std::string stop = t2.substr(1) + "<";
  GenerationRequest r = request(p, 6);
  r.stop = {stop};
  Collected c;
  ASSERT_TRUE(f.sched->submit(std::move(r), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(c.last.finish, FinishReason::kStop);
  for (const auto& d : c.deltas) EXPECT_EQ(d.find(stop), std::string::npos);
}

TEST(SlotScheduler, Utf8CharacterSplitAcrossTokensIsHeldBack) {
  // A backend whose sequence is forced: tokens 7 then 8 form one character.
  class Forced final : public DecodeBackend {
   public:
    Status begin(int, const SamplingParams&) override { return {}; }
    void end(int) override {}
    void kv_truncate(int, int) override {}
    bool kv_copy(int, int, int) override { return true; }
    Status decode(std::span<const BatchItem>) override { return {}; }
    Token sample(int, int) override { return seq_[std::min(i_++, seq_.size() - 1)]; }
    std::string piece(Token t) const override { return t == 7 ? "\xE4\xBD" : t == 8 ? "\xA0" : "x"; }
    bool is_end_of_generation(Token t) const override { return t == kEog; }

   private:
    std::vector<Token> seq_{9, 7, 8, 9, kEog};
    size_t i_ = 0;
  };
  SlotScheduler s(std::make_unique<Forced>(), config(1));
  Collected c;
  ASSERT_TRUE(s.submit(request({5, 6}, 10), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.text, "x你x");
  for (const auto& d : c.deltas) EXPECT_NE(d, "\xE4\xBD");
  EXPECT_EQ(c.last.finish, FinishReason::kStop);
}

TEST(SlotScheduler, CancellingARunningRequestFreesItsSlot) {
  Fixture f(config(1), 500us);
  Collected c1, c2;
  auto h = f.sched->submit(request(make_prompt(8, 13), 100000), c1.sink());
  ASSERT_TRUE(h.ok());
  std::this_thread::sleep_for(20ms);
  (*h)->cancel();
  ASSERT_TRUE(c1.wait());
  EXPECT_EQ(c1.last.finish, FinishReason::kCancelled);
  // With one slot, the next request can only run if the slot was freed.
  auto p = make_prompt(8, 14);
  ASSERT_TRUE(f.sched->submit(request(p, 3), c2.sink()).ok());
  ASSERT_TRUE(c2.wait());
  EXPECT_EQ(c2.text, render(reference(p, 3)));
  EXPECT_EQ(f.sched->stats().requests_cancelled, 1u);
}

TEST(SlotScheduler, CancellingAQueuedRequestRemovesIt) {
  Fixture f(config(1), 300us);
  Collected running, queued;
  auto h1 = f.sched->submit(request(make_prompt(8, 15), 400), running.sink());
  auto h2 = f.sched->submit(request(make_prompt(8, 16), 5), queued.sink());
  ASSERT_TRUE(h1.ok() && h2.ok());
  (*h2)->cancel();
  ASSERT_TRUE(queued.wait());
  EXPECT_EQ(queued.last.finish, FinishReason::kCancelled);
  EXPECT_EQ(queued.text, "");
  (*h1)->cancel();
  ASSERT_TRUE(running.wait());
}

TEST(SlotScheduler, FullQueueIsRejected) {
  Fixture f(config(1, 64, 512, 2), 1000us);
  std::vector<std::unique_ptr<Collected>> cs;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  int rejected = 0;
  for (int i = 0; i < 6; ++i) {
    cs.push_back(std::make_unique<Collected>());
    auto h = f.sched->submit(request(make_prompt(8, i), 200), cs.back()->sink());
    if (h.ok()) {
      handles.push_back(*h);
    } else {
      EXPECT_EQ(h.error().code, ErrorCode::kResourceExhausted);
      EXPECT_GT(h.error().retry_after_s, 0);
      ++rejected;
    }
  }
  EXPECT_GE(rejected, 3);  // one running (maybe), two waiting, the rest refused
  for (auto& h : handles) h->cancel();
  // Every accepted request ends (as cancelled) before its collector goes away.
  int ended = 0;
  for (auto& c : cs) ended += c->wait(std::chrono::seconds(0)) ? 1 : 0;
  for (int tries = 0; tries < 2000 && ended < static_cast<int>(handles.size()); ++tries) {
    std::this_thread::sleep_for(1ms);
    ended = 0;
    for (auto& c : cs) ended += c->wait(std::chrono::seconds(0)) ? 1 : 0;
  }
  EXPECT_EQ(ended, static_cast<int>(handles.size()));
  EXPECT_EQ(f.sched->stats().requests_rejected, static_cast<std::uint64_t>(rejected));
}

TEST(SlotScheduler, DecodeFailureReportsAnErrorAndTheSchedulerRecovers) {
  Fixture f(config(1));
  {
    std::lock_guard lk(f.log->mu);
    f.log->fail_next_decodes = 1;
  }
  Collected c1, c2;
  ASSERT_TRUE(f.sched->submit(request(make_prompt(8, 17), 4), c1.sink()).ok());
  ASSERT_TRUE(c1.wait());
  EXPECT_EQ(c1.last.kind, GenEvent::Kind::kError);
  EXPECT_NE(c1.last.error.message.find("injected"), std::string::npos);
  auto p = make_prompt(8, 18);
  ASSERT_TRUE(f.sched->submit(request(p, 4), c2.sink()).ok());
  ASSERT_TRUE(c2.wait());
  EXPECT_EQ(c2.text, render(reference(p, 4)));
  EXPECT_EQ(f.sched->stats().decode_failures, 1u);
}

TEST(SlotScheduler, BadSamplerSetupIsAnErrorEvent) {
  Fixture f(config(1));
  GenerationRequest r = request(make_prompt(5, 1), 3);
  r.sampling.grammar = "bad";
  Collected c;
  ASSERT_TRUE(f.sched->submit(std::move(r), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.last.kind, GenEvent::Kind::kError);
  EXPECT_EQ(c.last.error.param, "response_format");
}

TEST(SlotScheduler, StoppingCancelsEverythingPending) {
  auto log = std::make_shared<FakeLog>();
  auto sched = std::make_unique<SlotScheduler>(std::make_unique<FakeBackend>(1, log, 500us), config(1));
  Collected a, b;
  ASSERT_TRUE(sched->submit(request(make_prompt(5, 1), 100000), a.sink()).ok());
  ASSERT_TRUE(sched->submit(request(make_prompt(5, 2), 5), b.sink()).ok());
  std::this_thread::sleep_for(10ms);
  sched.reset();
  ASSERT_TRUE(a.wait(1s));
  ASSERT_TRUE(b.wait(1s));
  EXPECT_EQ(a.last.finish, FinishReason::kCancelled);
  EXPECT_EQ(b.last.finish, FinishReason::kCancelled);
}

TEST(SlotScheduler, HandleOutlivesScheduler) {
  std::shared_ptr<RequestHandle> h;
  {
    Fixture f(config(1));
    Collected c;
    auto r = f.sched->submit(request(make_prompt(5, 3), 2), c.sink());
    ASSERT_TRUE(r.ok());
    h = *r;
    ASSERT_TRUE(c.wait());
  }
  h->cancel();  // must not touch freed memory
  EXPECT_TRUE(h->cancelled());
}
