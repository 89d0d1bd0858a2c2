#include "core/utf8.h"

namespace hearth {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length a lead byte announces, or 0 if it cannot start a character.
int lead_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

// Whether byte `c` may appear at offset `i` (>= 1) of a sequence led by `lead` (RFC 3629 table).
bool continuation_ok(unsigned char lead, size_t i, unsigned char c) {
  if (i == 1) {
    switch (lead) {
      case 0xE0: return c >= 0xA0 && c <= 0xBF;
      case 0xED: return c >= 0x80 && c <= 0x9F;
      case 0xF0: return c >= 0x90 && c <= 0xBF;
      case 0xF4: return c >= 0x80 && c <= 0x8F;
      default: break;
    }
  }
  return c >= 0x80 && c <= 0xBF;
}

enum class Scan { kComplete, kIncomplete, kInvalid };

// Examines the sequence starting at s[i]; sets len to its length when complete.
Scan scan_at(std::string_view s, size_t i, size_t& len) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const int n = lead_length(lead);
  if (n == 0) return Scan::kInvalid;
  for (size_t k = 1; k < static_cast<size_t>(n); ++k) {
    if (i + k >= s.size()) return Scan::kIncomplete;
    if (!continuation_ok(lead, k, static_cast<unsigned char>(s[i + k]))) return Scan::kInvalid;
  }
  len = static_cast<size_t>(n);
  return Scan::kComplete;
}

}  // namespace

Utf8Char utf8_decode(std::string_view s, size_t i) {
  size_t len = 0;
  if (scan_at(s, i, len) != Scan::kComplete) return {0xFFFD, 1};
  const auto b0 = static_cast<unsigned char>(s[i]);
  char32_t cp = len == 1 ? b0 : b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return {cp, len};
}

std::string Utf8Assembler::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  out.reserve(pending_.size());
  size_t i = 0;
  while (i < pending_.size()) {
    size_t len = 0;
    const Scan s = scan_at(pending_, i, len);
    if (s == Scan::kComplete) {
      out.append(pending_, i, len);
      i += len;
    } else if (s == Scan::kIncomplete) {
      break;
    } else {
      out.append(kReplacement);
      i += 1;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8Assembler::flush() {
  std::string out;
  while (!pending_.empty()) {
    out += push({});
    if (!pending_.empty()) {  // incomplete tail that will never complete
      out.append(kReplacement);
      pending_.erase(0, 1);
    }
  }
  return out;
}

std::string utf8_sanitize(std::string_view s) {
  Utf8Assembler a;
  std::string out = a.push(s);
  out += a.flush();
  return out;
}

bool utf8_is_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    if (scan_at(s, i, len) != Scan::kComplete) return false;
    i += len;
  }
  return true;
}

size_t utf8_safe_prefix(std::string_view s, size_t n) {
  if (n >= s.size()) return s.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

}  // namespace hearth
