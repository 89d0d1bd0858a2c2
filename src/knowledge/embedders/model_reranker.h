// ModelReranker: a GGUF reranker model (a cross-encoder with rank pooling, e.g. bge-reranker)
// from the catalog, run by the engine, as the knowledge base's Reranker (issue #3). Each
// (query, chunk) pair is scored by ModelEngine::rerank, which builds the pair as llama-server's
// /rerank does, so scores match llama-server's for the same model.
//
// The model is acquired from the registry per score() call (loaded then if needed), so an
// instance pins nothing. A full queue is waited out with backoff.
//
// Thread-safety: score() blocks until the scores are ready; call it off network threads. Any
// number of threads may share an instance.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "knowledge/knowledge_base.h"

namespace hearth {
class ModelRegistry;
}  // namespace hearth

namespace hearth::knowledge {

class ModelReranker final : public Reranker {
 public:
  // `model`: a catalog id or alias (not_found listing the ids otherwise). The registry must
  // outlive the reranker. Whether the model really is a reranker is checked on first use.
  static Result<std::unique_ptr<ModelReranker>> create(ModelRegistry& registry, const std::string& model);

  std::string name() const override { return "gguf:" + id_; }
  Result<std::vector<double>> score(const std::string& query, std::span<const std::string> texts) override;

 private:
  ModelReranker(ModelRegistry& registry, std::string id) : registry_(registry), id_(std::move(id)) {}
  ModelRegistry& registry_;
  std::string id_;
};

}  // namespace hearth::knowledge
