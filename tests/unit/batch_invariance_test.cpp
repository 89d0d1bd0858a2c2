// Batch invariance through llama.cpp itself, as Hearth runs it with batch_invariant = true
// (reference kernels, weights in their file layout, flash attention, a KV stream per sequence):
// a property test over random scenarios. Each sequence's logits, at the end of its prompt and
// after each greedy token, must be the same bits when it is decoded alone (one prompt step, one
// thread, 256-token micro-batches) as when it is decoded beside others: prompts fed in random
// chunks, sequences starting at random steps in random slots, shared prefixes copied from another
// slot, two threads, 32-token micro-batches. Bits, not tokens: the test models' random weights make
// near-tie argmaxes rare, so comparing tokens let kernels that differ in the low bits pass on some
// CPUs and fail on others (issue 23).
#include <ggml.h>
#include <gtest/gtest.h>
#include <llama.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/llama_backend.h"
#include "engine/llama_context.h"

namespace hearth {
namespace {

constexpr int kSlots = 4;
constexpr int kCellsPerSlot = 256;
constexpr int kGenerated = 4;  // greedy tokens after each prompt

struct Sequence {
  std::vector<Token> prompt;
  int start_step = 0;      // batched run: the step it arrives at
  int copy_from = -1;      // batched run: the sequence whose prefix it copies (-1: none)
  int copy_tokens = 0;
};

// What a sequence produced: its logits at the prompt's end and after each generated token.
using Trace = std::vector<std::vector<float>>;

struct RunConfig {
  int threads = 1;
  int n_ubatch = 256;
};

class BatchInvarianceTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("HEARTH_MODELS");
    if (!dir) GTEST_SKIP() << "HEARTH_MODELS is not set (scripts/test.sh sets it)";
    const std::filesystem::path path = std::filesystem::path(dir) / GetParam();
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing (scripts/setup.sh makes it)";
    llama_log_get(&saved_log_, &saved_log_data_);
    llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = false;  // as ModelEngine loads a batch-invariant model: no repacked weights
    model_.reset(llama_model_load_from_file(path.c_str(), mp));
    ASSERT_TRUE(model_);
    n_vocab_ = llama_vocab_n_tokens(llama_model_get_vocab(model_.get()));
  }

  void TearDown() override {
    if (saved_log_ != nullptr) llama_log_set(saved_log_, saved_log_data_);
  }

  std::unique_ptr<LlamaBackend> make_backend(const RunConfig& rc, llama_context** raw) {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = kSlots * kCellsPerSlot;
    cp.n_batch = kCellsPerSlot;
    cp.n_ubatch = static_cast<uint32_t>(rc.n_ubatch);
    cp.n_seq_max = kSlots;
    cp.n_outputs_max = kSlots;
    cp.kv_unified = false;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;
    cp.n_threads = cp.n_threads_batch = rc.threads;
    cp.no_perf = true;
    llama_context_ptr ctx = new_llama_context(model_.get(), cp, /*reference_kernels=*/true);
    EXPECT_TRUE(ctx);
    *raw = ctx.get();
    return std::make_unique<LlamaBackend>(model_.get(), std::move(ctx), kSlots, kCellsPerSlot, false, true);
  }

  std::vector<float> logits(llama_context* ctx, int batch_index) const {
    const float* l = llama_get_logits_ith(ctx, batch_index);
    return std::vector<float>(l, l + n_vocab_);
  }

  static Token argmax(const std::vector<float>& l) {
    return static_cast<Token>(std::max_element(l.begin(), l.end()) - l.begin());
  }

  // Each sequence alone in slot 0: its whole prompt in one step, then one token per step.
  std::vector<Trace> run_alone(const std::vector<Sequence>& seqs) {
    llama_context* ctx = nullptr;
    auto b = make_backend(RunConfig{1, kCellsPerSlot}, &ctx);
    std::vector<Trace> out;
    for (const Sequence& s : seqs) {
      b->kv_truncate(0, 0);
      std::vector<DecodeBackend::BatchItem> batch;
      for (size_t i = 0; i < s.prompt.size(); ++i) {
        batch.push_back({s.prompt[i], static_cast<int>(i), 0, i + 1 == s.prompt.size()});
      }
      Trace t;
      EXPECT_TRUE(b->decode(batch).ok());
      t.push_back(logits(ctx, static_cast<int>(batch.size()) - 1));
      for (int g = 0; g < kGenerated; ++g) {
        const std::vector<DecodeBackend::BatchItem> next{
            {argmax(t.back()), static_cast<int>(s.prompt.size()) + g, 0, true}};
        EXPECT_TRUE(b->decode(next).ok());
        t.push_back(logits(ctx, 0));
      }
      out.push_back(std::move(t));
    }
    return out;
  }

