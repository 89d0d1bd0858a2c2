// LlamaBackend over a real llama.cpp context (a generated tiny model): what a stopped decode
// leaves behind, and how llama.cpp splits a step into micro-batches. Not in the logic tests
// (engine_*.cpp), which run without llama.cpp.
#include "engine/llama_backend.h"

#include <ggml.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "engine/slot_planning.h"

namespace hearth {
namespace {

struct ModelFree {
  void operator()(llama_model* m) const { llama_model_free(m); }
};

class LlamaBackendTest : public ::testing::Test {
 protected:
  static constexpr int kSlots = 3;
  static constexpr int kCellsPerSlot = 256;

  void SetUp() override {
    const char* dir = std::getenv("HEARTH_MODELS");
    if (!dir) GTEST_SKIP() << "HEARTH_MODELS is not set (scripts/test.sh sets it)";
    const std::filesystem::path path = std::filesystem::path(dir) / "hearth-tiny-qwen2.gguf";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
    llama_log_get(&saved_log_, &saved_log_data_);
    llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);  // llama.cpp's load chatter
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    model_.reset(llama_model_load_from_file(path.c_str(), mp));
    ASSERT_TRUE(model_);
  }

  void TearDown() override {
    if (saved_log_ != nullptr) llama_log_set(saved_log_, saved_log_data_);
  }

  // A backend as ModelEngine makes one: one KV stream per slot, the CPU's default kernels.
  // n_slots, n_ubatch: as kSlots and 64 unless given; configure: a last say on the parameters.
  std::unique_ptr<LlamaBackend> make_backend(llama_context** raw, int n_slots = kSlots, int n_ubatch = 64,
                                             void (*configure)(llama_context_params&, void*) = nullptr,
                                             void* user = nullptr) {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(n_slots * kCellsPerSlot);
    cp.n_batch = static_cast<uint32_t>(kCellsPerSlot);
    cp.n_ubatch = static_cast<uint32_t>(n_ubatch);
    cp.n_seq_max = static_cast<uint32_t>(n_slots);
    cp.n_outputs_max = static_cast<uint32_t>(n_slots);
    cp.kv_unified = false;
    cp.n_threads = cp.n_threads_batch = 2;
    cp.no_perf = true;
    if (configure) configure(cp, user);
    llama_context_ptr ctx(llama_init_from_model(model_.get(), cp));
    EXPECT_TRUE(ctx);
    *raw = ctx.get();
    return std::make_unique<LlamaBackend>(model_.get(), std::move(ctx), n_slots, kCellsPerSlot, false, true);
  }

  static std::vector<DecodeBackend::BatchItem> prompt(int slot, int first_token, int n, bool logits_last) {
    std::vector<DecodeBackend::BatchItem> items;
    for (int i = 0; i < n; ++i) items.push_back({first_token + i, i, slot, logits_last && i + 1 == n});
    return items;
  }

  // Decodes a 10-token prompt and then one more token in `slot`, and returns the logits of that
  // token (the step that attends to cells placed by both decodes).
  static std::vector<float> prompt_then_token(LlamaBackend& b, llama_context* ctx, int slot) {
    const auto p = prompt(slot, 1000, 10, false);
    EXPECT_TRUE(b.decode(p).ok());
    const std::vector<DecodeBackend::BatchItem> next{{2000, 10, slot, true}};
    EXPECT_TRUE(b.decode(next).ok());
    const float* logits = llama_get_logits_ith(ctx, 0);
    return std::vector<float>(logits, logits + llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx))));
  }

  std::unique_ptr<llama_model, ModelFree> model_;
  ggml_log_callback saved_log_ = nullptr;
  void* saved_log_data_ = nullptr;
};

