// Whether a model's output can be promised not to depend on batching (batch_invariant = true):
// a greedy or seeded request gives the same tokens alone or beside any other requests, and an
// embedding is the same alone or in a batch. The promise rests on ggml's reference CPU kernels
// (plus Hearth's llama.cpp patch 0002, which keeps the llamafile GEMM out of them): every output
// row is then computed by the same one-row kernel whatever the batch's shape, on every CPU.
// The facts below are the settings and model properties under which that argument fails;
// assess() turns them into a verdict with a reason, logged at load and shown in /v1/models.
// Pure (no llama.cpp): table-tested in tests/unit/engine_batch_invariance_test.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

struct BatchInvarianceFacts {
  bool requested = false;       // batch_invariant = true
  bool flash_attn_off = false;  // flash_attn = "off"
  bool kv_unified = false;      // one KV pool shared by the sequences (matters for generative models)
  // Known once the model is loaded (nullopt before):
  std::optional<bool> embedding;                         // an embedding or reranker model
  std::optional<bool> recurrent;                         // recurrent or hybrid memory (Mamba, RWKV, ...)
  std::optional<bool> sliding_window;                    // sliding-window attention layers (Gemma 2/3, ...)
  std::optional<std::vector<std::string>> accelerators;  // ggml devices other than the CPU (CUDA0, BLAS, ...)
  // The load-time kernel probe (kernel_probe.h), run when nothing above rules the promise out:
  std::optional<std::vector<std::string>> varying_kernels;  // kernels whose rows changed with the batch
  std::vector<std::string> unprobed;                        // weight or KV types it could not test
  std::string cpu;                                          // the CPU's model name, for the reason
};

struct BatchInvariance {
  bool requested = false;
  std::optional<bool> holds;  // nullopt: not decided until the model loads
  std::string reason;         // one sentence: why it holds, or what breaks it
};

BatchInvariance assess_batch_invariance(const BatchInvarianceFacts& facts);

// The facts known from a model's settings alone (before it loads).
BatchInvarianceFacts batch_invariance_settings(bool requested, std::string_view flash_attn, bool kv_unified);

}  // namespace hearth