  // All sequences together, each in its own slot: every step takes a random chunk of each waiting
  // prompt and the next token of each generating sequence.
  std::vector<Trace> run_together(const std::vector<Sequence>& seqs, std::mt19937& rng) {
    llama_context* ctx = nullptr;
    auto b = make_backend(RunConfig{2, 32}, &ctx);
    std::vector<int> slot(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) slot[i] = static_cast<int>(i);
    std::shuffle(slot.begin(), slot.end(), rng);
    std::vector<Trace> out(seqs.size());
    std::vector<int> fed(seqs.size(), 0);  // prompt tokens in the KV
    std::vector<bool> started(seqs.size(), false);
    for (int step = 0; step < 400; ++step) {
      std::vector<DecodeBackend::BatchItem> batch;
      std::vector<std::pair<size_t, int>> outputs;  // (sequence, batch index)
      bool busy = false;
      int room = kCellsPerSlot;  // the step's token budget (n_batch)
      for (size_t i = 0; i < seqs.size(); ++i) {
        const Sequence& s = seqs[i];
        const int n_prompt = static_cast<int>(s.prompt.size());
        if (step < s.start_step) {
          busy = true;
          continue;
        }
        if (!started[i]) {
          started[i] = true;
          if (s.copy_from >= 0) {  // the prefix's cells come from the other sequence's slot
            EXPECT_GE(fed[static_cast<size_t>(s.copy_from)], s.copy_tokens);
            EXPECT_TRUE(b->kv_copy(slot[static_cast<size_t>(s.copy_from)], slot[i], s.copy_tokens));
            fed[i] = s.copy_tokens;
          }
        }
        if (out[i].size() == kGenerated + 1) continue;  // done
        busy = true;
        if (room == 0) continue;
        if (fed[i] < n_prompt) {
          const int chunk = std::min(room, std::uniform_int_distribution<int>(1, n_prompt - fed[i])(rng));
          room -= chunk;
          for (int k = 0; k < chunk; ++k, ++fed[i]) {
            const bool last = fed[i] + 1 == n_prompt;
            if (last) outputs.emplace_back(i, static_cast<int>(batch.size()));
            batch.push_back({s.prompt[static_cast<size_t>(fed[i])], fed[i], slot[i], last});
          }
        } else {
          const int pos = n_prompt + static_cast<int>(out[i].size()) - 1;
          --room;
          outputs.emplace_back(i, static_cast<int>(batch.size()));
          batch.push_back({argmax(out[i].back()), pos, slot[i], true});
        }
      }
      if (!busy) break;
      if (batch.empty()) continue;
      EXPECT_TRUE(b->decode(batch).ok());
      for (const auto& [i, index] : outputs) out[i].push_back(logits(ctx, index));
    }
    return out;
  }

  // A random scenario: 2-4 sequences, each an optional prefix of a shared head (random length)
  // plus tokens of its own; some arrive later, some copy their prefix from one that came first.
  std::vector<Sequence> scenario(std::mt19937& rng) const {
    std::uniform_int_distribution<Token> token(100, std::min(n_vocab_ - 1, 20000));
    std::vector<Token> head(static_cast<size_t>(std::uniform_int_distribution<int>(0, 60)(rng)));
    for (Token& t : head) t = token(rng);
    std::vector<Sequence> seqs(static_cast<size_t>(std::uniform_int_distribution<int>(2, kSlots)(rng)));
    for (size_t i = 0; i < seqs.size(); ++i) {
      Sequence& s = seqs[i];
      const int shared = head.empty() ? 0 : std::uniform_int_distribution<int>(0, static_cast<int>(head.size()))(rng);
      s.prompt.assign(head.begin(), head.begin() + shared);
      const int own = std::uniform_int_distribution<int>(1, 90)(rng);
      for (int k = 0; k < own; ++k) s.prompt.push_back(token(rng));
      s.start_step = i == 0 ? 0 : std::uniform_int_distribution<int>(0, 6)(rng);
      if (i > 0 && shared >= 2 && seqs[0].prompt.size() > 0 && rng() % 2 == 0) {
        // Copy from sequence 0 what both share (its prompt must be in by then: start late).
        const size_t common = std::mismatch(seqs[0].prompt.begin(), seqs[0].prompt.end(), s.prompt.begin(),
                                            s.prompt.end()).first - seqs[0].prompt.begin();
        if (common >= 2 && common < s.prompt.size()) {
          s.copy_from = 0;
          s.copy_tokens = static_cast<int>(common);
          s.start_step = static_cast<int>(seqs[0].prompt.size()) + 1;  // one token per step at worst
        }
      }
    }
    return seqs;
  }

  std::unique_ptr<llama_model, decltype(&llama_model_free)> model_{nullptr, &llama_model_free};
  int n_vocab_ = 0;
  ggml_log_callback saved_log_ = nullptr;
  void* saved_log_data_ = nullptr;
};

TEST_P(BatchInvarianceTest, LogitsAreTheSameBitsAloneAndBatched) {
  const unsigned base_seed = 20261207;
  for (unsigned round = 0; round < 5; ++round) {
    std::mt19937 rng(base_seed + round);
    const std::vector<Sequence> seqs = scenario(rng);
    const std::vector<Trace> alone = run_alone(seqs);
    const std::vector<Trace> together = run_together(seqs, rng);
    for (size_t i = 0; i < seqs.size(); ++i) {
      ASSERT_EQ(together[i].size(), alone[i].size()) << "round " << round << ", sequence " << i;
      for (size_t step = 0; step < alone[i].size(); ++step) {
        const auto& a = alone[i][step];
        const auto& t = together[i][step];
        const size_t differing = static_cast<size_t>(std::inner_product(
            a.begin(), a.end(), t.begin(), size_t{0}, std::plus<>(),
            [](float x, float y) { return std::memcmp(&x, &y, sizeof x) != 0 ? size_t{1} : size_t{0}; }));
        ASSERT_EQ(differing, 0u) << "seed " << base_seed + round << ", sequence " << i << " (prompt "
                                 << seqs[i].prompt.size() << " tokens, copied " << seqs[i].copy_tokens
                                 << "), output " << step << ": logits differ out of " << a.size();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BatchInvarianceTest,
                         ::testing::Values("hearth-tiny-qwen2.gguf", "hearth-small-qwen2.gguf",
                                           "hearth-small-qwen2-q8_0.gguf", "hearth-tiny-llama3.gguf"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           std::string name = param.param;
                           name = name.substr(0, name.find(".gguf"));
                           std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return name;
                         });

}  // namespace
}  // namespace hearth
