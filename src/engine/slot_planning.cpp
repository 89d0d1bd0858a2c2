#include "engine/slot_planning.h"

#include <algorithm>

namespace hearth {

size_t common_prefix_length(std::span<const Token> a, std::span<const Token> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

SlotChoice choose_slot(std::span<const SlotSnapshot> slots, std::span<const Token> prompt) {
  SlotChoice choice;
  if (prompt.empty()) return choice;
  const size_t cap = prompt.size() - 1;  // always compute at least the last prompt token

  size_t best_free_reuse = 0;
  std::uint64_t best_free_used = 0;
  for (const auto& s : slots) {
    if (s.busy) continue;
    const size_t reuse = std::min(common_prefix_length(s.cached, prompt), cap);
    const bool better = choice.slot < 0 || reuse > best_free_reuse ||
                        (reuse == best_free_reuse && s.last_used < best_free_used);
    if (better) {
      choice.slot = s.id;
      best_free_reuse = reuse;
      best_free_used = s.last_used;
    }
  }
  if (choice.slot < 0) return choice;
  choice.reuse = best_free_reuse;

  for (const auto& s : slots) {
    if (s.id == choice.slot) continue;
    const size_t reuse = std::min(common_prefix_length(s.cached, prompt), cap);
    if (reuse > choice.reuse) {
      choice.reuse = reuse;
      choice.copy_from = s.id;
    }
  }
  return choice;
}

std::vector<PlanEntry> plan_batch(std::span<const PlanInput> slots, size_t n_batch) {
  std::vector<PlanEntry> plan;
  size_t budget = n_batch;
  for (const auto& s : slots) {
    if (s.phase != SlotPhase::kGenerate || budget == 0) continue;
    plan.push_back({s.id, 1, false});
    --budget;
  }
  std::vector<const PlanInput*> prefill;
  for (const auto& s : slots) {
    if (s.phase == SlotPhase::kPrefill && s.prompt_remaining > 0) prefill.push_back(&s);
  }
  std::sort(prefill.begin(), prefill.end(),
            [](const PlanInput* a, const PlanInput* b) { return a->admitted < b->admitted; });
  for (const PlanInput* s : prefill) {
    if (budget == 0) break;
    const size_t n = std::min(budget, s->prompt_remaining);
    plan.push_back({s->id, n, n == s->prompt_remaining});
    budget -= n;
  }
  return plan;
}

}  // namespace hearth
