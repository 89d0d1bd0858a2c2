#include "engine/slot_planning.h"

#include <algorithm>

namespace hearth {

size_t common_prefix_length(std::span<const Token> a, std::span<const Token> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

int busy_runs(std::span<const SlotSnapshot> slots, int extra) {
  std::vector<int> ids;
  ids.reserve(slots.size());
  for (const auto& s : slots) {
    if (s.busy || s.id == extra) ids.push_back(s.id);
  }
  std::sort(ids.begin(), ids.end());
  int runs = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i == 0 || ids[i] != ids[i - 1] + 1) ++runs;
  }
  return runs;
}

namespace {
struct CachedPrefix {
  size_t length = 0;  // prompt tokens held
  int source = -1;    // the slot holding them
  size_t cost = 0;    // the price of copying them from there
};

// The longest prefix of `prompt` (at most cap tokens) that a slot other than `self` holds.
CachedPrefix longest_cached(std::span<const SlotSnapshot> slots, std::span<const Token> prompt, size_t cap,
                            CopyPrice copy_price, int self = -1) {
  CachedPrefix best;
  for (const auto& s : slots) {
    if (s.id == self) continue;
    const size_t n = std::min(common_prefix_length(s.cached, prompt), cap);
    if (n > best.length) best = {n, s.id, copy_price.of(s.cached.size())};
  }
  return best;
}
}  // namespace

SlotChoice choose_slot(std::span<const SlotSnapshot> slots, std::span<const Token> prompt, bool allow_copy,
                       CopyPrice copy_price, size_t split_cost) {
  SlotChoice choice;
  if (prompt.empty()) return choice;
  const size_t cap = prompt.size() - 1;  // always compute at least the last prompt token

  // The longest cached prefix anywhere (busy slots too: their first cells are stable).
  const auto [best_any, best_src, copy_cost] = longest_cached(slots, prompt, cap, copy_price);

  // Taking a free slot gains the prefix it can reuse and loses whatever else it had cached, which
  // later requests might have reused; a slot that splits the busy ones into more runs costs
  // split_cost. Score = gain - loss / 4 - costs; ties go to the least recently used.
  const int runs_now = split_cost > 0 ? busy_runs(slots) : 0;
  double best_score = 0;
  std::uint64_t best_used = 0;
  for (const auto& s : slots) {
    if (s.busy) continue;
    const size_t own = std::min(common_prefix_length(s.cached, prompt), cap);
    size_t gain = own;
    size_t lost = s.cached.size() - own;
    int copy_from = -1;
    double cost = 0;
    if (allow_copy && best_any > own + copy_cost && best_src != s.id) {  // copy the longer prefix
      gain = best_any;
      lost = s.cached.size();
      copy_from = best_src;
      cost = static_cast<double>(copy_cost);
    }
    if (split_cost > 0) cost += static_cast<double>(split_cost) * (busy_runs(slots, s.id) - runs_now);
    const double score = static_cast<double>(gain) - static_cast<double>(lost) / 4.0 - cost;
    if (choice.slot < 0 || score > best_score || (score == best_score && s.last_used < best_used)) {
      choice = {s.id, copy_from, gain};
      best_score = score;
      best_used = s.last_used;
    }
  }
  if (choice.slot >= 0 && choice.copy_from < 0) {
    // Own prefix only: reuse exactly what this slot shares with the prompt.
    for (const auto& s : slots) {
      if (s.id == choice.slot) choice.reuse = std::min(common_prefix_length(s.cached, prompt), cap);
    }
  }
  return choice;
}

std::vector<PrefixShare> share_prefixes(std::span<const SlotSnapshot> slots, std::span<const PrefillState> prefills,
                                        CopyPrice copy_price, double wait_price) {
  std::vector<PrefixShare> out;
  for (const auto& p : prefills) {
    if (p.prompt.empty()) continue;
    const size_t cap = p.prompt.size() - 1;
    const auto [cached, source, cached_cost] = longest_cached(slots, p.prompt, cap, copy_price, p.id);
    size_t coming = 0, coming_cost = 0;  // the longest shared prefix an earlier prompt has yet to compute
    for (const auto& q : prefills) {
      if (q.admitted >= p.admitted) continue;
      const size_t shared = std::min(common_prefix_length(q.prompt, p.prompt), cap);
      if (q.done < shared && shared > coming) {
        coming = shared;
        coming_cost = copy_price.of(q.prompt.size());
      }
    }
    const auto own = static_cast<double>(std::max(cached, p.done));
    if (coming > cached && static_cast<double>(coming) > own + static_cast<double>(coming_cost) + wait_price) {
      out.push_back({p.id, -1, 0, true});
    } else if (cached > p.done + cached_cost) {
      out.push_back({p.id, source, cached, false});
    }
  }
  return out;
}

size_t prompts_this_step(size_t waiting, size_t waiting_tokens, size_t generating, const SpreadPolicy& spread) {
  if (waiting <= 1 || spread.budget <= 0 || spread.pass <= 0) return waiting;
  const double passes = generating > 0 ? 2 : 1;
  const double per_extra_step =
      passes * spread.pass + static_cast<double>(generating) + static_cast<double>(waiting) / 2;
  const double allowed = spread.budget * static_cast<double>(waiting_tokens);
  const size_t steps = std::min(waiting, 1 + static_cast<size_t>(allowed / per_extra_step));
  return (waiting + steps - 1) / steps;
}

