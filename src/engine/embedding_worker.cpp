#include "engine/embedding_worker.h"

#include <fmt/format.h>

#include <cmath>

#include "engine/llama_backend.h"

namespace hearth {

EmbeddingWorker::EmbeddingWorker(const llama_model* model, llama_context_ptr ctx, int max_queue)
    : model_(model),
      ctx_(std::move(ctx)),
      max_queue_(max_queue),
      n_batch_(static_cast<int>(llama_n_batch(ctx_.get()))),
      n_seq_max_(static_cast<int>(llama_n_seq_max(ctx_.get()))),
      rank_(llama_pooling_type(ctx_.get()) == LLAMA_POOLING_TYPE_RANK),
      n_embd_(rank_ ? static_cast<int>(llama_model_n_cls_out(model)) : llama_model_n_embd_out(model)),
      batch_(llama_batch_init(n_batch_, 0, 1)) {
  thread_ = std::thread([this] { run(); });
}

EmbeddingWorker::~EmbeddingWorker() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
  llama_batch_free(batch_);
}

Status EmbeddingWorker::submit(std::vector<std::vector<Token>> inputs, EmbedDone done) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) return invalid_argument(fmt::format("input[{}] is empty", i), "input");
    if (static_cast<int>(inputs[i].size()) > n_batch_) {
      Error e = invalid_argument(fmt::format("input[{}] has {} tokens; this embedding model takes at most {}", i,
                                             inputs[i].size(), n_batch_),
                                 "input");
      e.type_override = "context_length_exceeded";
      return e;
    }
  }
  std::lock_guard lk(mu_);
  if (stopping_) return unavailable("the model is shutting down");
  if (static_cast<int>(jobs_.size()) >= max_queue_) {
    ++stats_.requests_rejected;
    return resource_exhausted("the embedding queue is full; retry later", 1);
  }
  jobs_.push_back({std::move(inputs), std::move(done)});
  ++stats_.requests_submitted;
  stats_.queued = static_cast<int>(jobs_.size());
  cv_.notify_all();
  return {};
}

int EmbeddingWorker::load() const {
  std::lock_guard lk(mu_);
  return static_cast<int>(jobs_.size()) + (busy_ ? 1 : 0);
}

SchedulerStats EmbeddingWorker::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void EmbeddingWorker::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) break;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      stats_.queued = static_cast<int>(jobs_.size());
      busy_ = true;
    }
    auto result = compute(job.inputs);
    {
      std::lock_guard lk(mu_);
      busy_ = false;
      ++stats_.requests_completed;
    }
    job.done(std::move(result));
  }
  std::deque<Job> rest;
  {
    std::lock_guard lk(mu_);
    rest.swap(jobs_);
  }
  for (auto& j : rest) j.done(unavailable("the model is shutting down"));
}

Result<std::vector<std::vector<float>>> EmbeddingWorker::compute(const std::vector<std::vector<Token>>& inputs) {
  std::vector<std::vector<float>> out(inputs.size());
  const bool encoder_only = llama_model_has_encoder(model_) && !llama_model_has_decoder(model_);
  const bool pooled = llama_pooling_type(ctx_.get()) != LLAMA_POOLING_TYPE_NONE;
  size_t next = 0;
  while (next < inputs.size()) {
    // Pack as many whole inputs as fit one batch.
    size_t first = next;
    int n_tokens = 0;
    while (next < inputs.size() && static_cast<int>(next - first) < n_seq_max_ &&
           n_tokens + static_cast<int>(inputs[next].size()) <= n_batch_) {
      n_tokens += static_cast<int>(inputs[next].size());
      ++next;
    }
    batch_.n_tokens = 0;
    for (size_t i = first; i < next; ++i) {
      const auto& toks = inputs[i];
      for (size_t p = 0; p < toks.size(); ++p) {
        const int k = batch_.n_tokens++;
        batch_.token[k] = toks[p];
        batch_.pos[k] = static_cast<llama_pos>(p);
        batch_.n_seq_id[k] = 1;
        batch_.seq_id[k][0] = static_cast<llama_seq_id>(i - first);
        batch_.logits[k] = pooled ? 1 : (p + 1 == toks.size());
      }
    }
    if (llama_memory_t mem = llama_get_memory(ctx_.get())) llama_memory_clear(mem, true);
    const int32_t rc = encoder_only ? llama_encode(ctx_.get(), batch_) : llama_decode(ctx_.get(), batch_);
    HEARTH_TRY(decode_status(rc, static_cast<size_t>(batch_.n_tokens)));
    int out_index = 0;
    for (size_t i = first; i < next; ++i) {
      const float* e = nullptr;
      if (pooled) {
        e = llama_get_embeddings_seq(ctx_.get(), static_cast<llama_seq_id>(i - first));
      } else {
        e = llama_get_embeddings_ith(ctx_.get(), out_index++);  // the one output: the last token
      }
      if (e == nullptr) return internal_error("the model produced no embedding");
      std::vector<float> v(e, e + n_embd_);
      if (rank_) {  // a reranker's classification head: raw scores, not a direction
        out[i] = std::move(v);
        continue;
      }
      double norm = 0;
      for (float x : v) norm += static_cast<double>(x) * x;
      norm = std::sqrt(norm);
      if (norm > 0) for (float& x : v) x = static_cast<float>(x / norm);
      out[i] = std::move(v);
    }
  }
  return out;
}

}  // namespace hearth
