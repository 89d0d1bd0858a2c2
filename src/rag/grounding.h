// Grounding (issue #3): turns retrieved chunks into numbered sources for the prompt and the
// `citations` of the response. Pure functions; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model_engine.h"
#include "rag/knowledge_service.h"

namespace hearth::rag {

struct Citation {
  int index = 0;            // [n] in the prompt and the answer
  std::string collection;
  std::string document;     // the document's URI
  std::string title;
  std::string heading_path; // "A > B"
  int page = 0;             // 0: unknown
  std::int64_t char_start = 0, char_end = 0;
  std::int64_t chunk_id = 0;
  double score = 0;
  std::string text;         // the chunk text given to the model (trimmed to the budget)
};

struct Grounding {
  std::string instructions;  // system text: how to use and cite the sources, then the sources
  std::vector<Citation> citations;
};

// Numbers the hits [1]..[n] in order, trimming each source text to at most
// `max_source_bytes` (on a UTF-8 boundary) and the whole to `max_total_bytes`. No hits: the
// instructions say that nothing relevant was found, so the model does not invent sources.
Grounding build_grounding(const std::vector<RetrievedChunk>& hits, std::size_t max_source_bytes = 2000,
                          std::size_t max_total_bytes = 12000);

// Adds the grounding to the conversation: appended to the first system message, or as a new
// system message before the first message.
void apply_grounding(std::vector<ChatMessage>& messages, const Grounding& g);

// The text to search with: the last user message (empty when there is none).
std::string retrieval_query(const std::vector<ChatMessage>& messages);

}  // namespace hearth::rag
