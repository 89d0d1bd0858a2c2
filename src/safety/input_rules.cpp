// safety/input_rules: validation of rule specs (from code or JSON), compilation, and check() with
// its redaction. Thread-safety: see input_rules.h.
#include "safety/input_rules.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/utf8.h"
#include "safety/input_scan.h"

namespace hearth::safety {
namespace {

using detail::Span;

enum class Kind { kPattern, kPhrases, kSize, kPromptInjection, kSqlInjection };

constexpr std::array<std::string_view, 5> kKindNames = {"pattern", "phrases", "size", "prompt_injection",
                                                        "sql_injection"};
constexpr std::array<std::string_view, 4> kSurfaces = {"chat", "completion", "query", "upload"};
constexpr std::size_t kMaxNameBytes = 64;

std::optional<Kind> kind_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<Kind>(i);
  }
  return std::nullopt;
}

// Bit per surface; 0 for an unknown one.
unsigned surface_bit(std::string_view surface) {
  for (std::size_t i = 0; i < kSurfaces.size(); ++i) {
    if (kSurfaces[i] == surface) return 1u << i;
  }
  return 0;
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Widens [begin, end) to character boundaries: a position at a byte that is not a continuation
// byte starts a character (or is an invalid byte standing alone) in every decoding of the text.
Span snap(std::string_view text, Span s) {
  while (s.begin > 0 && s.begin < text.size() && is_continuation(text[s.begin])) --s.begin;
  while (s.end < text.size() && is_continuation(text[s.end])) ++s.end;
  return s;
}

// ---- validation ----

// "input_rules[2] \"no-secrets\": "
std::string where(std::size_t index, std::string_view name) {
  return name.empty() ? fmt::format("input_rules[{}]: ", index) : fmt::format("input_rules[{}] \"{}\": ", index, name);
}

Error spec_error(std::size_t index, std::string_view name, std::string_view field, std::string_view what) {
  std::string param = fmt::format("input_rules[{}]", index);
  if (!field.empty()) param += fmt::format(".{}", field);
  return invalid_argument(where(index, name) + std::string(what), std::move(param));
}

Status validate_name(std::size_t index, const std::string& name) {
  if (name.empty()) return spec_error(index, name, "name", "missing name");
  const bool ok_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
  if (!ok_chars || name.size() > kMaxNameBytes) {
    return spec_error(
        index, {}, "name",
        fmt::format("name \"{}\" must be 1 to {} of A-Z a-z 0-9 _ - .", utf8_sanitize(name), kMaxNameBytes));
  }
  return {};
}

Status validate_lists(std::size_t index, const RuleSpec& spec, Kind kind) {
  const auto err = [&](std::string_view field, std::string_view what) {
    return spec_error(index, spec.name, field, what);
  };
  if (kind == Kind::kPattern) {
    if (spec.patterns.empty()) return err("patterns", "a pattern rule needs a non-empty \"patterns\" list");
    for (std::size_t i = 0; i < spec.patterns.size(); ++i) {
      const std::string field = fmt::format("patterns[{}]", i);
      if (spec.patterns[i].empty()) return err(field, "empty pattern");
      if (spec.patterns[i].size() > kMaxPatternBytes) {
        return err(field, fmt::format("pattern longer than {} bytes", kMaxPatternBytes));
      }
      if (!utf8_is_valid(spec.patterns[i])) return err(field, "pattern is not valid UTF-8");
    }
  } else if (!spec.patterns.empty()) {
    return err("patterns", "\"patterns\" applies only to kind \"pattern\"");
  }
  if (kind == Kind::kPhrases) {
    if (spec.phrases.empty()) return err("phrases", "a phrases rule needs a non-empty \"phrases\" list");
    for (std::size_t i = 0; i < spec.phrases.size(); ++i) {
      const std::string field = fmt::format("phrases[{}]", i);
      if (!utf8_is_valid(spec.phrases[i])) return err(field, "phrase is not valid UTF-8");
      if (detail::fold_phrase(spec.phrases[i]).empty()) return err(field, "empty phrase (nothing but whitespace)");
    }
  } else if (!spec.phrases.empty()) {
    return err("phrases", "\"phrases\" applies only to kind \"phrases\"");
  }
  return {};
}

Status validate_kind_fields(std::size_t index, const RuleSpec& spec, Kind kind) {
  const auto err = [&](std::string_view field, std::string_view what) {
    return spec_error(index, spec.name, field, what);
  };
  if (kind == Kind::kSize) {
    if (spec.max_bytes == 0 && spec.max_chars == 0) return err("max_bytes", "a size rule needs max_bytes or max_chars");
    if (spec.action != RuleAction::kBlock) {
      return err("action", fmt::format("a size rule can only block, not {}", rule_action_name(spec.action)));
    }
  } else if (spec.max_bytes != 0 || spec.max_chars != 0) {
    return err(spec.max_bytes != 0 ? "max_bytes" : "max_chars", "max_bytes and max_chars apply only to kind \"size\"");
  }
  if (kind == Kind::kPromptInjection) {
    if (!std::isfinite(spec.threshold) || spec.threshold < 0) {
      return err("threshold", "threshold must be a positive number (0 or absent: the default)");
    }
  } else if (spec.threshold != 0) {
    return err("threshold", "threshold applies only to kind \"prompt_injection\"");
  }
  if (!spec.case_insensitive && kind != Kind::kPattern) {
    return err("case_insensitive", "case_insensitive applies only to kind \"pattern\" (phrases always ignore case)");
  }
  for (std::size_t i = 0; i < spec.applies_to.size(); ++i) {
    if (surface_bit(spec.applies_to[i]) == 0) {
      return err(fmt::format("applies_to[{}]", i),
                 fmt::format("unknown surface \"{}\" (expected chat, completion, query or upload)",
                             utf8_sanitize(spec.applies_to[i])));
    }
  }
  return {};
}

Result<Kind> validate_spec(std::size_t index, const RuleSpec& spec) {
  HEARTH_TRY(validate_name(index, spec.name));
  const auto kind = kind_from_name(spec.kind);
  if (!kind) {
    return spec_error(index, spec.name, "kind",
                      fmt::format("unknown kind \"{}\" (expected pattern, phrases, size, prompt_injection or "
                                  "sql_injection)",
                                  utf8_sanitize(spec.kind)));
  }
  if (spec.action != RuleAction::kBlock && spec.action != RuleAction::kFlag && spec.action != RuleAction::kRedact) {
    return spec_error(index, spec.name, "action", "unknown action");
  }
  HEARTH_TRY(validate_lists(index, spec, *kind));
  HEARTH_TRY(validate_kind_fields(index, spec, *kind));
  return *kind;
}

}  // namespace

