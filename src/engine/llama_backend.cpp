#include "engine/llama_backend.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <random>

namespace hearth {

Status decode_status(int32_t rc, size_t n_tokens) {
  switch (rc) {
    case 0: return {};
    case 1:
      return resource_exhausted(fmt::format("no room in the KV cache for a batch of {} tokens", n_tokens), 1);
    case 2: return Error{ErrorCode::kCancelled, "decoding was aborted"};
    case -1: return internal_error(fmt::format("llama_decode rejected a batch of {} tokens as invalid", n_tokens));
    default: return internal_error(fmt::format("llama_decode failed with code {}", rc));
  }
}

namespace {
thread_local const std::atomic<bool>* t_decode_interrupt = nullptr;
}  // namespace

bool decode_stop_requested() { return t_decode_interrupt != nullptr && t_decode_interrupt->load(); }

LlamaBackend::LlamaBackend(const llama_model* model, llama_context_ptr ctx, int n_slots, int n_batch, bool unified,
                           bool interruptible)
    : model_(model),
      vocab_(llama_model_get_vocab(model)),
      ctx_(std::move(ctx)),
      batch_(llama_batch_init(n_batch, 0, 1)),
      n_vocab_(llama_vocab_n_tokens(vocab_)),
      unified_(unified),
      interruptible_(interruptible),
      samplers_(static_cast<size_t>(n_slots)) {}

LlamaBackend::~LlamaBackend() { llama_batch_free(batch_); }

Status LlamaBackend::begin(int slot, const SamplingParams& p) {
  SlotSampler& s = samplers_[static_cast<size_t>(slot)];
  llama_sampler_chain_params cp = llama_sampler_chain_default_params();
  cp.no_perf = true;
  llama_sampler_ptr chain(llama_sampler_chain_init(cp));
  if (!p.logit_bias.empty()) {
    std::vector<llama_logit_bias> bias;
    bias.reserve(p.logit_bias.size());
    for (const auto& [tok, b] : p.logit_bias) bias.push_back({tok, b});
    llama_sampler_chain_add(chain.get(), llama_sampler_init_logit_bias(n_vocab_, static_cast<int32_t>(bias.size()), bias.data()));
  }
  if (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_penalties(n_vocab_, p.penalty_last_n, p.repeat_penalty,
                                                                      p.frequency_penalty, p.presence_penalty));
  }
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
  } else {
    if (p.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
    if (p.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
    if (p.min_p > 0.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(p.min_p, 1));
    llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
    const std::uint32_t seed = p.seed ? *p.seed : std::random_device{}();
    llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(seed));
  }
  llama_sampler_ptr grammar;
  if (!p.grammar.empty()) {
    grammar.reset(llama_sampler_init_grammar(vocab_, p.grammar.c_str(), "root"));
    if (!grammar) return invalid_argument("the grammar could not be parsed", "response_format");
  }
  s.chain = std::move(chain);
  s.grammar = std::move(grammar);
  s.plain_greedy = p.temperature <= 0.0f && p.logit_bias.empty() && p.repeat_penalty == 1.0f &&
                   p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f && !s.grammar;
  return {};
}

void LlamaBackend::end(int slot) {
  SlotSampler& s = samplers_[static_cast<size_t>(slot)];
  s.chain.reset();
  s.grammar.reset();
}

void LlamaBackend::kv_truncate(int slot, int from) {
  llama_memory_seq_rm(llama_get_memory(ctx_.get()), slot, from, -1);
}

bool LlamaBackend::kv_copy(int src, int dst, int n) {
  llama_memory_t mem = llama_get_memory(ctx_.get());
  llama_memory_seq_rm(mem, dst, -1, -1);
  if (unified_) {
    llama_memory_seq_cp(mem, src, dst, 0, n);  // shares the cells: no data is copied
    return true;
  }
  // Separate streams. llama_memory_seq_cp would copy the whole stream (every cell of the
  // per-sequence context, used or not, at the next decode); the sequence-state API moves only the
  // cells the source holds, at once: written out, then read into dst's stream (a buffer freed
  // right after, so it never adds to the resident memory at rest). Then the part past the shared
  // prefix is dropped.
  llama_context* ctx = ctx_.get();
  const size_t size = llama_state_seq_get_size(ctx, src);
  std::vector<std::uint8_t> cells(size);
  if (size == 0 || llama_state_seq_get_data(ctx, cells.data(), size, src) != size ||
      llama_state_seq_set_data(ctx, cells.data(), size, dst) == 0) {
    llama_memory_seq_rm(mem, dst, -1, -1);
    return false;
  }
  llama_memory_seq_rm(mem, dst, n, -1);
  return true;
}

