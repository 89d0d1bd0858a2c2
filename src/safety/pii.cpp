// safety/pii: the text as units, the scan loop, the replacements, find_pii and redact.
#include "safety/pii.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "core/utf8.h"
#include "safety/pii_scan.h"

namespace hearth::safety {
namespace detail {
namespace {

// Full-width digits, letters and the four signs that occur inside PII (＋ － ． ＠) read as their
// ASCII forms. Not the other full-width punctuation: "IPv6：fe80::1" must not become "IPv6:fe80::1",
// whose colon would glue onto the address.
char32_t fold_width(char32_t c) {
  if ((c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A) || c == 0xFF0B ||
      c == 0xFF0D || c == 0xFF0E || c == 0xFF20) {
    return c - 0xFF00 + 0x20;
  }
  return c;
}

// Whether text[i..] is the start of a character that more bytes could still complete: a lead
// byte announcing more bytes than there are, followed only by continuation bytes.
bool incomplete_tail(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t need = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
                           : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
  if (need == 0 || i + need <= text.size()) return false;
  for (std::size_t k = i + 1; k < text.size(); ++k) {
    if ((static_cast<unsigned char>(text[k]) & 0xC0) != 0x80) return false;
  }
  return true;
}

using Matcher = std::optional<Pos> (*)(const UnitView&, Pos);
// In PiiType order: the index is the type.
constexpr std::array<Matcher, 8> kMatchers = {match_resident_id, match_mobile, match_bank_card, match_uscc,
                                              match_passport,    match_email,  match_ipv4,      match_ipv6};

// Characters a match can start with; everything else is skipped without asking the matchers.
bool may_start(int c) { return is_alnum(c) || c == '+' || c == ':' || c == '_'; }

}  // namespace

UnitView::UnitView(std::string_view text, bool final) : text_(text), final_(final) {
  cps_.reserve(text.size());
  offsets_.reserve(text.size() + 1);
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    Utf8Char ch{b, 1};
    if (b >= 0x80) {
      ch = utf8_decode(text, i);
      // An invalid byte reads as U+FFFD of length 1, as does a character cut by the chunk's end.
      if (ch.length == 1 && !final && incomplete_tail(text, i)) break;
    }
    cps_.push_back(fold_width(ch.code_point));
    offsets_.push_back(i);
    i += ch.length;
  }
  offsets_.push_back(i);
}

unsigned type_mask(const std::vector<PiiType>& types) {
  unsigned mask = 0;
  for (const PiiType t : types) mask |= 1u << static_cast<unsigned>(t);
  return mask;
}

Pos scan_units(const UnitView& v, Pos from, unsigned mask, std::vector<UnitMatch>& out) {
  Pos pos = from;
  while (pos < v.size()) {
    if (!may_start(v.at(pos))) {
      ++pos;
      continue;
    }
    v.clear_needs_more();
    std::optional<UnitMatch> best;
    for (std::size_t t = 0; t < kMatchers.size(); ++t) {
      if ((mask & (1u << t)) == 0) continue;
      const auto end = kMatchers[t](v, pos);
      if (end && (!best || *end > best->end)) best = UnitMatch{static_cast<PiiType>(t), pos, *end};
    }
    if (v.needs_more()) return pos;  // some matcher's answer depends on what has not arrived
    if (best) {
      out.push_back(*best);
      pos = best->end;
    } else {
      ++pos;
    }
  }
  return pos;
}

namespace {

std::string placeholder_name(PiiType type) {
  std::string name = pii_type_name(type);
  for (char& c : name) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return name;
}

// Keeps the first `keep_first` and last `keep_last` letters and digits of the match, stars the
// others, and keeps separators and prefixes as they are.
std::string mask_alnum(const UnitView& v, const UnitMatch& m, Pos keep_first, Pos keep_last) {
  Pos total = 0;
  for (Pos i = m.begin; i < m.end; ++i) total += is_alnum(v.at(i)) ? 1 : 0;
  std::string out;
  Pos k = 0;
  for (Pos i = m.begin; i < m.end; ++i) {
    if (!is_alnum(v.at(i))) {
      out += v.bytes(i, i + 1);
      continue;
    }
    const bool keep = k < keep_first || k >= total - keep_last;
    out += keep ? v.bytes(i, i + 1) : std::string_view("*");
    ++k;
  }
  return out;
}

// The unit just after the n-th (1-based) occurrence of `c` in the match, or its end.
Pos after_nth(const UnitView& v, const UnitMatch& m, int c, int n) {
  for (Pos i = m.begin; i < m.end; ++i) {
    if (v.at(i) == c && --n == 0) return i + 1;
  }
  return m.end;
}

std::string mask(const UnitView& v, const UnitMatch& m) {
  switch (m.type) {
    case PiiType::kCnResidentId: return mask_alnum(v, m, 3, 4);
    case PiiType::kCnMobile: {  // the 4 digits before the last 4, after any country prefix
      Pos digits = 0;
      for (Pos i = m.begin; i < m.end; ++i) digits += is_digit(v.at(i)) ? 1 : 0;
      return mask_alnum(v, m, digits - 8, 4);
    }
    case PiiType::kBankCard: return mask_alnum(v, m, 4, 4);
    case PiiType::kCnUscc: return mask_alnum(v, m, 4, 4);
    case PiiType::kPassport: return mask_alnum(v, m, 1, 3);
    case PiiType::kEmail: {  // the local part's first character; its length is not shown
      const Pos at = after_nth(v, m, '@', 1) - 1;
      return fmt::format("{}***{}", v.bytes(m.begin, m.begin + 1), v.bytes(at, m.end));
    }
    case PiiType::kIpv4: return fmt::format("{}*.*", v.bytes(m.begin, after_nth(v, m, '.', 2)));
    case PiiType::kIpv6: return fmt::format("{}*", v.bytes(m.begin, after_nth(v, m, ':', 2)));
  }
  return fmt::format("[{}]", placeholder_name(m.type));
}

// What is hashed: one spelling per value, so that the same number hashes alike however written.
std::string canonical(const UnitView& v, const UnitMatch& m) {
  std::string out;
  const bool text_like = m.type == PiiType::kEmail || m.type == PiiType::kIpv4 || m.type == PiiType::kIpv6;
  for (Pos i = m.begin; i < m.end; ++i) {
    const int c = v.at(i);
    if (text_like) {
      out += static_cast<char>(is_upper(c) ? c - 'A' + 'a' : c);
    } else if (is_alnum(c)) {
      out += static_cast<char>(is_lower(c) ? c - 'a' + 'A' : c);
    }
  }
  if (m.type == PiiType::kCnMobile && out.size() > 11) out.erase(0, out.size() - 11);  // the prefix
  return out;
}

std::string hashed(const UnitView& v, const UnitMatch& m, const std::string& secret) {
  const std::string value = canonical(v, m);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  const unsigned char* r = HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                                reinterpret_cast<const unsigned char*>(value.data()), value.size(), mac, &n);
  // Without a MAC, the placeholder: never the value itself.
  if (r == nullptr || n < 6) return fmt::format("[{}]", placeholder_name(m.type));
  return fmt::format("[{}:{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}]", placeholder_name(m.type), mac[0], mac[1], mac[2],
                     mac[3], mac[4], mac[5]);
}

std::string replacement(const UnitView& v, const UnitMatch& m, PiiAction action, const std::string& secret) {
  switch (action) {
    case PiiAction::kMask: return mask(v, m);
    case PiiAction::kHash: return hashed(v, m, secret);
    case PiiAction::kPlaceholder:
    case PiiAction::kBlock: break;
  }
  return fmt::format("[{}]", placeholder_name(m.type));
}

}  // namespace