const char* rule_action_name(RuleAction action) {
  switch (action) {
    case RuleAction::kBlock: return "block";
    case RuleAction::kFlag: return "flag";
    case RuleAction::kRedact: return "redact";
  }
  return "block";
}

// ---- compiled rules ----

namespace {

struct CompiledRule {
  std::string name;
  Kind kind = Kind::kPattern;
  RuleAction action = RuleAction::kBlock;
  unsigned surfaces = 0;  // 0: all
  std::vector<std::unique_ptr<RE2>> patterns;
  detail::PhraseMatcher phrases;
  std::size_t max_bytes = 0, max_chars = 0;
  double threshold = 0;

  bool uses_folded() const {
    return kind == Kind::kPhrases || kind == Kind::kPromptInjection || kind == Kind::kSqlInjection;
  }
};

Status compile_patterns(std::size_t index, const RuleSpec& spec, CompiledRule& rule) {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingUTF8);
  options.set_case_sensitive(!spec.case_insensitive);
  options.set_never_capture(true);
  options.set_log_errors(false);
  options.set_max_mem(static_cast<std::int64_t>(kPatternMaxMem));
  for (std::size_t i = 0; i < spec.patterns.size(); ++i) {
    auto re = std::make_unique<RE2>(spec.patterns[i], options);
    const std::string field = fmt::format("patterns[{}]", i);
    if (!re->ok()) {
      return spec_error(index, spec.name, field,
                        fmt::format("invalid pattern \"{}\": {}", spec.patterns[i], re->error()));
    }
    if (re->Match(re2::StringPiece(), 0, 0, RE2::UNANCHORED, nullptr, 0)) {
      return spec_error(index, spec.name, field,
                        fmt::format("pattern \"{}\" matches the empty string", spec.patterns[i]));
    }
    rule.patterns.push_back(std::move(re));
  }
  return {};
}

