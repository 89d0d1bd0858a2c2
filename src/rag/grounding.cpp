#include "rag/grounding.h"

#include <fmt/format.h>

#include "core/utf8.h"

namespace hearth::rag {
namespace {

// Cuts at most `max` bytes without splitting a UTF-8 character.
std::string cut_utf8(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + " ...";
}

std::string location(const Citation& c) {
  std::string where = c.title.empty() ? c.document : c.title;
  if (!c.heading_path.empty()) where += " > " + c.heading_path;
  if (c.page > 0) where += fmt::format(" (page {})", c.page);
  return where;
}

}  // namespace

Grounding build_grounding(const std::vector<RetrievedChunk>& hits, std::size_t max_source_bytes,
                          std::size_t max_total_bytes) {
  Grounding g;
  if (hits.empty()) {
    g.instructions =
        "No document in the knowledge base matched this question. Say that the documents do not cover it; "
        "do not cite sources.";
    return g;
  }
  std::string sources;
  for (const RetrievedChunk& r : hits) {
    const knowledge::ChunkHit& h = r.hit.hit;
    Citation c;
    c.index = static_cast<int>(g.citations.size()) + 1;
    c.collection = r.collection;
    c.document = h.document_uri;
    c.title = h.document_title;
    c.heading_path = h.chunk.heading_path;
    c.page = h.chunk.page;
    c.char_start = h.chunk.char_start;
    c.char_end = h.chunk.char_end;
    c.chunk_id = h.chunk.id;
    c.score = r.hit.score;
    c.text = cut_utf8(utf8_sanitize(h.chunk.text), max_source_bytes);
    std::string block = fmt::format("[{}] {}\n{}\n\n", c.index, location(c), c.text);
    if (!g.citations.empty() && sources.size() + block.size() > max_total_bytes) break;
    sources += block;
    g.citations.push_back(std::move(c));
  }
  g.instructions = fmt::format(
      "Answer the question using the numbered sources below. After each statement that uses a source, cite it "
      "as [n], e.g. [1] or [1][3]. If the sources do not contain the answer, say so. Answer in the language of "
      "the question.\n\nSources:\n\n{}",
      sources);
  while (!g.instructions.empty() && g.instructions.back() == '\n') g.instructions.pop_back();
  return g;
}

void apply_grounding(std::vector<ChatMessage>& messages, const Grounding& g) {
  if (!messages.empty() && messages.front().role == "system") {
    messages.front().content += "\n\n" + g.instructions;
    return;
  }
  ChatMessage sys;
  sys.role = "system";
  sys.content = g.instructions;
  messages.insert(messages.begin(), std::move(sys));
}

std::string retrieval_query(const std::vector<ChatMessage>& messages) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == "user") return it->content;
  }
  return {};
}

}  // namespace hearth::rag
