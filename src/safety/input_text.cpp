// safety/input_rules: the folded view of a text and the phrase automaton (Aho-Corasick).
// Thread-safety: see input_scan.h.
#include <algorithm>
#include <deque>
#include <limits>

#include "core/utf8.h"
#include "safety/input_scan.h"

namespace hearth::safety::detail {
namespace {

constexpr char32_t kInvalidByte = 0x110000;  // stands for an invalid UTF-8 byte; emitted as 0xFF

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_line_break(char32_t c) { return (c >= 0x0A && c <= 0x0D) || c == 0x85 || c == 0x2028 || c == 0x2029; }

// Invisible characters that can be slipped between the letters of a word.
bool is_ignorable(char32_t c) {
  return c == 0xAD || c == 0x180E || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2060 && c <= 0x2069) || c == 0xFEFF;
}

// Scripts written without spaces between words (and their punctuation).
bool is_cjk(char32_t c) {
  return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xA960 && c <= 0xA97F) || (c >= 0xAC00 && c <= 0xD7AF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF5F && c <= 0xFFEF) ||
         (c >= 0x20000 && c <= 0x3FFFF);
}

char32_t fold_char(char32_t c) {
  if (c >= 0xFF01 && c <= 0xFF5E) c -= 0xFEE0;  // full-width ASCII
  if (c >= 'A' && c <= 'Z') return c + ('a' - 'A');
  if (c == 0x2018 || c == 0x2019 || c == 0x201B || c == 0x2032) return '\'';
  if (c == 0x201C || c == 0x201D || c == 0x201F || c == 0x2033) return '"';
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c == kInvalidByte) {
    out.push_back(static_cast<char>(0xFF));
  } else if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// One unit of the text: an invalid byte is one unit.
Utf8Char decode_at(std::string_view text, std::size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  if (b < 0x80) return {b, 1};
  Utf8Char ch = utf8_decode(text, i);
  if (ch.length == 1) ch.code_point = kInvalidByte;
  return ch;
}

}  // namespace

void merge_spans(std::vector<Span>& spans) {
  if (spans.size() < 2) return;
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::size_t out = 0;
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin <= spans[out].end) {
      spans[out].end = std::max(spans[out].end, spans[i].end);
    } else {
      spans[++out] = spans[i];
    }
  }
  spans.resize(out + 1);
}

void FoldedText::emit(char32_t cp, std::size_t begin) {
  append_utf8(folded_, cp);
  src_.resize(folded_.size(), static_cast<std::uint32_t>(begin));
}

std::size_t FoldedText::unit_end(std::size_t at) const {
  const Utf8Char first = decode_at(text_, at);
  std::size_t end = at + first.length;
  if (!is_space(first.code_point)) return end;
  // A run: spaces, with ignorable characters between them, as the constructor gathered it.
  for (std::size_t i = end; i < text_.size();) {
    const Utf8Char ch = decode_at(text_, i);
    if (!is_space(ch.code_point) && !is_ignorable(ch.code_point)) break;
    i += ch.length;
    if (is_space(ch.code_point)) end = i;
  }
  return end;
}

FoldedText::FoldedText(std::string_view text)
    : text_(text.substr(0, std::min<std::size_t>(text.size(), std::numeric_limits<std::uint32_t>::max()))) {
  folded_.reserve(text_.size());
  src_.reserve(text_.size());
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t space_begin = kNone;
  bool space_breaks_line = false, prev_cjk = false;
  std::size_t i = 0;
  while (i < text_.size()) {
    const Utf8Char ch = decode_at(text_, i);
    const std::size_t at = i;
    i += ch.length;
    if (is_space(ch.code_point)) {
      if (space_begin == kNone) space_begin = at;
      space_breaks_line = space_breaks_line || is_line_break(ch.code_point);
      continue;
    }
    if (is_ignorable(ch.code_point)) continue;
    const char32_t c = fold_char(ch.code_point);
    const bool cjk = is_cjk(c);
    if (space_begin != kNone && !prev_cjk && !cjk) emit(space_breaks_line ? '\n' : ' ', space_begin);
    space_begin = kNone;
    space_breaks_line = false;
    emit(c, at);
    prev_cjk = cjk;
  }
  if (space_begin != kNone && !prev_cjk) emit(space_breaks_line ? '\n' : ' ', space_begin);
}

