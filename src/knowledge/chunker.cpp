#include "knowledge/chunker.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include "core/utf8.h"

namespace hearth::knowledge {
namespace {

struct CodePoint {
  char32_t cp;
  std::size_t len;
};

CodePoint decode(std::string_view s, std::size_t i) {
  const Utf8Char c = utf8_decode(s, i);
  return {c.code_point, c.length};
}

std::size_t count_code_points(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); i += decode(s, i).len) ++n;
  return n;
}

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0xA0 || c == 0x3000;
}

// Ideographs, kana and hangul: scripts written without spaces, about one token per character.
bool is_cjk(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF);
}

// CJK symbols and full-width forms (punctuation written with CJK text).
bool is_cjk_symbol(char32_t c) { return (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF00 && c <= 0xFFEF); }

bool is_word_char(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0;
  return !is_space(c) && !is_cjk(c) && !is_cjk_symbol(c) && !(c >= 0x2000 && c <= 0x206F);
}

bool is_full_width_end(char32_t c) {
  return c == 0x3002 /*。*/ || c == 0xFF01 /*！*/ || c == 0xFF1F /*？*/ || c == 0xFF1B /*；*/ || c == 0x2026 /*…*/;
}

bool is_closing(char32_t c) {
  return c == '"' || c == '\'' || c == ')' || c == ']' || c == 0x201D /*”*/ || c == 0x2019 /*’*/ ||
         c == 0x300D /*」*/ || c == 0x300F /*』*/ || c == 0xFF09 /*）*/ || c == 0x3011 /*】*/ || c == 0x300B /*》*/;
}

// A period after these does not end a sentence.
bool is_abbreviation(std::string_view word) {
  static constexpr std::array<std::string_view, 22> kAbbrev = {
      "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e",
      "fig", "no", "inc", "ltd", "co", "approx", "cf", "al", "eq", "sec"};
  std::string lower;
  for (char c : word) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.size() == 1 && std::isalpha(static_cast<unsigned char>(lower[0]))) return true;  // initials
  return std::find(kAbbrev.begin(), kAbbrev.end(), lower) != kAbbrev.end();
}

// The word (letters, digits, inner periods) that ends at byte `end` of `s`.
std::string_view word_before(std::string_view s, std::size_t end) {
  std::size_t b = end;
  while (b > 0) {
    const auto c = static_cast<unsigned char>(s[b - 1]);
    if (std::isalnum(c) || c == '.') {
      --b;
    } else {
      break;
    }
  }
  return s.substr(b, end - b);
}

std::string_view trim(std::string_view s) {
  std::size_t b = 0;
  while (b < s.size()) {
    const CodePoint c = decode(s, b);
    if (!is_space(c.cp)) break;
    b += c.len;
  }
  std::size_t e = s.size();
  while (e > b) {
    std::size_t p = e - 1;
    while (p > b && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    if (!is_space(decode(s, p).cp)) break;
    e = p;
  }
  return s.substr(b, e - b);
}

// Code-point offsets of byte positions inside one block, for positions visited in order.
class CodePointCursor {
 public:
  CodePointCursor(std::string_view text, std::size_t base) : text_(text), cp_(base) {}
  std::size_t at(std::size_t byte) {
    if (byte < byte_) {  // rare: go back to the start of the block
      cp_ -= count_code_points(text_.substr(0, byte_));
      byte_ = 0;
    }
    cp_ += count_code_points(text_.substr(byte_, byte - byte_));
    byte_ = byte;
    return cp_;
  }

 private:
  std::string_view text_;
  std::size_t byte_ = 0;
  std::size_t cp_;
};

// A piece of a block that the packer moves as a whole: a paragraph, a sentence, or a fragment.
struct Unit {
  std::size_t block;
  std::size_t begin, end;  // bytes in the block's text
  std::size_t tokens;
};

}  // namespace

