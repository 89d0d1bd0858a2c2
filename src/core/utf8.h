// UTF-8 helpers for streaming text: never split a character, never emit invalid bytes.
// Thread-safety: Utf8Assembler is a value type used by one thread at a time.
#pragma once

#include <string>
#include <string_view>

namespace hearth {

// Accepts token pieces (arbitrary byte strings) and returns only complete, valid UTF-8.
// An incomplete trailing sequence is held back until the next piece completes it; bytes that
// can never form a valid character are replaced by U+FFFD.
class Utf8Assembler {
 public:
  std::string push(std::string_view bytes);
  // End of stream: whatever is still held cannot complete; it becomes U+FFFD.
  std::string flush();
  bool has_pending() const { return !pending_.empty(); }

 private:
  std::string pending_;
};

// Replaces invalid sequences in `s` by U+FFFD; valid input is returned unchanged.
std::string utf8_sanitize(std::string_view s);
bool utf8_is_valid(std::string_view s);
// Largest n <= s.size() such that s[0, n) ends on a character boundary.
size_t utf8_safe_prefix(std::string_view s, size_t n);

struct Utf8Char {
  char32_t code_point;
  size_t length;  // bytes
};
// The character at byte i (< s.size()); a byte that does not start a valid, complete sequence
// reads as U+FFFD of length 1, as utf8_sanitize replaces it.
Utf8Char utf8_decode(std::string_view s, size_t i);

}  // namespace hearth
