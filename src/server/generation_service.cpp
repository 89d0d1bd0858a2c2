#include "server/generation_service.h"

#include <fmt/format.h>

namespace hearth {

namespace {
constexpr const char* kWouldBlock = "hearth_would_block";
}

bool is_would_block(const Error& e) { return e.type_override == kWouldBlock; }

Result<std::shared_ptr<ModelEngine>> GenerationService::engine_for(const std::string& id, Acquire mode) {
  if (mode == Acquire::kMayWait) return registry_.acquire(id);
  auto engine = registry_.try_acquire(id);
  if (engine && !*engine) {
    Error e = unavailable("the model is not loaded yet");
    e.type_override = kWouldBlock;
    return e;
  }
  return engine;
}

Result<PreparedGeneration> GenerationService::start(const GenerationOptions& g, Acquire mode) {
  auto e = registry_.resolve(g.model);
  if (!e) return e.take_error();
  const ModelEntry* entry = *e;
  auto engine = engine_for(entry->id, mode);
  if (!engine) return engine.take_error();
  if ((*engine)->info().is_embedding) {
    return invalid_argument(fmt::format("'{}' is an embedding model; use /v1/embeddings", entry->id), "model");
  }
  HEARTH_TRY(check_token_ids(g.sampling, (*engine)->info().n_vocab));
  PreparedGeneration p;
  p.engine = std::move(*engine);
  p.model_id = entry->id;
  GenerationRequest& r = p.request;
  r.sampling = g.sampling.apply(entry->sampling);
  r.max_tokens = g.max_tokens ? *g.max_tokens : -1;
  r.stop = g.stop;
  r.ignore_eos = g.ignore_eos;
  switch (g.response_format.type) {
    case ResponseFormat::Type::kText: break;
    case ResponseFormat::Type::kJsonObject:
    case ResponseFormat::Type::kJsonSchema: {
      auto grammar = json_schema_to_gbnf(g.response_format.schema);
      if (!grammar) return grammar.take_error();
      r.sampling.grammar = std::move(*grammar);
      break;
    }
  }
  return p;
}

Result<PreparedGeneration> GenerationService::prepare_chat(const ChatCompletionRequest& req, Acquire mode) {
  auto p = start(req.gen, mode);
  if (!p) return p.take_error();
  ChatRenderRequest render;
  render.messages = req.messages;
  render.enable_thinking = req.enable_thinking;
  auto chat = p->engine->render_chat(render);
  if (!chat) return chat.take_error();
  auto tokens = p->engine->tokenize(chat->prompt, true, true);
  if (!tokens) return tokens.take_error();
  p->request.prompt = std::move(*tokens);
  for (auto& s : chat->extra_stops) p->request.stop.push_back(std::move(s));
  // Constrained output is the answer itself: no think block then.
  p->split_reasoning = p->request.sampling.grammar.empty();
  p->starts_in_reasoning = chat->starts_in_reasoning && p->split_reasoning;
  p->think_open = chat->think_open;
  p->think_close = chat->think_close;
  return p;
}

Result<PreparedGeneration> GenerationService::prepare_completion(const CompletionRequest& req, Acquire mode) {
  auto p = start(req.gen, mode);
  if (!p) return p.take_error();
  if (!req.prompt_tokens.empty()) {
    const int n_vocab = p->engine->info().n_vocab;
    for (Token t : req.prompt_tokens) {
      if (t >= n_vocab) {
        return invalid_argument(fmt::format("'prompt' contains token {}, but the vocabulary has {} tokens", t, n_vocab),
                                "prompt");
      }
    }
    p->request.prompt = req.prompt_tokens;
  } else {
    auto tokens = p->engine->tokenize(req.prompt, true, false);
    if (!tokens) return tokens.take_error();
    p->request.prompt = std::move(*tokens);
  }
  return p;
}

Result<PreparedEmbedding> GenerationService::prepare_embedding(const EmbeddingRequest& req, Acquire mode) {
  auto e = registry_.resolve(req.model);
  if (!e) return e.take_error();
  auto engine = engine_for((*e)->id, mode);
  if (!engine) return engine.take_error();
  if (!(*engine)->info().is_embedding) {
    return invalid_argument(fmt::format("'{}' is not an embedding model", (*e)->id), "model");
  }
  PreparedEmbedding p;
  p.engine = std::move(*engine);
  p.model_id = (*e)->id;
  const int n_vocab = p.engine->info().n_vocab;
  for (const auto& text : req.texts) {
    auto toks = p.engine->tokenize(text, true, false);
    if (!toks) return toks.take_error();
    p.inputs.push_back(std::move(*toks));
  }
  for (const auto& toks : req.token_inputs) {
    for (Token t : toks) {
      if (t >= n_vocab) {
        return invalid_argument(fmt::format("'input' contains token {}, but the vocabulary has {} tokens", t, n_vocab),
                                "input");
      }
    }
    p.inputs.push_back(toks);
  }
  for (const auto& in : p.inputs) p.prompt_tokens += static_cast<int>(in.size());
  return p;
}

}  // namespace hearth
