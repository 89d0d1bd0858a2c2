// EmbeddingWorker: a thread that owns an embedding model's context and turns token sequences
// into pooled, L2-normalized vectors, several sequences per llama_decode. A reranker (rank
// pooling) gives its classification head's raw outputs instead (n_cls_out floats, usually one).
// Threading: submit() is thread-safe; the context belongs to the worker thread.
#pragma once

#include <llama.h>
#include <llama-cpp.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/model_engine.h"

namespace hearth {

class EmbeddingWorker {
 public:
  EmbeddingWorker(const llama_model* model, llama_context_ptr ctx, int max_queue);
  ~EmbeddingWorker();

  Status submit(std::vector<std::vector<Token>> inputs, EmbedDone done);
  int load() const;
  SchedulerStats stats() const;

 private:
  struct Job {
    std::vector<std::vector<Token>> inputs;
    EmbedDone done;
  };
  void run();
  Result<std::vector<std::vector<float>>> compute(const std::vector<std::vector<Token>>& inputs);

  const llama_model* model_;
  llama_context_ptr ctx_;
  const int max_queue_;
  const int n_batch_;
  const int n_seq_max_;
  const bool rank_;
  const int n_embd_;
  llama_batch batch_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  bool busy_ = false;
  SchedulerStats stats_;
  std::thread thread_;
};

}  // namespace hearth
