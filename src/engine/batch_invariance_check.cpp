#include "engine/batch_invariance_check.h"

#include <ggml-backend.h>
#include <spdlog/spdlog.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
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

}  // namespace

BatchInvariance check_batch_invariance(const ModelLoadOptions& opt, const llama_model* model, bool is_embedding,
                                       ggml_type kv_type, int threads, int threads_batch) {
  BatchInvarianceFacts f = batch_invariance_settings(opt.batch_invariant, opt.flash_attn, opt.kv_unified);
  f.embedding = is_embedding;
  f.recurrent = llama_model_is_recurrent(model) || llama_model_is_hybrid(model);
  f.accelerators = accelerators();
  f.cpu = cpu_model_name();
  BatchInvariance settled = assess_batch_invariance(f);
  if (settled.holds.has_value()) return settled;  // off, or ruled out without running anything

  auto types = gguf_matrix_types(opt.path);
  if (!types) {
    f.unprobed.push_back("the model file's tensors");
    f.varying_kernels.emplace();
    return assess_batch_invariance(f);
  }
  KernelProbeSpec spec;
  spec.weight_types = std::move(*types);
  spec.kv_type = kv_type;
  const int n_head = std::max(1, llama_model_n_head(model));
  spec.head_dim = llama_model_n_embd(model) / n_head;
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