unsigned policy_mask(const RedactionPolicy& policy) {
  unsigned mask = 0;
  for (const auto& [type, action] : policy.actions) mask |= 1u << static_cast<unsigned>(type);
  return mask;
}

void apply_policy(const UnitView& v, Pos from, Pos to, const std::vector<UnitMatch>& found,
                  const RedactionPolicy& policy, std::size_t offset, Redacted& out) {
  Pos p = from;
  for (const UnitMatch& m : found) {
    const auto it = policy.actions.find(m.type);
    const PiiAction action = it == policy.actions.end() ? PiiAction::kPlaceholder : it->second;
    out.text += v.bytes(p, m.begin);
    out.text += replacement(v, m, action, policy.hash_secret);
    out.matches.push_back({m.type, offset + v.byte_begin(m.begin), offset + v.byte_begin(m.end)});
    if (action == PiiAction::kBlock && !out.blocked) {
      out.blocked = true;
      out.blocked_by = m.type;
    }
    p = m.end;
  }
  out.text += v.bytes(p, to);
}

}  // namespace detail

const char* pii_type_name(PiiType type) {
  switch (type) {
    case PiiType::kCnResidentId: return "cn_resident_id";
    case PiiType::kCnMobile: return "cn_mobile";
    case PiiType::kBankCard: return "bank_card";
    case PiiType::kCnUscc: return "cn_uscc";
    case PiiType::kPassport: return "passport";
    case PiiType::kEmail: return "email";
    case PiiType::kIpv4: return "ipv4";
    case PiiType::kIpv6: return "ipv6";
  }
  return "unknown";
}

std::optional<PiiType> pii_type_from_name(std::string_view name) {
  for (const PiiType t : all_pii_types()) {
    if (name == pii_type_name(t)) return t;
  }
  return std::nullopt;
}

const std::vector<PiiType>& all_pii_types() {
  static const std::vector<PiiType> kAll = {PiiType::kCnResidentId, PiiType::kCnMobile, PiiType::kBankCard,
                                            PiiType::kCnUscc,       PiiType::kPassport, PiiType::kEmail,
                                            PiiType::kIpv4,         PiiType::kIpv6};
  return kAll;
}

RedactionPolicy redact_all(PiiAction action, std::string hash_secret) {
  RedactionPolicy policy;
  for (const PiiType t : all_pii_types()) policy.actions[t] = action;
  policy.hash_secret = std::move(hash_secret);
  return policy;
}

std::vector<PiiMatch> find_pii(std::string_view text, const std::vector<PiiType>& types) {
  const detail::UnitView view(text, true);
  std::vector<detail::UnitMatch> found;
  (void)detail::scan_units(view, 0, detail::type_mask(types), found);
  std::vector<PiiMatch> out;
  out.reserve(found.size());
  for (const auto& m : found) out.push_back({m.type, view.byte_begin(m.begin), view.byte_begin(m.end)});
  return out;
}

Redacted redact(std::string_view text, const RedactionPolicy& policy) {
  const detail::UnitView view(text, true);
  std::vector<detail::UnitMatch> found;
  (void)detail::scan_units(view, 0, detail::policy_mask(policy), found);
  Redacted out;
  out.text.reserve(text.size());
  detail::apply_policy(view, 0, view.size(), found, policy, 0, out);
  return out;
}

}  // namespace hearth::safety
