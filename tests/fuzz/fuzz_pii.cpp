// libFuzzer: PII detection and redaction (safety/pii.h) on arbitrary bytes. Invariants: matches
// lie inside the text, in order, never overlapping; redact() reports what find_pii() finds for
// the policy's types; a StreamRedactor fed the text cut anywhere (at a seeded stride, and byte by
// byte) returns exactly redact(whole).text with the same matches and blocking, and what it holds
// back stays bounded.
// Input layout: [policy byte][cut seed][text].
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safety/pii.h"

using namespace hearth::safety;

namespace {

// The longest a scanner reads past a position it cannot decide yet (an email: 64 + 1 + 127 + 2
// characters, each at most 4 bytes) plus an incomplete UTF-8 character.
constexpr std::size_t kMaxHeldBytes = 196 * 4 + 3;

RedactionPolicy policy_from(std::uint8_t byte) {
  RedactionPolicy policy;
  policy.hash_secret = "fuzz";
  for (const PiiType t : all_pii_types()) {
    const unsigned shifted = static_cast<unsigned>(byte) >> (static_cast<unsigned>(t) % 4);
    if (shifted % 5 == 4) continue;  // this type is not looked for
    policy.actions[t] = static_cast<PiiAction>((shifted + static_cast<unsigned>(t)) % 4);
  }
  return policy;
}

void check_matches(std::string_view text, const std::vector<PiiMatch>& matches) {
  std::size_t prev = 0;
  for (const auto& m : matches) {
    if (m.begin < prev || m.begin >= m.end || m.end > text.size()) __builtin_trap();
    prev = m.end;
  }
}

struct Streamed {
  std::string text;
  std::vector<PiiMatch> matches;
  bool blocked = false;
};

Streamed stream(std::string_view text, std::size_t step, const RedactionPolicy& policy) {
  StreamRedactor s(policy);
  Streamed out;
  for (std::size_t i = 0; i < text.size(); i += step) {
    out.text += s.push(text.substr(i, step));
    if (s.held_bytes() > kMaxHeldBytes) __builtin_trap();
  }
  out.text += s.finish();
  if (s.held_bytes() != 0) __builtin_trap();
  out.matches = s.matches();
  out.blocked = s.blocked();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const RedactionPolicy policy = policy_from(data[0]);
  const std::size_t step = 1 + data[1] % 13;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  const auto all = find_pii(text);
  check_matches(text, all);

  std::vector<PiiType> types;
  for (const auto& [type, action] : policy.actions) types.push_back(type);
  const auto some = find_pii(text, types);
  check_matches(text, some);
  const Redacted whole = redact(text, policy);
  if (whole.matches != some) __builtin_trap();
  if (whole.blocked != whole.blocked_by.has_value()) __builtin_trap();

  for (const std::size_t s : {step, std::size_t{1}}) {
    const Streamed got = stream(text, s, policy);
    if (got.text != whole.text || got.matches != whole.matches || got.blocked != whole.blocked) __builtin_trap();
  }
  return 0;
}
