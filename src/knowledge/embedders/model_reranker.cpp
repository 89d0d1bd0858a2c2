#include "knowledge/embedders/model_reranker.h"

#include <fmt/format.h>

#include <chrono>

#include "engine/model_engine.h"
#include "knowledge/embedders/engine_wait.h"
#include "models/registry.h"

namespace hearth::knowledge {
namespace {

constexpr std::size_t kPairsPerJob = 32;  // other requests interleave between jobs

}  // namespace

Result<std::unique_ptr<ModelReranker>> ModelReranker::create(ModelRegistry& registry, const std::string& model) {
  if (model.empty()) return invalid_argument("a reranker needs a model id", "reranker");
  auto entry = registry.resolve(model);
  if (!entry) {
    Error e = entry.take_error();
    e.param = "reranker";
    return e;
  }
  return std::unique_ptr<ModelReranker>(new ModelReranker(registry, (*entry)->id));
}

Result<std::vector<double>> ModelReranker::score(const std::string& query, std::span<const std::string> texts) {
  if (texts.empty()) return std::vector<double>{};
  auto acquired = registry_.acquire(id_);
  if (!acquired) return acquired.take_error();
  std::shared_ptr<ModelEngine> engine = std::move(*acquired);
  if (engine->info().pooling != "rank") {
    return invalid_argument(
        fmt::format("'{}' is not a reranker model (its pooling is '{}', not 'rank')", id_, engine->info().pooling),
        "reranker");
  }
  using Scores = Result<std::vector<float>>;
  std::vector<double> out;
  out.reserve(texts.size());
  for (std::size_t first = 0; first < texts.size(); first += kPairsPerJob) {
    const auto job = texts.subspan(first, std::min(kPairsPerJob, texts.size() - first));
    Scores s = submit_and_wait<std::vector<float>>(
        [&](std::function<void(Scores)> done) { return engine->rerank(query, job, std::move(done)); });
    if (!s) return s.take_error();
    if (s->size() != job.size()) return internal_error("the reranker returned a score count unlike its inputs'");
    for (float x : *s) out.push_back(x);
  }
  return out;
}

}  // namespace hearth::knowledge
