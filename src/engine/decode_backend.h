// The narrow interface between the slot scheduler and the thing that computes. The real one
// (LlamaBackend) wraps a llama_context; tests use a deterministic fake, so the scheduler's logic
// and threading are tested (under TSan too) without model weights.
// Threading: every method is called only from the scheduler thread (watch_interrupt also before
// it starts and after it ends).
#pragma once

#include <atomic>
#include <span>
#include <string>

#include "core/result.h"
#include "engine/types.h"

namespace hearth {

class DecodeBackend {
 public:
  virtual ~DecodeBackend() = default;

  struct BatchItem {
    Token token;
    int pos;
    int slot;     // the sequence id
    bool logits;  // an output is wanted for this token
  };

  // Sets up the slot's sampler for a new request. Fails on a bad grammar.
  virtual Status begin(int slot, const SamplingParams& params) = 0;
  // Drops the slot's sampler. The slot's KV stays for later prefix reuse.
  virtual void end(int slot) = 0;
  // Removes the slot's KV cells from position `from` on.
  virtual void kv_truncate(int slot, int from) = 0;
  // Makes dst's first n cells the same as src's (dst is emptied first). false: the copy failed
  // and dst is empty.
  virtual bool kv_copy(int src, int dst, int n) = 0;
  // Computes one batch. On failure, the cells of the batch are not guaranteed to be present.
  virtual Status decode(std::span<const BatchItem> batch) = 0;
  // Asks decode() to stop early whenever *flag is true (checked between the graph's operations):
  // it then returns ErrorCode::kCancelled, and the batch's cells may be partly present. nullptr:
  // forget the flag. false: this backend cannot stop a decode once begun, and ignores the flag.
  virtual bool watch_interrupt(const std::atomic<bool>* flag) {
    (void)flag;
    return false;
  }
  // Samples (and accepts) the next token of `slot` from the output at `batch_index`.
  virtual Token sample(int slot, int batch_index) = 0;
  virtual std::string piece(Token token) const = 0;
  virtual bool is_end_of_generation(Token token) const = 0;
};

}  // namespace hearth
