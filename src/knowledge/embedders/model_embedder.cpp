#include "knowledge/embedders/model_embedder.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include "engine/model_engine.h"
#include "knowledge/embedders/engine_wait.h"
#include "models/registry.h"

namespace hearth::knowledge {
namespace {

constexpr std::size_t kInputsPerJob = 64;  // other requests interleave between jobs
constexpr int kMaxSplitDepth = 48;

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// A cut near the middle of `text`: white space within the middle half if there is some, else a
// UTF-8 character boundary at the middle.
std::size_t cut_point(std::string_view text) {
  const std::size_t mid = text.size() / 2;
  for (std::size_t d = 0; d <= mid / 2; ++d) {
    if (mid + d < text.size() && is_space(text[mid + d])) return mid + d;
    if (d < mid && is_space(text[mid - d])) return mid - d;
  }
  std::size_t cut = mid;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  if (cut == 0) {
    cut = mid;
    while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;
  }
  return cut;
}

struct Piece {
  std::size_t text = 0;  // which input text
  std::vector<Token> tokens;
};

Status add_pieces(const ModelEngine& engine, std::size_t index, std::string_view text, std::size_t limit,
                  std::vector<Piece>& out, int depth = 0) {
  auto toks = engine.tokenize(text, true, false);
  if (!toks) return toks.take_error();
  if (toks->size() <= limit) {
    if (!toks->empty()) out.push_back({index, std::move(*toks)});  // nothing to embed otherwise
    return {};
  }
  const std::size_t cut = cut_point(text);
  if (depth >= kMaxSplitDepth || cut == 0 || cut >= text.size()) {
    return invalid_argument(fmt::format("text {} has a piece of {} tokens that cannot be split below the model's "
                                        "limit of {}",
                                        index, toks->size(), limit),
                            "input");
  }
  for (std::string_view part : {text.substr(0, cut), text.substr(cut)}) {
    if (std::all_of(part.begin(), part.end(), is_space)) continue;
    HEARTH_TRY(add_pieces(engine, index, part, limit, out, depth + 1));
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<ModelEmbedder>> ModelEmbedder::create(ModelRegistry& registry, const std::string& model,
                                                             int dimensions, std::string name) {
  if (model.empty()) return invalid_argument("a gguf embedder needs a model id, as in 'gguf:<model id>'", "embedder");
  auto entry = registry.resolve(model);
  if (!entry) {
    Error e = entry.take_error();
    e.param = "embedder";
    return e;
  }
  const std::string id = (*entry)->id;
  if (name.empty()) name = "gguf:" + id;
  return std::unique_ptr<ModelEmbedder>(new ModelEmbedder(registry, id, std::move(name), dimensions));
}

Result<std::vector<std::vector<float>>> ModelEmbedder::embed(std::span<const std::string> texts) {
  if (texts.empty()) return std::vector<std::vector<float>>{};
  auto acquired = registry_.acquire(id_);
  if (!acquired) return acquired.take_error();
  std::shared_ptr<ModelEngine> engine = std::move(*acquired);
  const ModelInfo& info = engine->info();
  if (!info.is_embedding) {
    return invalid_argument(fmt::format("'{}' is not an embedding model; use one for a gguf embedder", id_), "embedder");
  }
  if (info.pooling == "rank") {
    return invalid_argument(fmt::format("'{}' is a reranker (pooling 'rank'), not an embedding model", id_),
                            "embedder");
  }
  // What the embedding worker takes per input (model_engine.cpp sizes its batch this way).
  const int ctx = engine->options().context_size;
  const std::size_t limit = static_cast<std::size_t>(std::min(ctx, info.n_ctx_train > 0 ? info.n_ctx_train : ctx));

  std::vector<Piece> pieces;
  pieces.reserve(texts.size());
  std::vector<std::size_t> empty_texts;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::size_t before = pieces.size();
    HEARTH_TRY(add_pieces(*engine, i, texts[i], limit, pieces));
    if (pieces.size() > before + 1) ++split_inputs_;
    // A model without special tokens turns "" into no tokens: such a text gets the zero vector.
    if (pieces.size() == before) empty_texts.push_back(i);
  }
  std::vector<std::vector<Token>> inputs;
  std::vector<float> token_counts;
  inputs.reserve(pieces.size());
  for (Piece& p : pieces) {
    token_counts.push_back(static_cast<float>(p.tokens.size()));
    inputs.push_back(std::move(p.tokens));
  }
  auto vectors = run(*engine, std::move(inputs));
  engine.reset();
  if (!vectors) return vectors.take_error();

  // One piece per text is the rule; a split text gets the pieces' mean weighted by token count.
  std::vector<std::vector<float>> out(texts.size());
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    std::vector<float>& v = (*vectors)[k];
    if (dims_ == 0) dims_ = static_cast<int>(v.size());
    if (static_cast<int>(v.size()) != dims_) {
      return internal_error(fmt::format("'{}' produced {}-dimensional vectors, expected {}", id_, v.size(), dims_));
    }
    std::vector<float>& sum = out[pieces[k].text];
    if (sum.empty()) sum.assign(v.size(), 0.0f);
    for (std::size_t d = 0; d < v.size(); ++d) sum[d] += token_counts[k] * v[d];
  }
  for (std::size_t i : empty_texts) {
    if (dims_ == 0) return invalid_argument(fmt::format("text {} is empty", i), "input");
    out[i].assign(static_cast<std::size_t>(dims_), 0.0f);
  }
  for (std::vector<float>& v : out) {
    double norm = 0;
    for (float x : v) norm += static_cast<double>(x) * x;
    norm = std::sqrt(norm);
    if (norm > 0) {
      for (float& x : v) x = static_cast<float>(x / norm);
    }
  }
  return out;
}

Result<std::vector<std::vector<float>>> ModelEmbedder::run(ModelEngine& engine, std::vector<std::vector<Token>> inputs) {
  using Vectors = Result<std::vector<std::vector<float>>>;
  std::vector<std::vector<float>> out;
  out.reserve(inputs.size());
  for (std::size_t first = 0; first < inputs.size(); first += kInputsPerJob) {
    const std::size_t last = std::min(inputs.size(), first + kInputsPerJob);
    std::vector<std::vector<Token>> job(std::make_move_iterator(inputs.begin() + static_cast<std::ptrdiff_t>(first)),
                                        std::make_move_iterator(inputs.begin() + static_cast<std::ptrdiff_t>(last)));
    Vectors v = submit_and_wait<std::vector<std::vector<float>>>(
        [&](std::function<void(Vectors)> done) { return engine.embed(job, std::move(done)); });
    if (!v) return v.take_error();
    if (v->size() != job.size()) {
      return internal_error(fmt::format("'{}' returned {} vectors for {} inputs", id_, v->size(), job.size()));
    }
    for (auto& x : *v) out.push_back(std::move(x));
  }
  return out;
}

}  // namespace hearth::knowledge