std::size_t estimate_tokens(std::string_view text) {
  std::size_t tokens = 0;
  std::size_t word_chars = 0;
  auto end_word = [&] {
    if (word_chars > 0) tokens += std::max<std::size_t>(1, (word_chars + 3) / 4);
    word_chars = 0;
  };
  for (std::size_t i = 0; i < text.size();) {
    const CodePoint c = decode(text, i);
    i += c.len;
    if (is_word_char(c.cp)) {
      ++word_chars;
      continue;
    }
    end_word();
    if (!is_space(c.cp)) ++tokens;  // a CJK character or a symbol
  }
  end_word();
  return tokens;
}

std::vector<std::string_view> split_sentences(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  auto emit = [&](std::size_t end) {
    const std::string_view s = trim(text.substr(start, end - start));
    if (!s.empty()) out.push_back(s);
    start = end;
  };
  for (std::size_t i = 0; i < text.size();) {
    const CodePoint c = decode(text, i);
    const bool full_width = is_full_width_end(c.cp);
    const bool ascii_end = c.cp == '.' || c.cp == '!' || c.cp == '?';
    if (!full_width && !ascii_end) {
      i += c.len;
      continue;
    }
    const std::size_t mark = i;
    std::size_t j = i + c.len;
    // Absorb runs such as "?!", "……" and closing quotes or brackets.
    while (j < text.size()) {
      const CodePoint n = decode(text, j);
      if (is_full_width_end(n.cp) || n.cp == '.' || n.cp == '!' || n.cp == '?' || is_closing(n.cp)) {
        j += n.len;
      } else {
        break;
      }
    }
    if (full_width) {
      emit(j);
      i = j;
      continue;
    }
    // ASCII: only before white space (or the end), so "3.14", "a.b" and "U.S." stay whole.
    if (j < text.size() && !is_space(decode(text, j).cp)) {
      i = j;
      continue;
    }
    if (c.cp == '.' && is_abbreviation(word_before(text, mark))) {
      i = j;
      continue;
    }
    // "... the end. and more" is one sentence: a new one starts with a capital, digit or symbol.
    std::size_t k = j;
    while (k < text.size() && is_space(decode(text, k).cp)) k += decode(text, k).len;
    if (c.cp == '.' && k < text.size() && std::islower(static_cast<unsigned char>(text[k]))) {
      i = j;
      continue;
    }
    emit(j);
    i = j;
  }
  emit(text.size());
  return out;
}

Chunker::Chunker(ChunkerOptions options, TokenCounter count) : opt_(options), count_(std::move(count)) {
  if (opt_.target_tokens == 0) throw std::invalid_argument("target_tokens must be positive");
  if (opt_.overlap_tokens >= opt_.target_tokens) throw std::invalid_argument("overlap_tokens must be below target_tokens");
}

