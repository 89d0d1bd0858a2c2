// A deterministic fake DecodeBackend for the SlotScheduler tests that really keeps per-sequence
// "KV" contents: every sampled token is a function of the whole sequence so far, so any mistake in
// prefix reuse, KV copying, truncation or batching changes the output. Also run under TSan.
// With it: the reference output of a prompt computed without the scheduler, the text it must
// render to, an event collector, and a fixture owning a scheduler over the fake backend.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/utf8.h"
#include "engine/scheduler.h"
#include "engine/slot_planning.h"

namespace hearth::testing_fake {

using namespace std::chrono_literals;

inline constexpr Token kEog = 2;
inline constexpr Token kVocab = 200;

// Next token of a sequence: a hash of all its tokens. Token 2 is end-of-generation, and only
// comes when `eog_after` tokens were generated (so tests control lengths).
inline Token next_token(const std::vector<Token>& seq) {
  std::uint64_t h = 1469598103934665603ULL;
  for (Token t : seq) h = (h ^ static_cast<std::uint64_t>(t)) * 1099511628211ULL;
  return static_cast<Token>(3 + (h >> 17) % (kVocab - 3));
}

// Built with append: GCC 12 -O3 warns falsely (-Wrestrict) on "<" + std::to_string(t) + ">".
inline std::string angle(Token t) {
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
inline std::vector<Token> reference(std::vector<Token> seq, int max_tokens) {
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
inline std::string render(const std::vector<Token>& toks) {
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

inline std::vector<Token> make_prompt(int n, int seed) {
  std::vector<Token> p;
  for (int i = 0; i < n; ++i) p.push_back(static_cast<Token>(10 + (i * 7 + seed * 13) % 150));
  return p;
}

inline GenerationRequest request(std::vector<Token> prompt, int max_tokens) {
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

inline SchedulerConfig config(int slots, int batch = 64, int ctx = 512, int queue = 64) {
  SchedulerConfig c;
  c.n_slots = slots;
  c.n_batch = batch;
  c.n_ctx_per_seq = ctx;
  c.max_queue = queue;
  return c;
}

}  // namespace hearth::testing_fake
