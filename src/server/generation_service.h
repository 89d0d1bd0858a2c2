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

class GenerationService {
 public:
  explicit GenerationService(ModelRegistry& registry) : registry_(registry) {}

  Result<PreparedGeneration> prepare_chat(const ChatCompletionRequest& request);
  Result<PreparedGeneration> prepare_completion(const CompletionRequest& request);
  Result<PreparedEmbedding> prepare_embedding(const EmbeddingRequest& request);

  ModelRegistry& registry() { return registry_; }

 private:
  Result<PreparedGeneration> start(const GenerationOptions& g, const ModelEntry*& entry);
  ModelRegistry& registry_;
};

}  // namespace hearth