size_t count_micro_batches(std::span<const PlanEntry> plan, size_t n_ubatch) {
  std::vector<size_t> left(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) left[i] = plan[i].n_tokens;
  size_t count = 0;
  for (size_t first = 0;;) {
    while (first < plan.size() && left[first] == 0) ++first;
    if (first == plan.size()) return count;
    size_t end = first + 1;  // the run of consecutive ids with tokens left
    while (end < plan.size() && left[end] > 0 && plan[end].id == plan[end - 1].id + 1) ++end;
    const size_t n_seqs = end - first;
    size_t take = std::max<size_t>(1, n_ubatch / n_seqs);
    for (size_t i = first; i < end; ++i) take = std::min(take, left[i]);
    for (size_t i = first; i < end; ++i) left[i] -= take;
    ++count;
  }
}

namespace {
// See plan_batch: level by level (token counts, the least first), the prompts whose chunk is one
// token more than another level's leave that token to the next step when this step then needs
// fewer micro-batches. `plan` is in batch order.
void merge_chunk_levels(std::vector<PlanEntry>& plan, size_t n_ubatch) {
  std::vector<size_t> levels;
  for (const auto& e : plan) levels.push_back(e.n_tokens);
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  size_t batches = count_micro_batches(plan, n_ubatch);
  for (const size_t v : levels) {
    if (v < 2 || batches == 1) continue;
    const bool below = std::any_of(plan.begin(), plan.end(), [&](const PlanEntry& e) { return e.n_tokens == v - 1; });
    if (!below) continue;
    auto trial = plan;
    for (auto& e : trial) {
      if (e.n_tokens == v && e.completes_prompt) e = {e.id, v - 1, false, 0};
    }
    const size_t n = count_micro_batches(trial, n_ubatch);
    if (n < batches) {
      plan = std::move(trial);
      batches = n;
    }
  }
}
}  // namespace

std::vector<PlanEntry> plan_batch(std::span<const PlanInput> slots, size_t n_batch, const SpreadPolicy& spread,
                                  size_t equal_split) {
  // pending: every prompt still to compute, oldest first; prefill: those this step may compute
  // (not the ones waiting for an earlier prompt's prefix, which still belong to their burst).
  std::vector<const PlanInput*> pending, prefill;
  size_t waiting_tokens = 0;
  for (const auto& s : slots) {
    if (s.phase == SlotPhase::kPrefill && s.prompt_remaining > 0) pending.push_back(&s);
  }
  std::sort(pending.begin(), pending.end(),
            [](const PlanInput* a, const PlanInput* b) { return a->admitted < b->admitted; });
  for (const auto* s : pending) {
    if (s->waits_for_prefix) continue;
    prefill.push_back(s);
    waiting_tokens += s->prompt_remaining;
  }
  // A prompt with one token left holds nobody: that token shares the decoding tokens' micro-batch.
  const auto longer = std::find_if(pending.begin(), pending.end(), [](const PlanInput* p) { return p->prompt_remaining > 1; });
  const auto held = [&](const PlanInput& s) { return longer != pending.end() && (*longer)->admitted <= s.hold_until; };

  std::vector<PlanEntry> plan;
  size_t budget = n_batch;
  size_t generating = 0;
  for (const auto& s : slots) {
    if (s.phase != SlotPhase::kGenerate || budget == 0 || held(s)) continue;
    plan.push_back({s.id, 1, false});
    --budget;
    ++generating;
  }
  const size_t take = prompts_this_step(prefill.size(), waiting_tokens, generating, spread);
  // When this step defers prompts that it could have completed (spread, or waiting for the prefix
  // an earlier prompt computes), the streams it starts wait for
  // the prompts that two unspread steps would have completed (oldest first, as many as fit), not
  // for any longer. Unspread, a stream started by the first of those steps gets its second token
  // when the second ends, so waiting for them costs it little it would have had; and a short
  // prompt is never held behind a long one's chunked prefill.
  const auto fitting = [&](size_t left) {
    size_t n = 0;
    for (; n < pending.size() && pending[n]->prompt_remaining <= left; ++n) left -= pending[n]->prompt_remaining;
    return n;
  };
  const size_t horizon = fitting(2 * budget);
  const std::uint64_t hold = fitting(budget) > take ? pending[horizon - 1]->admitted : 0;
  size_t completing = 0;
  for (size_t i = 0; i < take && budget > 0; ++i) {
    const size_t n = std::min(budget, prefill[i]->prompt_remaining);
    const bool completes = n == prefill[i]->prompt_remaining;
    plan.push_back({prefill[i]->id, n, completes, completes ? hold : 0});
    budget -= n;
    completing += completes ? 1 : 0;
  }
  std::sort(plan.begin(), plan.end(), [](const PlanEntry& a, const PlanEntry& b) { return a.id < b.id; });
  // Only when nothing else is left pending is the next step one of decoding tokens that a token
  // left over can join for free (a prompt step would give it a micro-batch of its own).
  if (equal_split > 0 && completing == pending.size() && completing > 0) merge_chunk_levels(plan, equal_split);
  return plan;
}

}  // namespace hearth
