// Typed OpenAI-compatible requests. JSON stops at the parsers below: handlers and services see
// only these values. Each parser validates every field it reads and names the bad one.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "engine/model_engine.h"
#include "engine/types.h"

namespace hearth {

// Request-level overrides of a model's default sampling parameters.
struct SamplingOverrides {
  std::optional<float> temperature, top_p, min_p, presence_penalty, frequency_penalty, repeat_penalty;
  std::optional<int> top_k;
  std::optional<std::uint32_t> seed;
  std::vector<std::pair<Token, float>> logit_bias;
  SamplingParams apply(SamplingParams base) const;
};

struct ResponseFormat {
  enum class Type { kText, kJsonObject, kJsonSchema } type = Type::kText;
  std::string schema;  // kJsonSchema: the schema, serialized
};

struct GenerationOptions {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  std::optional<int> max_tokens;
  std::vector<std::string> stop;
  SamplingOverrides sampling;
  ResponseFormat response_format;
  std::string user;
  bool ignore_eos = false;  // extension (as llama-server): keep generating past end-of-generation tokens
};

// Retrieval settings: the "knowledge" extension field of a chat request, and the body of
// POST /v1/knowledge/search.
struct KnowledgeRequest {
  std::vector<std::string> collections;
  std::string query;  // search: required; chat: empty means the last user message
  int top_k = 5;
  std::optional<double> alpha;  // unset: each collection's default (knowledge::default_alpha)
  bool rrf = false;
  bool rerank = false;  // reorder the best candidates with [knowledge] reranker
  std::optional<double> mmr_lambda;
  std::vector<std::string> documents;                          // filter: document URI globs (any)
  std::vector<std::pair<std::string, std::string>> metadata;   // filter: key = value (all)
};

struct ChatCompletionRequest {
  GenerationOptions gen;
  std::vector<ChatMessage> messages;
  bool enable_thinking = true;
  std::optional<KnowledgeRequest> knowledge;
};

struct CompletionRequest {
  GenerationOptions gen;
  std::string prompt;               // text prompt, or
  std::vector<Token> prompt_tokens;  // a prompt given as token ids
  bool echo = false;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> texts;             // string inputs, or
  std::vector<std::vector<Token>> token_inputs;  // token-id inputs
  bool base64 = false;
  std::string user;
};

Result<nlohmann::json> parse_json_body(std::string_view body);
Result<ChatCompletionRequest> parse_chat_request(const nlohmann::json& body);
Result<CompletionRequest> parse_completion_request(const nlohmann::json& body);
Result<EmbeddingRequest> parse_embedding_request(const nlohmann::json& body);
// `prefix` names the object in errors ("knowledge" inside a chat request, "" for a search body).
Result<KnowledgeRequest> parse_knowledge_request(const nlohmann::json& object, const std::string& prefix,
                                                 bool query_required);

// Checks that the request's token ids (logit_bias keys) exist in a vocabulary of n_vocab tokens.
Status check_token_ids(const SamplingOverrides& s, int n_vocab);

}  // namespace hearth
