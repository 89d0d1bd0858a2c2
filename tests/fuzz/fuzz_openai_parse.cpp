// libFuzzer: the OpenAI request parsers must never crash, hang or accept invalid values, whatever
// the bytes. The first byte picks the endpoint (chat, completions, embeddings, knowledge search).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string_view>

#include "core/utf8.h"
#include "server/error_mapping.h"
#include "server/openai_types.h"

using namespace hearth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto json = parse_json_body(body);
  if (!json) {
    const int status = http_status(json.error().code);
    if (status != 400) __builtin_trap();
    (void)nlohmann::json::parse(error_body(json.error()));  // error bodies are always valid JSON
    return 0;
  }
  switch (data[0] % 4) {
    case 0: {
      auto r = parse_chat_request(*json);
      if (r) {
        if (r->messages.empty()) __builtin_trap();
        if (r->gen.max_tokens && *r->gen.max_tokens < 1) __builtin_trap();
        if (r->gen.sampling.temperature && (*r->gen.sampling.temperature < 0 || *r->gen.sampling.temperature > 2)) __builtin_trap();
        for (const auto& [tok, bias] : r->gen.sampling.logit_bias) {
          if (tok < 0 || !(bias >= -100 && bias <= 100)) __builtin_trap();
        }
      } else {
        (void)nlohmann::json::parse(error_body(r.error()));
      }
      break;
    }
    case 1: {
      auto r = parse_completion_request(*json);
      if (r && r->prompt.empty() && r->prompt_tokens.empty()) __builtin_trap();
      if (!r) (void)nlohmann::json::parse(error_body(r.error()));
      break;
    }
    case 3: {
      auto r = parse_knowledge_request(*json, "", true);
      if (r && (r->collections.empty() || r->query.empty() || r->top_k < 1 || r->top_k > 50)) __builtin_trap();
      if (r && !(r->alpha >= 0 && r->alpha <= 1)) __builtin_trap();
      if (!r) (void)nlohmann::json::parse(error_body(r.error()));
      break;
    }
    default: {
      auto r = parse_embedding_request(*json);
      if (r && r->texts.empty() && r->token_inputs.empty()) __builtin_trap();
      if (!r) (void)nlohmann::json::parse(error_body(r.error()));
      break;
    }
  }
  return 0;
}
