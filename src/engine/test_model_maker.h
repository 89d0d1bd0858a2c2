// Makes small GGUF models with random weights and real tokenizers (llama.cpp's
// models/ggml-vocab-*.gguf), for tests, benchmarks and the out-of-the-box default model.
// The tensor list comes from llama.cpp itself (the model loader is asked what the architecture
// needs), so the files are exactly what llama.cpp loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace hearth {

struct TestModelSpec {
  std::string name;          // file stem and general.name
  std::string vocab_file;    // ggml-vocab-*.gguf
  std::string architecture;  // llama, qwen2, bert
  std::string chat_template_file;  // a .jinja file; empty: keep the vocab file's template, if any
  int n_embd = 64;
  int n_layer = 2;
  int n_head = 4;
  int n_head_kv = 2;
  int n_ff = 128;
  int n_ctx_train = 8192;
  float rope_freq_base = 10000.0f;
  std::string type = "f16";  // f32, f16, q8_0, q4_k_m
  std::uint64_t seed = 42;
  float scale = 1.0f;        // weight scale; larger: peakier output distributions
  bool reranker = false;     // bert only: rank pooling with a classification head (one score)
};

// The built-in presets: qwen2, llama3, deepseek-r1, bert, bert-reranker (tiny) and qwen2-0.5b
// (benchmark size).
Result<TestModelSpec> test_model_preset(const std::string& preset, const std::string& llama_models_dir);
std::vector<std::string> test_model_presets();

// Writes the model to `out_path` (atomically: a temp file renamed into place).
Status make_test_model(const TestModelSpec& spec, const std::string& out_path, int threads);

}  // namespace hearth
