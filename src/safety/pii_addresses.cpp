// The address entities of safety/pii: email addresses, IPv4 and IPv6 addresses.
#include "safety/pii_scan.h"

namespace hearth::safety::detail {
namespace {

constexpr Pos kMaxLocal = 64;    // RFC 5321's limit on the local part
constexpr Pos kMaxDomain = 127;  // generous for real names; bounds what a stream holds back
constexpr Pos kMaxLabel = 63;

bool is_local(int c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
bool is_label(int c) { return is_alnum(c) || c == '-'; }

// The domain starting at `start` (just after '@'): labels of letters, digits and inner hyphens
// joined by dots, at least two, the last (the TLD) of two or more letters. A final '.' not
// followed by a label is the sentence's full stop, not part of the address.
std::optional<Pos> email_domain(const UnitView& v, Pos start) {
  Pos p = start;
  int labels = 0;
  bool tld_ok = false;
  while (true) {
    const Pos label = p;
    bool letters_only = true;
    while (is_label(v.at(p))) {
      letters_only = letters_only && is_alpha(v.at(p));
      if (++p - start > kMaxDomain) return std::nullopt;
    }
    if (p == label || v.at(label) == '-' || v.at(p - 1) == '-' || p - label > kMaxLabel) return std::nullopt;
    ++labels;
    tld_ok = letters_only && p - label >= 2;
    if (v.at(p) != '.' || !is_label(v.at(p + 1))) break;
    ++p;
  }
  if (labels < 2 || !tld_ok || v.at(p) == '@') return std::nullopt;
  return p;
}

// Four dotted decimal parts 0..255 without leading zeros, starting at pos; no boundary checks.
std::optional<Pos> parse_ipv4(const UnitView& v, Pos pos) {
  Pos p = pos;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (v.at(p) != '.') return std::nullopt;
      ++p;
    }
    Pos n = 0;
    int value = 0;
    for (; n < 4 && is_digit(v.at(p + n)); ++n) value = value * 10 + (v.at(p + n) - '0');
    if (n == 0 || n > 3 || value > 255 || (n > 1 && v.at(p) == '0')) return std::nullopt;
    p += n;
  }
  return p;
}

// Up to eight groups of 1..4 hex digits joined by ':', at most one "::", optionally ending in a
// dotted IPv4 address (two groups' worth). The end, if what starts at pos is a valid address.
std::optional<Pos> parse_ipv6(const UnitView& v, Pos pos) {
  Pos p = pos;
  int groups = 0;
  bool compressed = false;
  if (v.at(p) == ':') {
    if (v.at(p + 1) != ':') return std::nullopt;
    compressed = true;
    p += 2;
  }
  while (groups < 8) {
    Pos h = 0;
    while (h < 5 && is_hex(v.at(p + h))) ++h;
    if (h == 0) break;  // only right after "::"
    if (h > 4) return std::nullopt;
    if (v.at(p + h) == '.' && is_digit(v.at(p + h + 1))) {  // the IPv4 tail ends the address (not a full stop)
      const auto end = parse_ipv4(v, p);
      if (!end || groups > 6) return std::nullopt;
      groups += 2;
      p = *end;
      break;
    }
    ++groups;
    p += h;
    if (v.at(p) != ':') break;
    if (v.at(p + 1) == ':') {
      if (compressed) break;  // a second "::": invalid, and the boundary check says so
      compressed = true;
      p += 2;
      continue;
    }
    if (!is_hex(v.at(p + 1))) break;
    ++p;
  }
  if (groups == 0 || (compressed ? groups > 7 : groups != 8)) return std::nullopt;
  return p;
}

}  // namespace

std::optional<Pos> match_email(const UnitView& v, Pos pos) {
  // The local part starts at the start of its run: with a letter, digit or '_'.
  const int c = v.at(pos);
  if ((!is_alnum(c) && c != '_') || is_local(v.at(pos - 1))) return std::nullopt;
  Pos p = pos;
  while (is_local(v.at(p))) {
    if (++p - pos > kMaxLocal) return std::nullopt;
  }
  if (v.at(p) != '@') return std::nullopt;
  return email_domain(v, p + 1);
}

std::optional<Pos> match_ipv4(const UnitView& v, Pos pos) {
  const int before = v.at(pos - 1);
  if (!is_digit(v.at(pos)) || is_alnum(before) || before == '.') return std::nullopt;
  const auto end = parse_ipv4(v, pos);
  if (!end) return std::nullopt;
  // 1.2.3.4.5 is a version, not an address followed by ".5".
  const int after = v.at(*end);
  if (is_alnum(after) || (after == '.' && is_digit(v.at(*end + 1)))) return std::nullopt;
  return end;
}

std::optional<Pos> match_ipv6(const UnitView& v, Pos pos) {
  const int c = v.at(pos);
  const int before = v.at(pos - 1);
  if ((!is_hex(c) && c != ':') || is_alnum(before) || before == ':' || before == '.') return std::nullopt;
  const auto end = parse_ipv6(v, pos);
  if (!end) return std::nullopt;
  const int after = v.at(*end);
  if (is_alnum(after) || after == ':' || (after == '.' && is_digit(v.at(*end + 1)))) return std::nullopt;
  return end;
}

}  // namespace hearth::safety::detail
