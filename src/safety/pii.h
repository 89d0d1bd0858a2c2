// Personal data (PII) in Chinese and English text: detection, redaction, and redaction of a
// stream that arrives in arbitrary chunks (a model's output).
//
// Detection is hand-written scanners, no regular expressions: std::regex is slow and recurses per
// character (a long input can overflow the stack), and every entity here needs a validation step
// a pattern cannot express anyway (a check digit, a calendar date, an octet <= 255). Each entity is
// validated so that near misses are not reported:
//   cn_resident_id  18 chars: province code (11..15, 21..23, 31..37, 41..46, 50..54, 61..65, 71,
//                   81..83), a real birth date from 1900 to today, ISO 7064 MOD 11-2 check
//                   character (X or x); contiguous or written 6-8-4 with spaces or hyphens.
//   cn_mobile       1[3-9] + 9 digits, contiguous or 3-4-4 split by single spaces or hyphens,
//                   optionally after +86, 0086 or 86 (and one space or hyphen); the prefix is part
//                   of the match.
//   bank_card       13..19 digits, contiguous or in groups of 4 (Amex also 4-6-5) split by spaces
//                   or hyphens, passing Luhn, with a known network prefix and a length that
//                   network issues: UnionPay 62 (16..19), Visa 4 (13, 16, 19), Mastercard 51..55
//                   and 2221..2720 (16), Amex 34/37 (15), JCB 35 (16..19).
//   cn_uscc         18 chars of 0-9 A-H J-N P-R T U W-Y: registering authority 1-9/A/N/Y, a category
//                   digit 1-9, a 6-digit region code, GB 32100-2015 check character (mod 31).
//   passport        Chinese passports: E or G + 8 digits, or E + letter (not I/O) + 7 digits, and
//                   ONLY when "passport" (any case) or 护照/護照 appears in the 32 characters
//                   before it or starts in the 32 after it: bare, the pattern is an order or
//                   invoice number far more often. (A stream holds such a number until the 32
//                   characters after it have arrived.)
//   email           local part (<= 64 chars of A-Z a-z 0-9 . _ % + -, starting with a letter, digit
//                   or _) @ domain (<= 127 chars, >= 2 labels, letters-only TLD of >= 2 letters).
//   ipv4            dotted quad, each part 0..255 without leading zeros, not inside a longer dotted
//                   or alphanumeric sequence (so 1.2.3.4.5 and v1.2.3.4 are not addresses).
//   ipv6            full and :: compressed forms, also with an embedded IPv4 tail; must parse.
// Every match is a whole token: a letter or digit right before or after it (for the split forms:
// a separator followed by another digit) means it is part of something longer, and it is dropped
// (so "Tel13812345678" is not reported either). Full-width digits and letters (０-９, Ａ-Ｚ, ａ-ｚ)
// and ＋ － ． ＠, common in Chinese text, count as their ASCII forms; offsets are always byte
// offsets in the original UTF-8 text. Overlapping candidates: scanning goes left to right, the
// longest match starting at a position wins (ties: the order of PiiType), and scanning resumes
// after it. Known limit: a four-part section or build number (第2.7.2.4节, Build 7.4.4.7) reads as
// an IPv4 address; only five or more parts are told apart.
//
// Thread-safety: the free functions are thread-safe (they read only their arguments and the
// date, for "born by today"). A StreamRedactor is a value used by one thread at a time.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::safety {

enum class PiiType { kCnResidentId, kCnMobile, kBankCard, kCnUscc, kPassport, kEmail, kIpv4, kIpv6 };

const char* pii_type_name(PiiType type);  // "cn_resident_id", "cn_mobile", ...
std::optional<PiiType> pii_type_from_name(std::string_view name);
const std::vector<PiiType>& all_pii_types();  // in PiiType order

struct PiiMatch {
  PiiType type;
  std::size_t begin, end;  // byte offsets in the UTF-8 text
  bool operator==(const PiiMatch&) const = default;
};

// The matches of `types`, in text order, never overlapping.
std::vector<PiiMatch> find_pii(std::string_view text, const std::vector<PiiType>& types = all_pii_types());

// What replaces a match:
//   kMask         keeps a few characters: 110***********1234, 138****5678 (+86 138 **** 5678),
//                 6222 **** **** 7890, E*****678, a***@example.com, 192.168.*.*, 2001:db8:*.
//   kPlaceholder  [CN_MOBILE]
//   kHash         [CN_MOBILE:<first 12 hex digits of HMAC-SHA256(hash_secret, canonical value)>];
//                 the canonical value drops separators, prefixes and case (+86 138-1234-5678 and
//                 13812345678 hash alike), so one person's number can be followed across logs
//                 without being readable.
//   kBlock        the caller refuses the request; redact() reports it (blocked, blocked_by) and
//                 still replaces the match by its placeholder so it can never leak.
enum class PiiAction { kMask, kPlaceholder, kHash, kBlock };

// Only the types listed in `actions` are looked for; an empty policy changes nothing.
struct RedactionPolicy {
  std::map<PiiType, PiiAction> actions;
  std::string hash_secret;
};
// Every type with the same action.
RedactionPolicy redact_all(PiiAction action, std::string hash_secret = {});

struct Redacted {
  std::string text;
  std::vector<PiiMatch> matches;  // offsets in the input
  bool blocked = false;
  std::optional<PiiType> blocked_by;  // the first blocking match's type
};

Redacted redact(std::string_view text, const RedactionPolicy& policy);

// Redacts text that arrives in chunks of any size, split anywhere (even inside a UTF-8
// character). The concatenation of everything push() and finish() return equals
// redact(whole input).text for every split of the input.
//
// push() emits at once everything whose fate is decided and holds back the rest: from the first
// position where a match could still start or grow with more input (a digit, '+', or ASCII word
// that has not ended yet: "hello" may become hello@example.com; a digit run that may go on; an
// incomplete UTF-8 character). Text that cannot be part of a match (Chinese characters,
// punctuation, spaces after a word) passes through without delay. What is held is bounded by the
// longest stretch a scanner may read (an email: 64 + 1 + 127 characters), so delay and memory are
// bounded too.
class StreamRedactor {
 public:
  explicit StreamRedactor(RedactionPolicy policy);

  std::string push(std::string_view chunk);
  // End of input: flushes what was held. Call once; a push() after it drops its chunk.
  std::string finish();

  const std::vector<PiiMatch>& matches() const { return matches_; }  // offsets in the input stream
  bool blocked() const { return blocked_by_.has_value(); }
  std::optional<PiiType> blocked_by() const { return blocked_by_; }
  std::size_t held_bytes() const { return pending_.size(); }  // input not yet emitted

 private:
  std::string advance(bool final);

  RedactionPolicy policy_;
  // The last characters already emitted, kept for look-behind (a word or digit before a
  // candidate, the passport context word); always whole characters of the input.
  std::string history_;
  std::size_t history_units_ = 0;
  std::string pending_;            // input not yet emitted
  std::size_t pending_offset_ = 0;  // stream offset of pending_[0]
  std::vector<PiiMatch> matches_;
  std::optional<PiiType> blocked_by_;
  bool finished_ = false;
};

}  // namespace hearth::safety
