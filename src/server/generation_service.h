// GenerationService: turns typed OpenAI requests into engine requests (model lookup, chat
// template, tokenization, sampling defaults, grammar). No HTTP or JSON types here.
// Threading: thread-safe; prepare_*() may block while a model loads, so call them off the
// network threads (see run_blocking).
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "engine/model_engine.h"
#include "models/registry.h"
#include "server/openai_types.h"

namespace hearth {

struct PreparedGeneration {
  std::shared_ptr<ModelEngine> engine;
  std::string model_id;
  GenerationRequest request;
  // Chat only: how to split reasoning from the answer.
  bool split_reasoning = false;
  bool starts_in_reasoning = false;
  std::string think_open = "<think>";
  std::string think_close = "</think>";
};

struct PreparedEmbedding {
  std::shared_ptr<ModelEngine> engine;
  std::string model_id;
  std::vector<std::vector<Token>> inputs;
  int prompt_tokens = 0;
};

// kNoWait: only if the model is loaded already; otherwise the result is the WouldBlock error
// (is_would_block), and the caller retries with kMayWait on a thread that may block.
enum class Acquire { kMayWait, kNoWait };
bool is_would_block(const Error& e);

class GenerationService {
 public:
  explicit GenerationService(ModelRegistry& registry) : registry_(registry) {}

  Result<PreparedGeneration> prepare_chat(const ChatCompletionRequest& request, Acquire mode = Acquire::kMayWait);
  Result<PreparedGeneration> prepare_completion(const CompletionRequest& request, Acquire mode = Acquire::kMayWait);
  Result<PreparedEmbedding> prepare_embedding(const EmbeddingRequest& request, Acquire mode = Acquire::kMayWait);

  ModelRegistry& registry() { return registry_; }

 private:
  Result<PreparedGeneration> start(const GenerationOptions& g, Acquire mode);
  Result<std::shared_ptr<ModelEngine>> engine_for(const std::string& id, Acquire mode);
  ModelRegistry& registry_;
};

}  // namespace hearth
