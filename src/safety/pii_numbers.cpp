// The number-like entities of safety/pii: resident IDs, mobile numbers, bank cards, unified social
// credit codes and passports, each with the validation that turns away near misses (a wrong check
// character, an impossible date, an unknown card network, a missing context word).
#include <algorithm>
#include <array>
#include <chrono>
#include <string>

#include "safety/pii_scan.h"

namespace hearth::safety::detail {
namespace {

// A token boundary on the left: no letter or digit right before.
bool left_clear(const UnitView& v, Pos pos) { return !is_alnum(v.at(pos - 1)); }

// Appends the `n` digits at pos to `out`; false at the first non-digit.
bool read_digits(const UnitView& v, Pos pos, Pos n, std::string& out) {
  for (Pos i = 0; i < n; ++i) {
    const int c = v.at(pos + i);
    if (!is_digit(c)) return false;
    out += static_cast<char>(c);
  }
  return true;
}

// Consecutive digits from pos, counting at most `limit`: reading stops there, so that a long run
// costs nothing and (in a stream) needs no more input than the limit.
Pos count_digits(const UnitView& v, Pos pos, Pos limit) {
  Pos n = 0;
  while (n < limit && is_digit(v.at(pos + n))) ++n;
  return n;
}

int two_digits(std::string_view s, std::size_t i) { return (s[i] - '0') * 10 + (s[i + 1] - '0'); }

// ---- resident ID ----

// The province-level codes of GB/T 2260 (81..83: Hong Kong, Macao and Taiwan residents' permits).
bool province_ok(int code) {
  static constexpr std::array<int, 35> kCodes = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34,
                                                 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
                                                 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83};
  return std::find(kCodes.begin(), kCodes.end(), code) != kCodes.end();
}

// A real calendar date from 1900-01-01 to today: a birth date.
bool birth_date_ok(std::string_view yyyymmdd) {
  using namespace std::chrono;
  const int y = two_digits(yyyymmdd, 0) * 100 + two_digits(yyyymmdd, 2);
  const auto m = static_cast<unsigned>(two_digits(yyyymmdd, 4));
  const auto d = static_cast<unsigned>(two_digits(yyyymmdd, 6));
  const year_month_day date{year{y}, month{m}, day{d}};
  if (y < 1900 || !date.ok()) return false;
  return date <= year_month_day{floor<days>(system_clock::now())};
}

// ---- mobile ----

// The 11-digit body at p: contiguous, or 3-4-4 split by one kind of separator (space or hyphen).
// `prefixed`: a country prefix precedes it (and the left side is already checked).
std::optional<Pos> mobile_body(const UnitView& v, Pos p, bool prefixed) {
  const int second = v.at(p + 1);
  if (v.at(p) != '1' || second < '3' || second > '9' || !is_digit(v.at(p + 2))) return std::nullopt;
  const int sep = v.at(p + 3);
  if (is_digit(sep)) {
    if (count_digits(v, p, 12) != 11 || is_alpha(v.at(p + 11))) return std::nullopt;
    return p + 11;
  }
  if (sep != ' ' && sep != '-') return std::nullopt;
  if (count_digits(v, p + 4, 5) != 4 || v.at(p + 8) != sep || count_digits(v, p + 9, 5) != 4) return std::nullopt;
  const Pos end = p + 13;
  // Split numbers: a separator and another digit on either side make it part of a longer list.
  if (is_alpha(v.at(end)) || (v.at(end) == sep && is_digit(v.at(end + 1)))) return std::nullopt;
  const int before = v.at(p - 1);
  if (!prefixed && (before == ' ' || before == '-') && is_digit(v.at(p - 2))) return std::nullopt;
  return end;
}

// ---- bank card ----

// The network a card number's prefix names, and the lengths that network issues.
bool card_network_ok(std::string_view d) {
  const std::size_t n = d.size();
  const int p2 = two_digits(d, 0);
  const int p4 = p2 * 100 + two_digits(d, 2);
  if (p2 == 62) return n >= 16 && n <= 19;                                    // UnionPay
  if (d[0] == '4') return n == 13 || n == 16 || n == 19;                      // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;  // Mastercard
  if (p2 == 34 || p2 == 37) return n == 15;                                   // Amex
  if (p2 == 35) return n >= 16 && n <= 19;                                    // JCB
  return false;
}

// Groups of 4 digits and at most one shorter last group (4-4-4-4, 4-4-4-4-3), or Amex's 4-6-5,
// split by one kind of separator. The digits go to `digits`.
std::optional<Pos> grouped_card(const UnitView& v, Pos pos, std::string& digits) {
  const int sep = v.at(pos + 4);
  if ((sep != ' ' && sep != '-') || !read_digits(v, pos, 4, digits)) return std::nullopt;
  Pos p = pos + 4;
  if (count_digits(v, p + 1, 7) == 6) {  // Amex 4-6-5
    if (v.at(p + 7) != sep || count_digits(v, p + 8, 6) != 5) return std::nullopt;
    if (!read_digits(v, p + 1, 6, digits) || !read_digits(v, p + 8, 5, digits)) return std::nullopt;
    p += 13;
  } else {
    while (v.at(p) == sep && is_digit(v.at(p + 1))) {
      const Pos g = count_digits(v, p + 1, 5);
      if (g > 4 || static_cast<Pos>(digits.size()) + g > 19) return std::nullopt;
      if (!read_digits(v, p + 1, g, digits)) return std::nullopt;
      p += 1 + g;
      if (g < 4) break;  // a short group ends the number
    }
  }
  if (is_alpha(v.at(p)) || (v.at(p) == sep && is_digit(v.at(p + 1)))) return std::nullopt;
  return p;
}

// ---- unified social credit code ----

constexpr std::string_view kUsccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY";  // value = index

int uscc_value(int c) {
  if (c < 0 || c >= 0x80) return -1;
  const auto i = kUsccChars.find(static_cast<char>(c));
  return i == std::string_view::npos ? -1 : static_cast<int>(i);
}

// ---- passport ----

// Whether `word` (lower-case) starts at unit i, ASCII letters compared in any case.
bool word_at(const UnitView& v, Pos i, std::u32string_view word) {
  for (std::size_t k = 0; k < word.size(); ++k) {
    const Pos u = i + static_cast<Pos>(k);
    if (v.at(u) == kEdge) return false;  // (a read past a stream's end: it marks the view)
    char32_t c = v.code_point(u);
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (c != word[k]) return false;
  }
  return true;
}

// "passport" (any case), 护照 or 護照 in the kPassportContext characters before the number at
// [pos, end), or starting in the kPassportContext characters after it.
bool passport_context(const UnitView& v, Pos pos, Pos end) {
  static constexpr std::array<std::u32string_view, 3> kWords = {U"passport", U"\u62a4\u7167", U"\u8b77\u7167"};
  for (Pos i = std::max<Pos>(0, pos - kPassportContext); i < pos; ++i) {
    for (const auto word : kWords) {
      if (i + static_cast<Pos>(word.size()) <= pos && word_at(v, i, word)) return true;
    }
  }
  for (Pos i = end; i < end + kPassportContext; ++i) {
    if (v.at(i) == kEdge) return false;
    for (const auto word : kWords) {
      if (word_at(v, i, word)) return true;
    }
  }
  return false;
}

}  // namespace

