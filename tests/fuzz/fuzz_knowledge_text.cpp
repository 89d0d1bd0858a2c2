// libFuzzer: the knowledge text pipeline (chunker, sentence splitter, search tokenizer) on
// arbitrary blocks (any bytes, invalid UTF-8 included) and options. Tokens: inside the input, in
// order, never overlapping, valid UTF-8. Chunks: no chunk is empty or over the target, offsets stay inside the document
// and move forward, and every chunk is valid UTF-8 (invalid input is replaced, cuts fall only on
// character boundaries).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "knowledge/chunker.h"
#include "knowledge/extract.h"
#include "knowledge/text_tokenizer.h"

using namespace hearth;
using namespace hearth::knowledge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t target = 1 + data[0] % 200;
  const size_t overlap = data[1] % target;
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  std::vector<Block> blocks;
  size_t doc_cps = 0;
  while (!rest.empty()) {  // blocks separated by NUL; a leading '#' run makes a heading
    const size_t nul = rest.find('\0');
    std::string_view b = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    Block block;
    while (!b.empty() && b.front() == '#') {
      block.kind = Block::Kind::kHeading;
      ++block.level;
      b.remove_prefix(1);
    }
    block.text = std::string(b);
    block.page = static_cast<int>(blocks.size() % 3);
    blocks.push_back(std::move(block));
  }
  for (const Block& b : blocks) doc_cps += b.text.size() + 2;  // bytes bound code points
  const auto chunks = Chunker({target, overlap}).chunk(blocks);
  size_t last_start = 0;
  for (const Chunk& c : chunks) {
    if (c.text.empty() || c.tokens == 0 || c.tokens > target) __builtin_trap();
    if (c.tokens != estimate_tokens(c.text)) __builtin_trap();
    if (c.char_start >= c.char_end || c.char_end > doc_cps || c.char_start < last_start) __builtin_trap();
    if (!utf8_is_valid(c.text)) __builtin_trap();
    last_start = c.char_start;
  }
  static std::unique_ptr<TextTokenizer> tokenizer = [] {
    auto r = TextTokenizer::create();
    if (!r) __builtin_trap();
    return std::move(*r);
  }();
  for (const Block& b : blocks) {
    size_t prev_end = 0;
    for (const TextToken& t : tokenizer->tokenize(b.text)) {
      if (t.text.empty() || !utf8_is_valid(t.text) || t.begin < prev_end || t.end <= t.begin || t.end > b.text.size()) {
        __builtin_trap();
      }
      prev_end = t.end;
    }
    for (std::string_view s : split_sentences(b.text)) {
      if (s.empty() || s.data() < b.text.data() || s.data() + s.size() > b.text.data() + b.text.size()) __builtin_trap();
    }
  }
  // The extractors (PDF aside: poppler is fuzzed upstream) on the same bytes: an error or valid blocks.
  static const char* kNames[] = {"f.txt", "f.md", "f.html", "f.docx"};
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto ex = extract_document(kNames[data[0] % 4], raw.substr(1));
  if (ex) {
    for (const Block& b : ex->blocks) {
      if (b.text.empty() || !utf8_is_valid(b.text)) __builtin_trap();
    }
  } else if (ex.error().message.empty()) {
    __builtin_trap();
  }
  return 0;
}