Status LlamaBackend::decode(std::span<const BatchItem> items) {
  batch_.n_tokens = static_cast<int32_t>(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    batch_.token[i] = items[i].token;
    batch_.pos[i] = items[i].pos;
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = items[i].slot;
    batch_.logits[i] = items[i].logits ? 1 : 0;
  }
  t_decode_interrupt = interrupt_;
  const int32_t rc = llama_decode(ctx_.get(), batch_);
  t_decode_interrupt = nullptr;
  return decode_status(rc, items.size());
}

bool LlamaBackend::watch_interrupt(const std::atomic<bool>* flag) {
  if (!interruptible_) return false;
  interrupt_ = flag;
  if (flag == nullptr) {
    llama_set_abort_callback(ctx_.get(), nullptr, nullptr);
    return true;
  }
  // ggml's CPU backend calls this before each operation of the graph (a load per call). A
  // stopped llama_decode returns 2 and removes the cells of the micro-batch it was computing.
  llama_set_abort_callback(
      ctx_.get(), [](void* data) { return static_cast<const std::atomic<bool>*>(data)->load(std::memory_order_relaxed); },
      const_cast<std::atomic<bool>*>(flag));
  return true;
}

void LlamaBackend::fill_candidates(int batch_index) {
  const float* logits = llama_get_logits_ith(ctx_.get(), batch_index);
  candidates_.resize(static_cast<size_t>(n_vocab_));
  for (int t = 0; t < n_vocab_; ++t) candidates_[static_cast<size_t>(t)] = {t, logits[t], 0.0f};
}

Token LlamaBackend::sample(int slot, int batch_index) {
  SlotSampler& s = samplers_[static_cast<size_t>(slot)];
  if (s.plain_greedy) {
    // The same choice as llama.cpp's greedy sampler (the first maximum), without building a
    // candidate array of the whole vocabulary on every token.
    const float* logits = llama_get_logits_ith(ctx_.get(), batch_index);
    int best = 0;
    for (int t = 1; t < n_vocab_; ++t) {
      if (logits[t] > logits[best]) best = t;
    }
    llama_sampler_accept(s.chain.get(), best);
    return best;
  }
  fill_candidates(batch_index);
  llama_token_data_array cur{candidates_.data(), candidates_.size(), -1, false};
  llama_sampler_apply(s.chain.get(), &cur);
  llama_token token = cur.data[cur.selected].id;

  if (s.grammar) {
    // Cheap check first: is the unconstrained choice allowed? Only if not, constrain the whole
    // vocabulary and sample again (as llama.cpp's common sampler does).
    llama_token_data single{token, 1.0f, 0.0f};
    llama_token_data_array one{&single, 1, -1, false};
    llama_sampler_apply(s.grammar.get(), &one);
    if (std::isinf(single.logit) && single.logit < 0) {
      fill_candidates(batch_index);
      cur = {candidates_.data(), candidates_.size(), -1, false};
      llama_sampler_apply(s.grammar.get(), &cur);
      llama_sampler_apply(s.chain.get(), &cur);
      token = cur.data[cur.selected].id;
    }
    llama_sampler_accept(s.grammar.get(), token);
  }
  llama_sampler_accept(s.chain.get(), token);
  return token;
}

std::string LlamaBackend::piece(Token token) const {
  char buf[256];
  const int n = llama_token_to_piece(vocab_, token, buf, sizeof(buf), 0, false);
  if (n >= 0) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(-n), '\0');
  const int m = llama_token_to_piece(vocab_, token, big.data(), static_cast<int32_t>(big.size()), 0, false);
  big.resize(m > 0 ? static_cast<size_t>(m) : 0);
  return big;
}

bool LlamaBackend::is_end_of_generation(Token token) const { return llama_vocab_is_eog(vocab_, token); }

}  // namespace hearth