bool resident_id_check_ok(std::string_view id) {
  static constexpr std::array<int, 17> kWeights = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr std::string_view kCheck = "10X98765432";
  if (id.size() != 18) return false;
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) {
    if (!is_digit(id[i])) return false;
    sum += (id[i] - '0') * kWeights[i];
  }
  const char last = id[17] == 'x' ? 'X' : id[17];
  return last == kCheck[static_cast<std::size_t>(sum % 11)];
}

bool luhn_ok(std::string_view digits) {
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (!is_digit(*it)) return false;
    int d = *it - '0';
    if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    twice = !twice;
  }
  return !digits.empty() && sum % 10 == 0;
}

bool uscc_check_ok(std::string_view code) {
  static constexpr std::array<int, 17> kWeights = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
  if (code.size() != 18) return false;
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) {
    const int value = uscc_value(code[i]);
    if (value < 0) return false;
    sum += value * kWeights[i];
  }
  return uscc_value(code[17]) == (31 - sum % 31) % 31;
}

std::optional<Pos> match_resident_id(const UnitView& v, Pos pos) {
  if (!is_digit(v.at(pos)) || !left_clear(v, pos)) return std::nullopt;
  std::string id;
  if (!read_digits(v, pos, 6, id)) return std::nullopt;
  // Contiguous, or written 6-8-4 (region, birth date, rest) with one kind of separator.
  const int sep = v.at(pos + 6);
  const bool split = (sep == ' ' || sep == '-') && is_digit(v.at(pos + 7));
  const Pos date_at = pos + (split ? 7 : 6);
  const Pos rest_at = date_at + (split ? 9 : 8);
  if (!read_digits(v, date_at, 8, id) || (split && v.at(rest_at - 1) != sep)) return std::nullopt;
  if (!read_digits(v, rest_at, 3, id)) return std::nullopt;
  const int last = v.at(rest_at + 3);
  if (!is_digit(last) && last != 'X' && last != 'x') return std::nullopt;
  id += static_cast<char>(last);
  const Pos end = rest_at + 4;
  if (is_alnum(v.at(end))) return std::nullopt;
  if (split && ((v.at(end) == sep && is_digit(v.at(end + 1))) || (v.at(pos - 1) == sep && is_digit(v.at(pos - 2))))) {
    return std::nullopt;  // one group in a longer list of digit groups
  }
  if (!province_ok(two_digits(id, 0)) || !birth_date_ok(std::string_view(id).substr(6, 8))) return std::nullopt;
  if (!resident_id_check_ok(id)) return std::nullopt;
  return end;
}

