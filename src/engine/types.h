// Plain types shared by the engine and its callers. No llama.h here: callers outside src/engine
// see tokens as integers and requests as values.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace hearth {

using Token = std::int32_t;

struct SamplingParams {
  float temperature = 0.8f;     // <= 0: greedy
  int top_k = 40;               // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int penalty_last_n = 64;
  std::optional<std::uint32_t> seed;               // unset: a random seed per request
  std::vector<std::pair<Token, float>> logit_bias;
  std::string grammar;                             // GBNF; empty: unconstrained
};

struct GenerationRequest {
  std::vector<Token> prompt;
  SamplingParams sampling;
  int max_tokens = -1;  // < 0: until the context is full
  std::vector<std::string> stop;
  bool ignore_eos = false;
};

enum class FinishReason { kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt tokens whose KV was reused, not recomputed
};

struct GenTimings {
  double queue_ms = 0;   // waiting for a free slot
  double prompt_ms = 0;  // admission to first sampled token
  double gen_ms = 0;     // first to last token
};

// One event from the engine to whoever submitted a request. Delivered on the scheduler thread;
// the sink must not block.
struct GenEvent {
  enum class Kind { kDelta, kDone, kError };
  Kind kind = Kind::kDelta;
  std::string text;  // kDelta: complete UTF-8, stop strings already removed
  FinishReason finish = FinishReason::kStop;
  Usage usage;       // kDone
  GenTimings timings;
  Error error;       // kError
};

using EventSink = std::function<void(GenEvent&&)>;

}  // namespace hearth
