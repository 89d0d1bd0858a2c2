// ModelEmbedder: vectors from a catalog GGUF embedding model, run by the engine (the same path
// as POST /v1/embeddings: tokenize with the model's special tokens, ModelEngine::embed, pooled and
// L2-normalized by the embedding worker).
//
// Long inputs: a text with more tokens than the model takes at once (its context, at most its
// training context) is split at white space near the middle, recursively, until every piece fits;
// the pieces' vectors are averaged weighted by their token counts and normalized again. Chunks are
// usually far below the limit, so this is rare, and it keeps whole documents embeddable instead of
// failing a sync.
//
// The model is acquired from the registry per embed() call (it may be loaded then, or evicted
// between calls), so an instance pins nothing. A full embedding queue is waited out with backoff.
//
// Thread-safety: embed() blocks until the vectors are ready; call it off network threads. One
// thread at a time per instance (it learns its dimensions); the registry is shared.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "engine/types.h"
#include "knowledge/knowledge_base.h"

namespace hearth {
class ModelRegistry;
class ModelEngine;
}  // namespace hearth

namespace hearth::knowledge {

class ModelEmbedder final : public Embedder {
 public:
  // `model`: a catalog id or alias (not_found listing the ids otherwise). `dimensions`: known
  // ones (a collection's), else 0 to learn them. `name`: what name() returns; empty:
  // "gguf:<catalog id>". The registry must outlive the embedder.
  static Result<std::unique_ptr<ModelEmbedder>> create(ModelRegistry& registry, const std::string& model,
                                                       int dimensions = 0, std::string name = {});

  std::string name() const override { return name_; }
  int dimensions() const override { return dims_; }
  Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) override;

  std::uint64_t split_inputs() const { return split_inputs_; }  // texts that had to be split

 private:
  ModelEmbedder(ModelRegistry& registry, std::string id, std::string name, int dimensions)
      : registry_(registry), id_(std::move(id)), name_(std::move(name)), dims_(dimensions) {}
  Result<std::vector<std::vector<float>>> run(ModelEngine& engine, std::vector<std::vector<Token>> inputs);

  ModelRegistry& registry_;
  std::string id_;
  std::string name_;
  int dims_ = 0;
  std::uint64_t split_inputs_ = 0;
};

}  // namespace hearth::knowledge
