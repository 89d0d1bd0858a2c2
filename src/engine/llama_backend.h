// LlamaBackend: DecodeBackend over a llama_context. Owned and used by one SlotScheduler thread.
#pragma once

#include <llama.h>
#include <llama-cpp.h>

#include <vector>

#include "engine/decode_backend.h"

namespace hearth {

// Maps llama_decode's return codes to our errors (the one place that knows them).
Status decode_status(int32_t rc, size_t n_tokens);

// True on a thread inside LlamaBackend::decode whose stop has been requested (the interrupt flag
// is up): llama.cpp logs a stopped decode as errors, which are expected then.
bool decode_stop_requested();

class LlamaBackend final : public DecodeBackend {
 public:
  // `ctx` is owned by the backend; `model` must outlive it.
  // unified: one KV pool shared by all sequences (else one stream per sequence).
  // interruptible: a decode can be stopped (the CPU computes it, and the memory can drop the
  // cells of a stopped batch: not recurrent).
  LlamaBackend(const llama_model* model, llama_context_ptr ctx, int n_slots, int n_batch, bool unified,
               bool interruptible);
  ~LlamaBackend() override;

  Status begin(int slot, const SamplingParams& params) override;
  void end(int slot) override;
  void kv_truncate(int slot, int from) override;
  bool kv_copy(int src, int dst, int n) override;
  Status decode(std::span<const BatchItem> batch) override;
  bool watch_interrupt(const std::atomic<bool>* flag) override;
  Token sample(int slot, int batch_index) override;
  std::string piece(Token token) const override;
  bool is_end_of_generation(Token token) const override;

 private:
  struct SlotSampler {
    llama_sampler_ptr chain;
    llama_sampler_ptr grammar;
    bool plain_greedy = false;  // temperature 0, no bias, penalties or grammar: argmax of the logits
  };
  void fill_candidates(int batch_index);

  const llama_model* model_;
  const llama_vocab* vocab_;
  llama_context_ptr ctx_;
  llama_batch batch_;
  int n_vocab_;
  bool unified_;
  bool interruptible_;
  const std::atomic<bool>* interrupt_ = nullptr;  // see watch_interrupt
  std::vector<SlotSampler> samplers_;
  // One buffer for all slots: sampling runs on the scheduler thread, one slot at a time
  // (n_vocab entries: 1.8 MB for a 152k vocabulary, instead of that per slot).
  std::vector<llama_token_data> candidates_;
};

}  // namespace hearth
