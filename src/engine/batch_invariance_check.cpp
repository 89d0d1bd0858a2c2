#include "engine/batch_invariance_check.h"

#include <ggml-backend.h>
#include <spdlog/spdlog.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "core/host.h"
#include "engine/kernel_probe.h"

namespace hearth {
namespace {

// ggml devices other than the CPU: llama.cpp may place layers there (gpu_layers) or send large
// batches there (its operation offload), so they count even with gpu_layers = 0.
std::vector<std::string> accelerators() {
  std::vector<std::string> out;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    if (ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU) out.emplace_back(ggml_backend_dev_name(dev));
  }
  return out;
}

std::string meta(const llama_model* model, const std::string& key) {
  char buf[256];
  const int n = llama_model_meta_val_str(model, key.c_str(), buf, sizeof(buf));
  return n >= 0 ? std::string(buf) : std::string();
}

int meta_int(const llama_model* model, const std::string& key, int fallback) {
  const std::string v = meta(model, key);
  if (v.empty()) return fallback;
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    return fallback;
  }
}

// The files of a model split into several GGUFs (name-00001-of-00003.gguf, ...): their matrix
// types together.
Result<std::vector<ggml_type>> model_matrix_types(const llama_model* model, const std::string& path) {
  const int count = meta_int(model, "split.count", 1);
  if (count <= 1) return gguf_matrix_types(path);
  char prefix[4096];
  if (llama_split_prefix(prefix, sizeof(prefix), path.c_str(), 0, count) <= 0) {
    return invalid_argument("the first file of a split model is not named like one", "path");
  }
  std::vector<ggml_type> all;
  for (int i = 0; i < count; ++i) {
    char shard[4096];
    llama_split_path(shard, sizeof(shard), prefix, i, count);
    auto types = gguf_matrix_types(shard);
    if (!types) return types.take_error();
    for (ggml_type t : *types) {
      if (std::find(all.begin(), all.end(), t) == all.end()) all.push_back(t);
    }
  }
  return all;
}

}  // namespace

BatchInvariance check_batch_invariance(const ModelLoadOptions& opt, const llama_model* model, bool is_embedding,
                                       ggml_type kv_type, int threads, int threads_batch) {
  BatchInvarianceFacts f = batch_invariance_settings(opt.batch_invariant, opt.flash_attn, opt.kv_unified);
  f.embedding = is_embedding;
  f.recurrent = llama_model_is_recurrent(model) || llama_model_is_hybrid(model);
  f.sliding_window = llama_model_n_swa(model) > 0;
  f.accelerators = accelerators();
  f.cpu = cpu_model_name();
  BatchInvariance settled = assess_batch_invariance(f);
  if (settled.holds.has_value()) return settled;  // off, or ruled out without running anything

  auto types = model_matrix_types(model, opt.path);
  if (!types) {
    f.unprobed.push_back("the model file's tensors");
    f.varying_kernels.emplace();
    return assess_batch_invariance(f);
  }
  KernelProbeSpec spec;
  spec.weight_types = std::move(*types);
  spec.kv_type = kv_type;
  const int n_head = std::max(1, llama_model_n_head(model));
  // Heads are n_embd / n_head wide unless the file says otherwise (Qwen3, Gemma, DeepSeek's MLA).
  const std::string arch = meta(model, "general.architecture");
  spec.head_dim_k = meta_int(model, arch + ".attention.key_length", llama_model_n_embd(model) / n_head);
  spec.head_dim_v = meta_int(model, arch + ".attention.value_length", spec.head_dim_k);
  spec.n_head = n_head;
  spec.n_head_kv = std::max(1, llama_model_n_head_kv(model));
  spec.threads = threads;
  spec.threads_batch = threads_batch;
  const auto start = std::chrono::steady_clock::now();
  KernelProbeResult probe = probe_batch_invariance(spec);
  spdlog::debug("batch-invariance kernel check: {} weight types, {} ms", spec.weight_types.size(),
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
  f.varying_kernels = std::move(probe.varying);
  f.unprobed = std::move(probe.unchecked);
  return assess_batch_invariance(f);
}

}  // namespace hearth
