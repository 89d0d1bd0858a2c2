// ModelEngine: one loaded GGUF model and the machinery that serves it: a SlotScheduler for
// generative models, or an embedding worker for embedding models. This header keeps llama.h out
// of its includers; only src/engine/*.cpp include llama.h.
//
// Threading: every public method is thread-safe. tokenize() and render_chat() run on the
// caller's thread; generation and embedding run on the model's own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "engine/batch_invariance.h"
#include "engine/scheduler.h"
#include "engine/types.h"

namespace hearth {

struct ModelLoadOptions {
  std::string path;
  int context_size = 4096;  // tokens per request (prompt + completion)
  int parallel = 4;         // sequences decoded together
  int threads = 0;          // 0: all cores
  int threads_batch = 0;    // 0: same as threads
  int batch_size = 512;     // tokens per decode call (chunked prefill size)
  // Tokens per llama.cpp micro-batch. Without flash attention the attention scratch is
  // context x ubatch x heads x 4 bytes (64 MiB for the Qwen2-0.5B shape at 4,096 tokens), and
  // CPU prompt processing is no faster at 512 than at 256 (bench: pp512 195 vs 180 tok/s).
  int ubatch_size = 256;
  std::string kv_type = "f16";  // f32, f16, bf16, q8_0, q4_0
  int gpu_layers = 0;           // -1: all (needs a GPU build)
  // false: read the weights into memory. true: memory-map the file. On CPU llama.cpp repacks many
  // quantized tensors (Q4_0, Q4_K, IQ4_NL, ...) into a faster layout; with a mapping their
  // original pages stay resident as well, so the weights can count twice in the process's memory.
  // A mapping loads faster and shares pages between processes serving the same file.
  bool mmap = false;
  // true (without mmap): ask Linux to back the weights with transparent huge pages (2 MiB), which
  // takes most of the TLB misses out of reading them (single-stream decoding 2-4% faster on the
  // 2-core bench machine). Costs no memory: the weights are read whole. No effect where THP is "never".
  bool huge_pages = true;
  // false: one KV stream per sequence, so attention covers only its own cells (idle caches of
  // other sequences cost nothing); true: one shared pool (cheaper prefix copies).
  bool kv_unified = false;
  // auto (on where the device supports it, as on CPU): attention without the context x ubatch
  // scratch matrix (64 MiB for the Qwen2-0.5B shape at 4,096 tokens). "off" computes attention
  // with matrix-multiply kernels that llama.cpp picks by batch shape (see batch_invariant).
  std::string flash_attn = "auto";  // auto, on, off
  // true: a greedy or seeded request's tokens do not depend on what else shares its decoding
  // steps. On CPU, llama.cpp's fast kernels change with batch shape: flash attention's tiled and
  // split-KV paths, matrix products whose kernel depends on the number of rows, and the repacked
  // weight layouts (Q4_0, Q4_K, IQ4_NL, ...) that have separate one-row and many-row kernels. So
  // Hearth turns on ggml's reference-kernel switch (use_ref; with llama.cpp patch 0002 one kernel
  // per product whatever the rows) and keeps the weights in their file layout. Whether the promise
  // holds is decided at load (batch_invariance_check.h: settings, devices, the kernel probe on
  // this CPU) and reported in ModelInfo::batch_invariance. It costs prompts time (see
  // docs/BENCHMARKS.md); decoding is about as fast. Needs flash attention (with flash_attn = "off"
  // the attention matrix products still vary). false (the default, as llama-server): llama.cpp's
  // fastest kernels.
  bool batch_invariant = false;
  int max_queue = 64;
  // Prompts that arrive together complete over several steps when that costs the last of them at
  // most this fraction more than one big step (the first users get their first token sooner);
  // 0: one big step, as llama-server. See docs/OPERATIONS.md.
  double prefill_spread = 0.05;
  // For this long after the first request of a busy spell, a request that arrives while the first
  // prompt step computes stops it and joins it (CPU only); 0: the first step waits 3 ms instead.
  int join_window_ms = 50;
  std::string chat_template;  // override; empty: the model's own
};

struct ModelInfo {
  std::string architecture;
  std::string description;
  std::uint64_t n_params = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t kv_bytes = 0;       // estimated KV-cache size
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_vocab = 0;
  bool is_embedding = false;
  std::string pooling;              // embedding models: none, mean, cls, last, rank
  bool has_chat_template = false;
  BatchInvariance batch_invariance;  // whether output is promised not to depend on batching, and why
};

struct ChatMessage {
  std::string role;     // system, user, assistant, tool
  std::string content;
  std::string reasoning_content;
  std::string name;
  std::string tool_call_id;
};

struct ChatRenderRequest {
  std::vector<ChatMessage> messages;
  bool add_generation_prompt = true;
  bool enable_thinking = true;
};

struct RenderedChat {
  std::string prompt;
  bool starts_in_reasoning = false;  // the prompt opened a think block
  bool supports_thinking = false;
  std::string think_open = "<think>";
  std::string think_close = "</think>";
  std::vector<std::string> extra_stops;
};

using EmbedDone = std::function<void(Result<std::vector<std::vector<float>>>)>;
using RerankDone = std::function<void(Result<std::vector<float>>)>;

class ModelEngine {
 public:
  static Result<std::unique_ptr<ModelEngine>> load(const ModelLoadOptions& options);
  ~ModelEngine();
  ModelEngine(const ModelEngine&) = delete;
  ModelEngine& operator=(const ModelEngine&) = delete;

  const ModelInfo& info() const;
  const ModelLoadOptions& options() const;

  Result<std::vector<Token>> tokenize(std::string_view text, bool add_special, bool parse_special) const;
  std::string detokenize(const std::vector<Token>& tokens) const;
  Result<RenderedChat> render_chat(const ChatRenderRequest& request) const;

  // Generative models only.
  Result<std::shared_ptr<RequestHandle>> generate(GenerationRequest request, EventSink sink);
  // Embedding models only: one L2-normalized vector per input. `done` runs on the model thread.
  // Reranker models (pooling "rank") are refused: use rerank().
  Status embed(std::vector<std::vector<Token>> inputs, EmbedDone done);
  // Reranker models only: one relevance score per document (higher is more relevant), from the
  // classification head over "query, document" as llama-server's /rerank builds it (the model's
  // "rerank" template if it has one, else BOS query EOS SEP document EOS, each as the vocab
  // asks). A document that would not fit the context is cut at the end. `done` runs on the
  // model thread.
  Status rerank(std::string_view query, std::span<const std::string> documents, RerankDone done);

  SchedulerStats stats() const;
  int load() const;  // requests waiting or running

  struct Impl;

 private:
  explicit ModelEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets up llama.cpp once per process and routes its log to ours. Idempotent, thread-safe.
void engine_global_init();
std::string engine_system_info();

// OpenAI response_format → GBNF, using llama.cpp's JSON-schema converter.
// An empty schema string means "any JSON object".
Result<std::string> json_schema_to_gbnf(const std::string& schema_json);

}  // namespace hearth