std::optional<Pos> match_mobile(const UnitView& v, Pos pos) {
  const int c = v.at(pos);
  if ((c != '+' && !is_digit(c)) || !left_clear(v, pos)) return std::nullopt;
  Pos p = pos;
  if (c == '+') {
    if (v.at(pos + 1) != '8' || v.at(pos + 2) != '6') return std::nullopt;
    p = pos + 3;
  } else if (c == '0' && v.at(pos + 1) == '0' && v.at(pos + 2) == '8' && v.at(pos + 3) == '6') {
    p = pos + 4;
  } else if (c == '8' && v.at(pos + 1) == '6') {
    p = pos + 2;
  } else if (c != '1') {
    return std::nullopt;
  }
  if (p != pos && (v.at(p) == ' ' || v.at(p) == '-')) ++p;
  return mobile_body(v, p, p != pos);
}

std::optional<Pos> match_bank_card(const UnitView& v, Pos pos) {
  if (!is_digit(v.at(pos)) || !left_clear(v, pos)) return std::nullopt;
  std::string digits;
  Pos end = 0;
  const Pos run = count_digits(v, pos, 20);
  if (run >= 13) {
    if (run > 19 || is_alpha(v.at(pos + run)) || !read_digits(v, pos, run, digits)) return std::nullopt;
    end = pos + run;
  } else if (run == 4) {
    const auto grouped = grouped_card(v, pos, digits);
    if (!grouped) return std::nullopt;
    end = *grouped;
  } else {
    return std::nullopt;
  }
  if (digits.size() < 13 || !card_network_ok(digits) || !luhn_ok(digits)) return std::nullopt;
  return end;
}

std::optional<Pos> match_uscc(const UnitView& v, Pos pos) {
  const int authority = v.at(pos);
  const bool authority_ok = (authority >= '1' && authority <= '9') || authority == 'A' || authority == 'N' ||
                            authority == 'Y';
  const int category = v.at(pos + 1);
  if (!authority_ok || !left_clear(v, pos) || category < '1' || category > '9') return std::nullopt;
  std::string code;
  for (Pos i = 0; i < 18; ++i) {
    const int c = v.at(pos + i);
    // Characters 3..8 are the registering body's region code: digits.
    if (uscc_value(c) < 0 || (i >= 2 && i < 8 && !is_digit(c))) return std::nullopt;
    code += static_cast<char>(c);
  }
  if (is_alnum(v.at(pos + 18)) || !uscc_check_ok(code)) return std::nullopt;
  return pos + 18;
}

std::optional<Pos> match_passport(const UnitView& v, Pos pos) {
  const int c = v.at(pos);
  if ((c != 'E' && c != 'G') || !left_clear(v, pos)) return std::nullopt;
  const int second = v.at(pos + 1);
  Pos digits_at = pos + 1;
  Pos n = 8;
  if (!is_digit(second)) {  // E + letter + 7 digits (the letter never I or O)
    if (c != 'E' || !is_upper(second) || second == 'I' || second == 'O') return std::nullopt;
    digits_at = pos + 2;
    n = 7;
  }
  if (count_digits(v, digits_at, n + 1) != n || is_alpha(v.at(digits_at + n))) return std::nullopt;
  if (!passport_context(v, pos, pos + 9)) return std::nullopt;
  return pos + 9;
}

}  // namespace hearth::safety::detail