Result<CompiledRule> compile_rule(std::size_t index, const RuleSpec& spec) {
  auto kind = validate_spec(index, spec);
  if (!kind.ok()) return kind.take_error();
  CompiledRule rule;
  rule.name = spec.name;
  rule.kind = *kind;
  rule.action = spec.action;
  for (const auto& s : spec.applies_to) rule.surfaces |= surface_bit(s);
  rule.max_bytes = spec.max_bytes;
  rule.max_chars = spec.max_chars;
  rule.threshold = spec.threshold > 0 ? spec.threshold : kDefaultInjectionThreshold;
  if (rule.kind == Kind::kPattern) HEARTH_TRY(compile_patterns(index, spec, rule));
  if (rule.kind == Kind::kPhrases) {
    for (const auto& p : spec.phrases) rule.phrases.add(detail::fold_phrase(p));
    rule.phrases.finish();
  }
  return rule;
}

void find_pattern(const RE2& re, std::string_view text, std::size_t limit, std::vector<Span>& out) {
  const re2::StringPiece input(text.data(), text.size());
  std::size_t pos = 0, found = 0;
  re2::StringPiece m;
  while (found < limit && pos <= text.size() && re.Match(input, pos, text.size(), RE2::UNANCHORED, &m, 1)) {
    const auto begin = static_cast<std::size_t>(m.data() - text.data());
    const std::size_t end = begin + m.size();
    if (end == begin) {  // an empty match (\b, ^): move on by one character
      pos = begin + 1;
      while (pos < text.size() && is_continuation(text[pos])) ++pos;
      continue;
    }
    out.push_back(snap(text, {begin, end}));
    ++found;
    pos = end;
  }
}

std::optional<Span> find_size(const CompiledRule& rule, std::string_view text) {
  std::size_t cut = text.size();
  if (rule.max_bytes != 0 && text.size() > rule.max_bytes) cut = utf8_safe_prefix(text, rule.max_bytes);
  if (rule.max_chars != 0 && text.size() > rule.max_chars) {  // fewer bytes: fewer characters
    std::size_t chars = 0, i = 0;
    while (i < text.size() && chars < rule.max_chars) {
      i += static_cast<unsigned char>(text[i]) < 0x80 ? 1 : utf8_decode(text, i).length;
      ++chars;
    }
    cut = std::min(cut, i);
  }
  if (cut >= text.size()) return std::nullopt;
  return Span{cut, text.size()};
}

void find_heuristic(const CompiledRule& rule, const detail::FoldedText& folded, std::size_t limit,
                    std::vector<Span>& out) {
  const auto h =
      rule.kind == Kind::kPromptInjection ? detail::Heuristic::kPromptInjection : detail::Heuristic::kSqlInjection;
  const auto scored = detail::score_heuristic(h, folded);
  const double threshold = h == detail::Heuristic::kPromptInjection ? rule.threshold : 1.0;
  // A small tolerance: weights such as 0.6 + 0.4 do not sum to exactly 1.0 in binary.
  if (scored.signals.empty() || scored.score < threshold - 1e-9) return;
  detail::heuristic_spans(h, folded, scored.signals, limit, out);
}

// The rule's spans in the original text, merged, at most about `limit` before merging.
std::vector<Span> find_rule(const CompiledRule& rule, std::string_view text, const detail::FoldedText* folded,
                            std::size_t limit) {
  std::vector<Span> spans;
  switch (rule.kind) {
    case Kind::kPattern:
      for (const auto& re : rule.patterns) {
        if (spans.size() >= limit) break;
        find_pattern(*re, text, limit - spans.size(), spans);
      }
      break;
    case Kind::kPhrases: {
      std::vector<Span> raw;
      rule.phrases.find(folded->view(), limit, raw);
      spans.reserve(raw.size());
      for (const Span& s : raw) spans.push_back(folded->to_source(s.begin, s.end));
      break;
    }
    case Kind::kSize:
      if (auto s = find_size(rule, text)) spans.push_back(*s);
      break;
    case Kind::kPromptInjection:
    case Kind::kSqlInjection: find_heuristic(rule, *folded, limit, spans); break;
  }
  detail::merge_spans(spans);
  return spans;
}

