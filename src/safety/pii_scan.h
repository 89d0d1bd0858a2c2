// Internals of safety/pii: the text as the scanners see it, the per-entity matchers and the scan
// loop shared by find_pii, redact and StreamRedactor. Not part of the library's API.
//
// The one idea that makes streaming exact: a matcher reads the text only through UnitView::at(),
// and a read past the end of a text that is not complete yet marks the view as "needs more". A
// matcher's answer is a function of the characters it read, so an answer given without that mark
// is the answer the whole text will give; with it, the scan stops there and the stream holds the
// rest back until more input (or the end) arrives.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "safety/pii.h"

namespace hearth::safety::detail {

using Pos = std::ptrdiff_t;  // a character index; signed so that pos - 1 at 0 is simply "before"

// What at() returns outside the text, and for a character no scanner cares about.
constexpr int kEdge = -1;
constexpr int kOther = 0x80;

// The most characters any matcher reads before its start (the passport context window), and what
// the stream keeps of emitted text so that look-behind sees exactly what the whole text has.
constexpr Pos kPassportContext = 32;
constexpr Pos kHistoryUnits = 64;
static_assert(kHistoryUnits > kPassportContext + 2);

// One unit per character of UTF-8 text. Full-width digits and letters read as ASCII; every other
// non-ASCII character (and every invalid byte, as one unit each) reads as kOther.
class UnitView {
 public:
  // `final`: the text is complete. Otherwise a trailing incomplete UTF-8 sequence is not decoded
  // (it may still become a character), and reads at or past size() set needs_more().
  UnitView(std::string_view text, bool final);

  Pos size() const { return static_cast<Pos>(cps_.size()); }
  int at(Pos i) const {
    if (i >= 0 && i < size()) {
      const char32_t c = cps_[static_cast<std::size_t>(i)];
      return c < 0x80 ? static_cast<int>(c) : kOther;
    }
    if (i >= size() && !final_) more_ = true;
    return kEdge;
  }
  // The (normalised) code point; 0 outside the text. For context words only.
  char32_t code_point(Pos i) const { return i < 0 || i >= size() ? 0 : cps_[static_cast<std::size_t>(i)]; }
  // Byte offset of unit i in the text; byte_begin(size()) is the end of the decoded bytes.
  std::size_t byte_begin(Pos i) const { return offsets_[static_cast<std::size_t>(i)]; }
  std::string_view bytes(Pos begin, Pos end) const {
    return text_.substr(byte_begin(begin), byte_begin(end) - byte_begin(begin));
  }

  bool needs_more() const { return more_; }
  void clear_needs_more() const { more_ = false; }

 private:
  std::string_view text_;
  std::vector<char32_t> cps_;
  std::vector<std::size_t> offsets_;
  bool final_;
  mutable bool more_ = false;
};

inline bool is_digit(int c) { return c >= '0' && c <= '9'; }
inline bool is_upper(int c) { return c >= 'A' && c <= 'Z'; }
inline bool is_lower(int c) { return c >= 'a' && c <= 'z'; }
inline bool is_alpha(int c) { return is_upper(c) || is_lower(c); }
inline bool is_alnum(int c) { return is_digit(c) || is_alpha(c); }
inline bool is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Each matcher: the end of the match of its type that starts exactly at `pos`, if there is one.
// Number-like entities (pii_numbers.cpp):
std::optional<Pos> match_resident_id(const UnitView& v, Pos pos);
std::optional<Pos> match_mobile(const UnitView& v, Pos pos);
std::optional<Pos> match_bank_card(const UnitView& v, Pos pos);
std::optional<Pos> match_uscc(const UnitView& v, Pos pos);
std::optional<Pos> match_passport(const UnitView& v, Pos pos);
// Addresses (pii_addresses.cpp):
std::optional<Pos> match_email(const UnitView& v, Pos pos);
std::optional<Pos> match_ipv4(const UnitView& v, Pos pos);
std::optional<Pos> match_ipv6(const UnitView& v, Pos pos);

// Validators, exposed for the tests' generators and checks.
bool resident_id_check_ok(std::string_view id18);  // 17 digits + check char; X or x
bool luhn_ok(std::string_view digits);
bool uscc_check_ok(std::string_view code18);

struct UnitMatch {
  PiiType type;
  Pos begin, end;
};

// A set of PiiType as bits, in PiiType order.
unsigned type_mask(const std::vector<PiiType>& types);

// Scans from `from` left to right, appending matches of the types in `mask`. Returns where it
// stopped: v.size(), or (for a text that is not final) the first position whose decision needs
// more input; everything before it is decided.
Pos scan_units(const UnitView& v, Pos from, unsigned mask, std::vector<UnitMatch>& out);

// The types a policy names, as a mask.
unsigned policy_mask(const RedactionPolicy& policy);

// Appends units [from, to) of `v` to out.text with the matches in `found` (inside the range, in
// order) replaced as the policy says; the matches go to out.matches as byte offsets plus
// `offset`, and the first blocking one to out.blocked / out.blocked_by.
void apply_policy(const UnitView& v, Pos from, Pos to, const std::vector<UnitMatch>& found,
                  const RedactionPolicy& policy, std::size_t offset, Redacted& out);

}  // namespace hearth::safety::detail
