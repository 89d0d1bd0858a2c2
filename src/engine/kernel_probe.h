// A load-time check of this CPU's kernels for batch invariance. ggml's CPU backend picks kernels
// by CPU feature (AVX2, AVX-512, FP16, BF16, VNNI, AMX, ...) and, in its fast mode, by the batch's
// shape. With batch_invariant = true Hearth relies on every output row being computed the same
// way whatever else shares its step; this probe measures that on the machine at hand, for the
// operations whose kernels ggml chooses by shape: matrix products with each of the model's weight
// types, and flash attention over the model's KV-cache type, near the thresholds where llama.cpp
// switches kernels (a batch of 1 vs 2+, 64+ queries, 512+ KV cells). Each row computed inside
// batches of 2..72 rows must equal, bit for bit, the same row computed alone. Random inputs,
// fixed seeds; tens of milliseconds.
//
// Threading: call from any thread; it computes on the caller's thread plus ggml's own workers.
#pragma once

#include <ggml.h>

#include <string>
#include <vector>

#include "core/result.h"

namespace hearth {

struct KernelProbeSpec {
  std::vector<ggml_type> weight_types;  // the model's matrix types
  ggml_type kv_type = GGML_TYPE_F16;    // the KV cache's type
  int head_dim_k = 64;                  // per head: keys (and queries)
  int head_dim_v = 64;                  // per head: values
  int n_head = 4;
  int n_head_kv = 2;
  int threads = 1;        // as llama.cpp runs one-token steps
  int threads_batch = 1;  // as it runs the others
  bool reference = true;  // ggml's reference kernels (false: its fast ones, which the tests probe too)
};

struct KernelProbeResult {
  std::vector<std::string> varying;    // what changed with the batch: "f16 matrix products", ...
  std::vector<std::string> unchecked;  // types or shapes the probe cannot make test data for
  bool ok() const { return varying.empty() && unchecked.empty(); }
};

KernelProbeResult probe_batch_invariance(const KernelProbeSpec& spec);

// The full check the tests run on each CPU (and each ISA build, tests/kernels/): every weight type
// the probe can make, with KV types, head sizes, head counts and thread counts of real models.
std::vector<KernelProbeSpec> kernel_check_matrix();

// The types of a GGUF file's matrices (tensors of two or more dimensions), each once, from its
// header alone.
Result<std::vector<ggml_type>> gguf_matrix_types(const std::string& path);

}  // namespace hearth
