// OpenAI `usage` objects, with prompt_tokens_details.cached_tokens (prefix-cache hits).
#pragma once

#include <nlohmann/json.hpp>

#include "engine/types.h"

namespace hearth {

inline nlohmann::json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

// Hearth's own timing detail (as llama-server reports `timings`): where the time went.
inline nlohmann::json timings_json(const GenTimings& t, const Usage& u) {
  return {{"queue_ms", t.queue_ms},
          {"prompt_ms", t.prompt_ms},
          {"prompt_n", u.prompt_tokens - u.cached_tokens},
          {"predicted_ms", t.gen_ms},
          {"predicted_n", u.completion_tokens}};
}

}  // namespace hearth