std::string fold_phrase(std::string_view phrase) {
  const FoldedText folded(phrase);
  std::string out(folded.view());
  std::replace(out.begin(), out.end(), '\n', ' ');
  const std::size_t first = out.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  const std::size_t last = out.find_last_not_of(' ');
  return out.substr(first, last - first + 1);
}

// ---- PhraseMatcher ----

void PhraseMatcher::add(std::string_view folded_phrase) {
  std::int32_t node = 0;
  for (const char ch : folded_phrase) {
    const auto c = static_cast<unsigned char>(ch);
    auto& kids = building_[static_cast<std::size_t>(node)];
    const auto it = std::find_if(kids.begin(), kids.end(), [c](const auto& e) { return e.first == c; });
    if (it != kids.end()) {
      node = it->second;
      continue;
    }
    const auto next = static_cast<std::int32_t>(nodes_.size());
    kids.emplace_back(c, next);
    nodes_.emplace_back();
    building_.emplace_back();
    node = next;
  }
  auto& own = nodes_[static_cast<std::size_t>(node)].own;
  own = std::max<std::uint32_t>(own, static_cast<std::uint32_t>(folded_phrase.size()));
}

std::int32_t PhraseMatcher::child(std::int32_t node, unsigned char c) const {
  const Node& n = nodes_[static_cast<std::size_t>(node)];
  const auto first = edge_byte_.begin() + n.edge_begin;
  const auto last = edge_byte_.begin() + n.edge_end;
  const auto it = std::lower_bound(first, last, c);
  if (it == last || *it != c) return -1;
  return edge_to_[static_cast<std::size_t>(it - edge_byte_.begin())];
}

void PhraseMatcher::finish() {
  for (std::size_t n = 0; n < nodes_.size(); ++n) {
    auto& kids = building_[n];
    std::sort(kids.begin(), kids.end());
    nodes_[n].edge_begin = static_cast<std::uint32_t>(edge_byte_.size());
    for (const auto& [c, to] : kids) {
      edge_byte_.push_back(c);
      edge_to_.push_back(to);
    }
    nodes_[n].edge_end = static_cast<std::uint32_t>(edge_byte_.size());
  }
  building_.clear();
  building_.shrink_to_fit();
  // Breadth first, so that a node's fail target is complete before the node.
  std::deque<std::int32_t> queue{0};
  while (!queue.empty()) {
    const std::int32_t u = queue.front();
    queue.pop_front();
    const Node nu = nodes_[static_cast<std::size_t>(u)];
    for (std::uint32_t e = nu.edge_begin; e < nu.edge_end; ++e) {
      const std::int32_t v = edge_to_[e];
      const unsigned char c = edge_byte_[e];
      std::int32_t fail = 0;
      if (u != 0) {
        std::int32_t f = nu.fail;
        while (true) {
          const std::int32_t t = child(f, c);
          if (t >= 0) {
            fail = t;
            break;
          }
          if (f == 0) break;
          f = nodes_[static_cast<std::size_t>(f)].fail;
        }
      }
      Node& nv = nodes_[static_cast<std::size_t>(v)];
      nv.fail = fail;
      nv.best = std::max(nv.own, nodes_[static_cast<std::size_t>(fail)].best);
      queue.push_back(v);
    }
  }
}

void PhraseMatcher::find(std::string_view folded, std::size_t limit, std::vector<Span>& out) const {
  if (empty() || limit == 0) return;
  std::size_t found = 0;
  std::int32_t state = 0;
  for (std::size_t i = 0; i < folded.size(); ++i) {
    const unsigned char c = folded[i] == '\n' ? ' ' : static_cast<unsigned char>(folded[i]);
    std::int32_t next = child(state, c);
    while (next < 0 && state != 0) {
      state = nodes_[static_cast<std::size_t>(state)].fail;
      next = child(state, c);
    }
    state = next < 0 ? 0 : next;
    const std::uint32_t best = nodes_[static_cast<std::size_t>(state)].best;
    if (best == 0) continue;
    out.push_back({i + 1 - best, i + 1});
    if (++found == limit) return;
  }
}

}  // namespace hearth::safety::detail
