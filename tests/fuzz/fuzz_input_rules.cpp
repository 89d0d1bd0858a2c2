// libFuzzer: input filter rules (safety/input_rules.h) on arbitrary bytes. Invariants: no crash;
// every hit lies inside the text; one rule's hits are in text order and disjoint; blocked exactly
// when the last hit is a block hit of the blocking rule; the text is unchanged unless a redact rule
// hit; valid UTF-8 in gives valid UTF-8 out; and checking the redacted text again finds no redact
// hit of a phrase rule (its phrases share no character with the "[REDACTED:<name>]" markers, so a
// new occurrence could only come from unredacted text, which was searched the first time).
// Input layout: [rule set][surface][text].
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "safety/input_rules.h"

using namespace hearth::safety;

namespace {

RuleSpec spec(std::string name, std::string kind, RuleAction action) {
  RuleSpec s;
  s.name = std::move(name);
  s.kind = std::move(kind);
  s.action = action;
  return s;
}

// Phrases use none of the characters of the markers ("[REDACTED:" + p1/p2/q1... + "]", any case).
const std::vector<std::string> kPhrases = {"foo", "bin go", "内部资料",  "秘密", "zzz",
                                           "o o", "ｆｏｏ", "mx\u3000y", "Ｕ"};

std::vector<InputRules> build_sets() {
  RuleSpec size = spec("s1", "size", RuleAction::kBlock);
  size.max_chars = 300;
  RuleSpec pattern = spec("q1", "pattern", RuleAction::kRedact);
  pattern.patterns = {R"(\d{3,})", R"(sk-[a-z0-9]+)", R"(好\C)", R"(\bkey\b)"};
  RuleSpec phrases = spec("p1", "phrases", RuleAction::kRedact);
  phrases.phrases = kPhrases;
  RuleSpec phrases_chat = phrases;
  phrases_chat.name = "p2";
  phrases_chat.applies_to = {"chat", "upload"};
  RuleSpec pi_flag = spec("i1", "prompt_injection", RuleAction::kFlag);
  RuleSpec sql_flag = spec("k1", "sql_injection", RuleAction::kFlag);
  RuleSpec pi_redact = spec("i2", "prompt_injection", RuleAction::kRedact);
  pi_redact.threshold = 0.4;
  RuleSpec sql_redact = spec("k2", "sql_injection", RuleAction::kRedact);
  RuleSpec pi_block = spec("i3", "prompt_injection", RuleAction::kBlock);
  RuleSpec sql_block = spec("k3", "sql_injection", RuleAction::kBlock);
  RuleSpec phrase_block = spec("p3", "phrases", RuleAction::kBlock);
  phrase_block.phrases = {"zzz"};
  std::vector<std::vector<RuleSpec>> sets = {
      {size, pattern, phrases, pi_flag, sql_flag},
      {phrases_chat, pattern, pi_redact, sql_redact, phrases},
      {phrase_block, pattern, pi_block, phrases, sql_block, size},
      {pi_redact, sql_redact, pattern},
  };
  std::vector<InputRules> out;
  for (const auto& s : sets) {
    auto r = InputRules::build(s);
    if (!r.ok()) __builtin_trap();
    out.push_back(std::move(r).value());
  }
  return out;
}

bool is_phrase_rule(std::string_view name) { return name == "p1" || name == "p2" || name == "p3"; }

void check_hits(std::string_view text, const InputCheck& c) {
  bool any_redact = false;
  for (std::size_t i = 0; i < c.hits.size(); ++i) {
    const RuleHit& h = c.hits[i];
    if (h.begin >= h.end || h.end > text.size()) __builtin_trap();
    if (i > 0 && c.hits[i - 1].rule == h.rule && c.hits[i - 1].end >= h.begin) __builtin_trap();
    any_redact = any_redact || h.action == RuleAction::kRedact;
  }
  if (c.blocked) {
    if (c.hits.empty() || c.hits.back().rule != c.blocking_rule || c.hits.back().action != RuleAction::kBlock) {
      __builtin_trap();
    }
  } else {
    if (!c.blocking_rule.empty()) __builtin_trap();
    for (const RuleHit& h : c.hits) {
      if (h.action == RuleAction::kBlock) __builtin_trap();
    }
  }
  if (!any_redact && c.text != text) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<InputRules> sets = build_sets();
  static const std::vector<std::string> surfaces = {"chat", "completion", "query", "upload", "other"};
  if (size < 2) return 0;
  const InputRules& rules = sets[data[0] % sets.size()];
  const std::string& surface = surfaces[data[1] % surfaces.size()];
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  const InputCheck first = rules.check(text, surface);
  check_hits(text, first);
  if (hearth::utf8_is_valid(text) && !hearth::utf8_is_valid(first.text)) __builtin_trap();
  if (first.blocked) return 0;  // the rules after the blocking one did not run

  const InputCheck again = rules.check(first.text, surface);
  check_hits(first.text, again);
  for (const RuleHit& h : again.hits) {
    if (h.action == RuleAction::kRedact && is_phrase_rule(h.rule)) __builtin_trap();
  }
  return 0;
}