struct Redaction {
  Span span;
  std::size_t rule;  // index: the marker names the first rule of a merged group
};

std::string apply_redactions(std::string_view text, std::vector<Redaction> reds,
                             const std::vector<CompiledRule>& rules) {
  std::sort(reds.begin(), reds.end(), [](const Redaction& a, const Redaction& b) {
    return a.span.begin != b.span.begin ? a.span.begin < b.span.begin : a.rule < b.rule;
  });
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0, i = 0;
  while (i < reds.size()) {
    Span group = reds[i].span;
    std::size_t first_rule = reds[i].rule;
    for (++i; i < reds.size() && reds[i].span.begin <= group.end; ++i) {
      group.end = std::max(group.end, reds[i].span.end);
      first_rule = std::min(first_rule, reds[i].rule);
    }
    out.append(text.substr(pos, group.begin - pos));
    out.append("[REDACTED:").append(rules[first_rule].name).append("]");
    pos = group.end;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

struct InputRules::Impl {
  std::vector<CompiledRule> rules;
};

Result<InputRules> InputRules::build(const std::vector<RuleSpec>& specs) {
  auto impl = std::make_shared<Impl>();
  impl->rules.reserve(specs.size());
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto rule = compile_rule(i, specs[i]);
    if (!rule.ok()) return rule.take_error();
    if (!names.insert(specs[i].name).second) return spec_error(i, specs[i].name, "name", "duplicate rule name");
    impl->rules.push_back(std::move(rule).value());
  }
  InputRules out;
  if (!impl->rules.empty()) out.impl_ = std::move(impl);
  return out;
}

bool InputRules::empty() const { return !impl_ || impl_->rules.empty(); }

InputCheck InputRules::check(std::string_view text, std::string_view surface) const {
  InputCheck out;
  if (empty()) {
    out.text.assign(text);
    return out;
  }
  const unsigned bit = surface_bit(surface);
  std::optional<detail::FoldedText> folded;
  std::vector<Redaction> redactions;
  for (std::size_t r = 0; r < impl_->rules.size(); ++r) {
    const CompiledRule& rule = impl_->rules[r];
    if (rule.surfaces != 0 && (rule.surfaces & bit) == 0) continue;
    if (rule.uses_folded() && !folded) folded.emplace(text);
    const std::size_t limit = rule.action == RuleAction::kBlock  ? 1
                              : rule.action == RuleAction::kFlag ? kMaxReportedHits
                                                                 : std::numeric_limits<std::size_t>::max();
    const std::vector<Span> spans = find_rule(rule, text, folded ? &*folded : nullptr, limit);
    for (std::size_t k = 0; k < spans.size() && k < limit; ++k) {
      out.hits.push_back({rule.name, rule.action, spans[k].begin, spans[k].end});
    }
    if (spans.empty()) continue;
    if (rule.action == RuleAction::kBlock) {
      out.blocked = true;
      out.blocking_rule = rule.name;
      break;
    }
    if (rule.action == RuleAction::kRedact) {
      for (const Span& s : spans) redactions.push_back({s, r});
    }
  }
  out.text = redactions.empty() ? std::string(text) : apply_redactions(text, std::move(redactions), impl_->rules);
  return out;
}

// ---- JSON ----

namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 10> kFields = {"name",      "kind",      "action",    "patterns",
                                                      "phrases",   "max_bytes", "max_chars", "case_insensitive",
                                                      "threshold", "applies_to"};

struct JsonRule {
  const json& obj;
  std::size_t index;
  std::string name;

  Error error(std::string_view field, std::string_view what) const { return spec_error(index, name, field, what); }

  Result<std::vector<std::string>> strings(std::string_view field) const {
    const json& v = obj.at(std::string(field));
    if (!v.is_array()) return error(field, fmt::format("\"{}\" must be an array of strings", field));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) return error(fmt::format("{}[{}]", field, i), "expected a string");
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }

  Result<std::size_t> count(std::string_view field) const {
    const json& v = obj.at(std::string(field));
    if (!v.is_number_unsigned()) return error(field, fmt::format("\"{}\" must be a non-negative integer", field));
    return v.get<std::size_t>();
  }
};