// A stopped decode must leave every sequence's cells where a fresh context would put them. The
// batch below is split by llama.cpp into a micro-batch of slot 0 and one of slot 2, and the stop
// comes in the first: slot 2's cells were never placed. llama.cpp 3.22.1 then left slot 2's
// search head at slot 0's (scripts/llama-patches/0001-...): its next prompt went to cells 8..17
// and the token after it to cell 0, attention summed in another order, and the logits differed
// from a fresh context's in the low bits. Without batch-invariant kernels too, so this uses the
// default ones.
TEST_F(LlamaBackendTest, AStoppedDecodeLeavesTheOtherSlotsLikeAFreshContext) {
  llama_context* fresh_ctx = nullptr;
  auto fresh = make_backend(&fresh_ctx);
  const std::vector<float> expected = prompt_then_token(*fresh, fresh_ctx, 2);

  llama_context* ctx = nullptr;
  auto b = make_backend(&ctx);
  std::atomic<bool> stop{true};
  ASSERT_TRUE(b->watch_interrupt(&stop));
  std::vector<DecodeBackend::BatchItem> batch = prompt(0, 500, 8, true);
  const auto two = prompt(2, 1000, 10, true);
  batch.insert(batch.end(), two.begin(), two.end());
  const Status st = b->decode(batch);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kCancelled);
  // What the scheduler does after a stop: drop whatever the step left.
  b->kv_truncate(0, 0);
  b->kv_truncate(2, 0);
  stop = false;

  const std::vector<float> got = prompt_then_token(*b, ctx, 2);
  ASSERT_EQ(got.size(), expected.size());
  size_t differing = 0;
  for (size_t i = 0; i < got.size(); ++i) differing += got[i] != expected[i] ? 1 : 0;
  EXPECT_EQ(differing, 0u) << "of " << got.size() << " logits";
  b->watch_interrupt(nullptr);
}

// The planner counts the micro-batches llama.cpp will split a step into (count_micro_batches, a
// copy of llama_batch_allocr::split_equal's rule for a KV stream per sequence) to decide whether
// a prompt's last token should wait for the next step. Here llama.cpp itself decodes steps of
// several shapes, and its graph computations are counted through the evaluation callback (one
// graph per micro-batch; its first layer's attention norm is in every graph once): a llama.cpp
// whose split no longer matches the copy fails this test.
TEST_F(LlamaBackendTest, MicroBatchCountsMatchLlamaCppsSplit) {
  constexpr int kFour = 4;
  constexpr int kUbatch = 64;  // 16 tokens per sequence at most when all four share a micro-batch
  struct Counter {
    int graphs = 0;
  } counter;
  const auto configure = [](llama_context_params& cp, void* user) {
    cp.cb_eval = [](ggml_tensor* t, bool ask, void* data) {
      if (ask && std::strcmp(t->name, "attn_norm-0") == 0) ++static_cast<Counter*>(data)->graphs;
      return false;  // nothing to look at: compute the graph in one go
    };
    cp.cb_eval_user_data = user;
  };
  llama_context* ctx = nullptr;
  auto b = make_backend(&ctx, kFour, kUbatch, configure, &counter);

  // Each step: (slot, tokens) in slot order, as plan_batch orders them, logits on each last token;
  // and the micro-batches llama.cpp makes of it.
  struct Step {
    std::vector<std::pair<int, int>> slots;
    int micro_batches;
  };
  const std::vector<Step> steps = {
      {{{0, 10}, {1, 10}, {2, 10}, {3, 10}}, 1},  // equal lengths
      {{{0, 10}, {1, 11}, {2, 11}, {3, 10}}, 2},  // 10 from each, then 1 from 1 and 2
      {{{0, 10}, {1, 12}, {2, 11}, {3, 10}}, 3},  // 10 from each, 1 from 1 and 2, 1 from 1
      {{{0, 12}, {2, 12}}, 2},                    // ids not consecutive: one each
      {{{1, 3}, {2, 1}, {3, 3}}, 3},              // 1 from each, then 1 and 3 apart (2 is done)
      {{{0, 40}, {1, 40}, {2, 40}, {3, 40}}, 3},  // at most n_ubatch / 4 = 16 each: 16, 16, 8
      {{{0, 40}}, 1},                             // one sequence may fill n_ubatch
      {{{0, 1}, {1, 1}, {2, 1}, {3, 1}}, 1},      // decoding
      {{{0, 5}, {1, 1}, {2, 1}, {3, 1}}, 2},      // a prompt beside decoding tokens: 1 each, then 4
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    std::vector<DecodeBackend::BatchItem> batch;
    std::vector<PlanEntry> plan;
    for (const auto& [slot, n] : steps[i].slots) {
      const auto p = prompt(slot, 100 + 10 * slot, n, true);
      batch.insert(batch.end(), p.begin(), p.end());
      plan.push_back({slot, static_cast<size_t>(n), true, 0});
    }
    counter.graphs = 0;
    ASSERT_TRUE(b->decode(batch).ok()) << "step " << i;
    EXPECT_EQ(counter.graphs, steps[i].micro_batches) << "llama.cpp, step " << i;
    EXPECT_EQ(count_micro_batches(plan, kUbatch), static_cast<size_t>(steps[i].micro_batches)) << "planner, step " << i;
    for (int slot = 0; slot < kFour; ++slot) b->kv_truncate(slot, 0);
  }
}

}  // namespace
}  // namespace hearth
