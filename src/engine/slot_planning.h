// Pure decisions of the slot scheduler, kept free of threads and llama.cpp so they can be unit
// tested exhaustively: which slot a new request takes (prefix reuse), and what goes into the
// next batch (continuous batching with chunked prefill).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/types.h"

namespace hearth {

size_t common_prefix_length(std::span<const Token> a, std::span<const Token> b);

struct SlotSnapshot {
  int id = 0;
  bool busy = false;
  std::span<const Token> cached;  // tokens whose KV is in the cache for this slot, from position 0
  std::uint64_t last_used = 0;    // larger is more recent
};

struct SlotChoice {
  int slot = -1;         // -1: no free slot
  int copy_from = -1;    // >= 0: copy the first `reuse` cells from this slot's sequence
  size_t reuse = 0;      // prompt tokens whose KV is reused
};

// What copying a cached prefix from one sequence to another costs, in prompt tokens' time: `base`
// plus a token for every `cells_per_token` cells the source holds (with a KV stream per sequence
// all the source's cells are moved, then cut to the shared prefix). {0, 0}: free.
struct CopyPrice {
  size_t base = 0;
  size_t cells_per_token = 0;  // 0: the source's size does not matter
  constexpr CopyPrice(size_t base_tokens = 0, size_t cells = 0) : base(base_tokens), cells_per_token(cells) {}
  constexpr size_t of(size_t source_cells) const {
    return base + (cells_per_token > 0 ? source_cells / cells_per_token : 0);
  }
};

// Chooses a free slot for `prompt`. The longest cached prefix anywhere (even in a busy slot, as
// its first cells are stable) is reused, copied into the chosen slot when it lives elsewhere; at
// least one prompt token is always left to compute, so that the request gets fresh logits. The
// slot whose takeover destroys the least useful cache wins (reused tokens minus a quarter of the
// cached tokens thrown away); ties go to the least recently used slot.
// allow_copy: whether a cached prefix may be copied from one sequence to another.
// copy_price: what a copy costs, in prompt tokens recomputed instead (copying a few tokens out of
// a long sequence can be a loss).
// split_cost: what one more run of adjacent busy slots costs, in prompt tokens. With a KV stream
// per sequence, llama.cpp can only put consecutive sequence ids into one micro-batch, so every
// gap between busy slots adds a pass over all the weights to each decoding step; a free slot
// next to the busy ones (or one that closes a gap) avoids that.
SlotChoice choose_slot(std::span<const SlotSnapshot> slots, std::span<const Token> prompt, bool allow_copy = true,
                       CopyPrice copy_price = {}, size_t split_cost = 0);

// Runs of consecutive busy slot ids, counting `extra` (a slot id, or -1) as busy too.
int busy_runs(std::span<const SlotSnapshot> slots, int extra = -1);

// Prefix sharing among prompts that are still being computed. Prompts that arrive together often
// begin alike (one application's system prompt, a document several users ask about): rather than
// each computing the shared part, the first computes it and the others copy its KV.
struct PrefillState {
  int id = 0;
  std::span<const Token> prompt;
  size_t done = 0;             // prompt tokens in the slot's KV
  std::uint64_t admitted = 0;  // admission order
};

struct PrefixShare {
  int id = 0;
  int copy_from = -1;  // >= 0: make the slot's first `reuse` cells a copy of this slot's now
  size_t reuse = 0;
  bool wait = false;   // an earlier prompt is computing a longer shared prefix: not this step
};

// For every prompt in prefill: it waits when an earlier-admitted prompt, still in prefill, shares
// more with it than any cache holds and than its own KV plus a copy's price plus `wait_price` (in
// prompt tokens: waiting puts the prompt in a later step, which costs it at least one more pass
// over the weights), until that prompt has computed the shared part; otherwise it copies when some
// other slot's cache (a finished request's, or one computed meanwhile) holds more of it than its
// own KV plus the copy's price. The earliest prompt never waits, so some prompt always advances.
// At least one prompt token is always left to compute. Returns entries only for the prompts that
// copy or wait.
std::vector<PrefixShare> share_prefixes(std::span<const SlotSnapshot> slots, std::span<const PrefillState> prefills,
                                        CopyPrice copy_price, double wait_price = 0);

enum class SlotPhase { kIdle, kPrefill, kGenerate };

struct PlanInput {
  int id = 0;
  SlotPhase phase = SlotPhase::kIdle;
  size_t prompt_remaining = 0;   // kPrefill: prompt tokens not yet computed
  std::uint64_t admitted = 0;    // admission order; earlier prefills go first
  // kGenerate: skip decoding while a prompt admitted no later than this is still pending (a
  // stream that a spread burst started early waits for the rest of its burst); 0: never.
  std::uint64_t hold_until = 0;
  bool waits_for_prefix = false;  // kPrefill: skipped this step (see share_prefixes)
};

struct PlanEntry {
  int id = 0;
  size_t n_tokens = 0;      // generating: 1; prefilling: a chunk of the prompt
  bool completes_prompt = false;
  // completes_prompt: the hold_until the stream gets (PlanInput). When the step defers prompts it
  // could have completed, the latest admission among the prompts that two unspread steps would
  // have completed; 0 when nothing was deferred.
  std::uint64_t hold_until = 0;
};

// How the prompts waiting together are spread over steps. All in one step, each of them gets its
// first token only when the whole batch is done; one after another, the first gets it after its
// own prompt, and the mean time to first token nearly halves. A stream that a spread burst starts
// early then waits (no decoding) until the prompts deferred from its step have been computed
// (those that would have fit in it; never a long prompt's chunked prefill), so that the
// extra steps carry no decode tokens of its own and its second token comes when one big step
// would have given it. So every extra step costs the last prompt only a pass over the weights for
// the prompt part, one for the decoding part when streams from before the burst are generating,
// their tokens, and the micro-batches that prompts of different lengths split into (about one
// for two prompts with a KV stream each). The planner takes as many steps as that extra time allows:
//   (steps - 1) * ((generating ? 2 : 1) * pass + generating + waiting / 2) <= budget * waiting prompt tokens
// and completes the oldest ceil(waiting / steps) prompts in this step. It recomputes every step.
struct SpreadPolicy {
  double budget = 0;  // the extra time allowed, as a fraction of the prompt work; 0: never spread
  double pass = 0;    // one pass over the weights, in prompt tokens' time; 0 (unknown): never spread
};

// Number of the waiting prompts (oldest first) this step should complete.
size_t prompts_this_step(size_t waiting, size_t waiting_tokens, size_t generating, const SpreadPolicy& spread);

// The number of micro-batches (each a pass over all the weights) llama.cpp splits `plan` (in
// batch order, by slot id) into when every sequence has a KV stream of its own
// (llama_batch_allocr::split_equal, sequential): each micro-batch takes the first sequence with
// tokens left and the run of consecutive ids after it that have tokens left, and the same number
// of tokens from each of them: the least any has left, at most n_ubatch / sequences (at least 1).
// So a step whose prompts have 40 and 41 tokens ends with a micro-batch for the one token more.
size_t count_micro_batches(std::span<const PlanEntry> plan, size_t n_ubatch);

// Every generating slot that is not held gets one token; the rest of the budget goes to prompt
// chunks, oldest admission first, for the first prompts_this_step() of them. Returns entries in batch order: by
// slot id, so that consecutive sequences can share a micro-batch when each has its own KV stream.
// A prompt with one token left does not hold streams (see PlanInput::hold_until): that token
// shares the decoding tokens' micro-batch.
// equal_split: n_ubatch when llama.cpp splits batches equally (see count_micro_batches), 0 when
// it does not. Then, when this step completes every pending prompt, a prompt one token longer
// than another one's chunk leaves its last token to the next step whenever that saves this step
// a micro-batch: the token joins the next step's decoding tokens (one per sequence, so no
// micro-batch of its own), the other prompts get their first token a pass sooner, and the
// shortened prompt gets it one decoding step later instead of one micro-batch later.
std::vector<PlanEntry> plan_batch(std::span<const PlanInput> slots, size_t n_batch, const SpreadPolicy& spread = {},
                                  size_t equal_split = 0);

}  // namespace hearth