Result<RuleAction> parse_action(const JsonRule& r) {
  if (!r.obj.contains("action")) return r.error("action", "missing action (block, flag or redact)");
  const json& v = r.obj.at("action");
  const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s == "block") return RuleAction::kBlock;
  if (s == "flag") return RuleAction::kFlag;
  if (s == "redact") return RuleAction::kRedact;
  return r.error("action", fmt::format("unknown action \"{}\" (expected block, flag or redact)", utf8_sanitize(s)));
}

Status parse_optional_fields(const JsonRule& r, RuleSpec& spec) {
  const json& o = r.obj;
  if (o.contains("patterns")) {
    auto v = r.strings("patterns");
    if (!v.ok()) return v.take_error();
    spec.patterns = std::move(v).value();
    if (spec.patterns.empty()) return r.error("patterns", "empty \"patterns\" list");
  }
  if (o.contains("phrases")) {
    auto v = r.strings("phrases");
    if (!v.ok()) return v.take_error();
    spec.phrases = std::move(v).value();
    if (spec.phrases.empty()) return r.error("phrases", "empty \"phrases\" list");
  }
  if (o.contains("applies_to")) {
    auto v = r.strings("applies_to");
    if (!v.ok()) return v.take_error();
    spec.applies_to = std::move(v).value();
  }
  for (const auto& [field, target] :
       {std::pair{"max_bytes", &spec.max_bytes}, std::pair{"max_chars", &spec.max_chars}}) {
    if (!o.contains(field)) continue;
    auto v = r.count(field);
    if (!v.ok()) return v.take_error();
    *target = *v;
  }
  if (o.contains("case_insensitive")) {
    if (!o.at("case_insensitive").is_boolean()) {
      return r.error("case_insensitive", "\"case_insensitive\" must be true or false");
    }
    spec.case_insensitive = o.at("case_insensitive").get<bool>();
  }
  if (o.contains("threshold")) {
    if (!o.at("threshold").is_number()) return r.error("threshold", "\"threshold\" must be a number");
    spec.threshold = o.at("threshold").get<double>();
    if (!(spec.threshold > 0)) return r.error("threshold", "threshold must be a positive number");
  }
  return {};
}

Result<RuleSpec> parse_one(const json& obj, std::size_t index) {
  if (!obj.is_object()) return spec_error(index, {}, "", "expected an object");
  JsonRule r{obj, index, {}};
  if (!obj.contains("name")) return r.error("name", "missing name");
  if (!obj.at("name").is_string()) return r.error("name", "\"name\" must be a string");
  r.name = utf8_sanitize(obj.at("name").get<std::string>());
  for (const auto& [key, value] : obj.items()) {
    if (std::find(kFields.begin(), kFields.end(), key) == kFields.end()) {
      const std::string field = utf8_sanitize(key);
      return r.error(field, fmt::format("unknown field \"{}\"", field));
    }
  }
  RuleSpec spec;
  spec.name = obj.at("name").get<std::string>();
  if (!obj.contains("kind")) return r.error("kind", "missing kind");
  if (!obj.at("kind").is_string()) return r.error("kind", "\"kind\" must be a string");
  spec.kind = obj.at("kind").get<std::string>();
  auto action = parse_action(r);
  if (!action.ok()) return action.take_error();
  spec.action = *action;
  HEARTH_TRY(parse_optional_fields(r, spec));
  auto kind = validate_spec(index, spec);
  if (!kind.ok()) return kind.take_error();
  return spec;
}

}  // namespace

Result<std::vector<RuleSpec>> parse_rule_specs(const nlohmann::json& array) {
  if (!array.is_array()) return invalid_argument("input_rules: expected an array of rule objects", "input_rules");
  std::vector<RuleSpec> specs;
  std::set<std::string> names;
  for (std::size_t i = 0; i < array.size(); ++i) {
    auto spec = parse_one(array[i], i);
    if (!spec.ok()) return spec.take_error();
    if (!names.insert(spec->name).second) return spec_error(i, spec->name, "name", "duplicate rule name");
    specs.push_back(std::move(spec).value());
  }
  return specs;
}

}  // namespace hearth::safety