std::vector<Chunk> Chunker::chunk(const std::vector<Block>& input) const {
  // Everything below assumes valid UTF-8.
  std::vector<Block> blocks = input;
  for (Block& b : blocks) {
    if (!utf8_is_valid(b.text)) b.text = utf8_sanitize(b.text);
  }
  // Code-point offset of each block in the document text (blocks joined by "\n\n").
  std::vector<std::size_t> block_cp(blocks.size());
  for (std::size_t b = 0, cp = 0; b < blocks.size(); ++b) {
    block_cp[b] = cp;
    cp += count_code_points(blocks[b].text) + 2;
  }

  std::vector<Chunk> out;
  std::vector<std::string> path;
  std::vector<Unit> current;
  std::size_t current_tokens = 0;

  auto emit = [&] {
    if (current.empty()) return;
    Chunk c;
    for (std::size_t u = 0; u < current.size();) {
      // Units of one block are written as the block's own text between them (original spacing).
      std::size_t v = u;
      while (v + 1 < current.size() && current[v + 1].block == current[u].block) ++v;
      const std::string& t = blocks[current[u].block].text;
      if (!c.text.empty()) c.text += "\n\n";
      c.text.append(t, current[u].begin, current[v].end - current[u].begin);
      u = v + 1;
    }
    const Unit& first = current.front();
    const Unit& last = current.back();
    c.char_start = block_cp[first.block] + count_code_points(std::string_view(blocks[first.block].text).substr(0, first.begin));
    c.char_end = block_cp[last.block] + count_code_points(std::string_view(blocks[last.block].text).substr(0, last.end));
    c.page = blocks[first.block].page;
    c.heading_path = path;
    c.tokens = count_(c.text);
    out.push_back(std::move(c));
  };

  auto add = [&](const Unit& unit) {
    if (!current.empty() && current_tokens + unit.tokens > opt_.target_tokens) {
      emit();
      // Carry the last whole sentences of at most overlap_tokens into the next chunk.
      const std::size_t room = std::min(opt_.overlap_tokens, opt_.target_tokens - unit.tokens);
      std::vector<Unit> tail;
      std::size_t kept_tokens = 0;
      for (auto it = current.rbegin(); it != current.rend(); ++it) {
        std::vector<Unit> parts;  // the unit itself, or its sentences
        const std::string_view ut = std::string_view(blocks[it->block].text).substr(it->begin, it->end - it->begin);
        const auto sentences = split_sentences(ut);
        if (sentences.size() <= 1) {
          parts.push_back(*it);
        } else {
          for (std::string_view s : sentences) {
            const std::size_t b0 = it->begin + static_cast<std::size_t>(s.data() - ut.data());
            parts.push_back({it->block, b0, b0 + s.size(), count_(s)});
          }
        }
        bool full = false;
        for (auto p = parts.rbegin(); p != parts.rend(); ++p) {
          if (kept_tokens + p->tokens > room) {
            full = true;
            break;
          }
          kept_tokens += p->tokens;
          tail.insert(tail.begin(), *p);
        }
        if (full) break;
      }
      // Never carry the whole chunk: the next one must move on.
      if (!tail.empty() && tail.front().block == current.front().block && tail.front().begin == current.front().begin) {
        kept_tokens -= tail.front().tokens;
        tail.erase(tail.begin());
      }
      current = std::move(tail);
      current_tokens = kept_tokens;
    }
    current.push_back(unit);
    current_tokens += unit.tokens;
  };

  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const Block& block = blocks[b];
    if (block.kind == Block::Kind::kHeading) {
      emit();
      current.clear();
      current_tokens = 0;
      const auto level = static_cast<std::size_t>(std::max(1, block.level));
      if (path.size() >= level) path.resize(level - 1);
      path.emplace_back(trim(block.text));
      continue;
    }
    const std::string_view text = block.text;
    const std::string_view body = trim(text);
    if (body.empty()) continue;
    const auto offset = [&](std::string_view part) { return static_cast<std::size_t>(part.data() - text.data()); };
    const std::size_t tokens = count_(body);
    if (tokens <= opt_.target_tokens) {
      add({b, offset(body), offset(body) + body.size(), tokens});
      continue;
    }
    for (std::string_view sentence : split_sentences(body)) {
      const std::size_t st = count_(sentence);
      if (st <= opt_.target_tokens) {
        add({b, offset(sentence), offset(sentence) + sentence.size(), st});
        continue;
      }
      // Longer than a chunk: cut into fragments on character boundaries, at a space when one
      // is in the second half of the fragment.
      std::string_view rest = sentence;
      while (!rest.empty()) {
        const std::size_t total_cp = count_code_points(rest);
        const std::size_t rt = count_(rest);
        std::size_t take_cp = rt <= opt_.target_tokens ? total_cp : std::max<std::size_t>(1, total_cp * opt_.target_tokens / rt);
        std::size_t bytes = 0;
        for (;;) {
          bytes = 0;
          for (std::size_t n = 0; n < take_cp && bytes < rest.size(); ++n) bytes += decode(rest, bytes).len;
          if (take_cp <= 1 || count_(rest.substr(0, bytes)) <= opt_.target_tokens) break;
          take_cp = take_cp * 9 / 10;
        }
        if (bytes < rest.size()) {
          const std::size_t space = rest.substr(0, bytes).find_last_of(" \t\n");
          if (space != std::string_view::npos && space > bytes / 2) bytes = space;
        }
        const std::string_view piece = trim(rest.substr(0, bytes));
        if (!piece.empty()) add({b, offset(piece), offset(piece) + piece.size(), count_(piece)});
        rest = trim(rest.substr(bytes));
      }
    }
  }
  emit();
  return out;
}

}  // namespace hearth::knowledge
