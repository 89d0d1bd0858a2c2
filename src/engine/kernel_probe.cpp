#include "engine/kernel_probe.h"

#include <fmt/format.h>
#include <ggml-cpu.h>
#include <gguf.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

namespace hearth {
namespace {

constexpr int kK = 512;          // columns: a multiple of every block size, and of tinyBLAS's vector width
constexpr int kWeightRows = 32;  // rows of the probed weight matrix
constexpr int kMaxRows = 72;     // the largest batch: past flash attention's 64-query tile
// Batch sizes around the kernels' thresholds (1 vs 2+, vector and tile widths).
constexpr int kBatches[] = {2, 3, 4, 7, 8, 16, 17, 33, 64, kMaxRows};
constexpr int kAttentionBatches[] = {2, 3, 16, 33, 64, kMaxRows};
// Visible KV cells of the first query (each later query sees one more): short, and past the
// 512 cells where llama.cpp's fast attention splits the cells among threads for a single query.
constexpr int kKvStarts[] = {24, 560};
constexpr int kExtraMaskedCells = 100;  // cells the batch's mask hides (other sequences, padding)

struct ContextFree {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
using ContextPtr = std::unique_ptr<ggml_context, ContextFree>;
struct GgufFree {
  void operator()(gguf_context* c) const { gguf_free(c); }
};

ContextPtr new_ggml_context(size_t data_bytes, size_t n_tensors) {
  ggml_init_params p{};
  // Room for the data with alignment padding, the tensors' headers and two graphs.
  p.mem_size = data_bytes + n_tensors * (ggml_tensor_overhead() + 64) + ggml_graph_overhead() * 2 + (1u << 20);
  p.no_alloc = false;
  return ContextPtr(ggml_init(p));
}

// Deterministic values in [-1, 1).
void fill_random(std::vector<float>& v, std::uint32_t seed) {
  std::uint32_t s = seed * 2654435761u + 1u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
}

// The types ggml_quantize_chunk can make from floats (anything else aborts in ggml).
bool can_make(ggml_type t) {
  switch (t) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16:
    case GGML_TYPE_Q1_0: case GGML_TYPE_Q2_0: case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: case GGML_TYPE_Q8_0: case GGML_TYPE_MXFP4:
    case GGML_TYPE_NVFP4: case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: case GGML_TYPE_TQ1_0: case GGML_TYPE_TQ2_0:
    case GGML_TYPE_IQ2_XXS: case GGML_TYPE_IQ2_XS: case GGML_TYPE_IQ3_XXS: case GGML_TYPE_IQ3_S:
    case GGML_TYPE_IQ2_S: case GGML_TYPE_IQ1_S: case GGML_TYPE_IQ1_M: case GGML_TYPE_IQ4_NL:
    case GGML_TYPE_IQ4_XS:
      return kK % ggml_blck_size(t) == 0;
    default:
      return false;
  }
}

// A tensor of `type` with ne0 = kK holding random values (quantized as a model file would be).
ggml_tensor* random_tensor(ggml_context* ctx, ggml_type type, int64_t ne1, int64_t ne2, std::uint32_t seed) {
  ggml_tensor* t = ggml_new_tensor_3d(ctx, type, kK, ne1, ne2);
  std::vector<float> values(static_cast<size_t>(kK * ne1 * ne2));
  fill_random(values, seed);
  const std::vector<float> importance(kK, 1.0f);  // the i-quants need an importance matrix
  ggml_quantize_chunk(type, values.data(), t->data, 0, ne1 * ne2, kK,
                      ggml_quantize_requires_imatrix(type) ? importance.data() : nullptr);
  return t;
}

bool compute(ggml_cgraph* graph, int threads, bool reference) {
  ggml_cplan plan = ggml_graph_plan(graph, std::max(1, threads), nullptr);
  std::vector<std::uint8_t> work(plan.work_size);
  plan.work_data = work.data();
  plan.use_ref = reference;
  return ggml_graph_compute(graph, &plan) == GGML_STATUS_SUCCESS;
}

bool same_bits(const ggml_tensor* t, size_t offset, const ggml_tensor* alone, size_t bytes) {
  return std::memcmp(static_cast<const char*>(t->data) + offset, alone->data, bytes) == 0;
}

// Each row of W x X computed alone (with `threads`, as a one-token step) and inside batches (with
// `threads_batch`): true when every row's bits agree.
bool matrix_products_agree(ggml_type type, const KernelProbeSpec& spec) {
  const size_t bytes = ggml_row_size(type, kK) * kWeightRows + sizeof(float) * kK * kMaxRows +
                       sizeof(float) * kWeightRows * (kMaxRows * 2 + 256);
  ContextPtr ctx = new_ggml_context(bytes, 4 * kMaxRows + 64);
  ggml_tensor* w = random_tensor(ctx.get(), type, kWeightRows, 1, 7u + static_cast<std::uint32_t>(type));
  ggml_tensor* x = random_tensor(ctx.get(), GGML_TYPE_F32, kMaxRows, 1, 11u);

  ggml_cgraph* alone_graph = ggml_new_graph(ctx.get());
  std::vector<ggml_tensor*> alone;
  for (int i = 0; i < kMaxRows; ++i) {
    ggml_tensor* row = ggml_view_2d(ctx.get(), x, kK, 1, x->nb[1], static_cast<size_t>(i) * x->nb[1]);
    alone.push_back(ggml_mul_mat(ctx.get(), w, row));
    ggml_build_forward_expand(alone_graph, alone.back());
  }
  ggml_cgraph* batch_graph = ggml_new_graph(ctx.get());
  std::vector<ggml_tensor*> batched;
  for (int n : kBatches) {
    batched.push_back(ggml_mul_mat(ctx.get(), w, ggml_view_2d(ctx.get(), x, kK, n, x->nb[1], 0)));
    ggml_build_forward_expand(batch_graph, batched.back());
  }
  if (!compute(alone_graph, spec.threads, spec.reference) || !compute(batch_graph, spec.threads_batch, spec.reference)) {
    return false;
  }
  for (size_t b = 0; b < batched.size(); ++b) {
    for (int i = 0; i < kBatches[b]; ++i) {
      if (!same_bits(batched[b], i * batched[b]->nb[1], alone[i], sizeof(float) * kWeightRows)) return false;
    }
  }
  return true;
}

// A causal-style mask of `rows` queries over `cells` cells: query i sees the first visible + i.
ggml_tensor* attention_mask(ggml_context* ctx, int cells, int rows, int visible) {
  ggml_tensor* m = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, cells, rows);
  auto* d = static_cast<ggml_fp16_t*>(m->data);
  for (int i = 0; i < rows; ++i) {
    for (int c = 0; c < cells; ++c) d[i * cells + c] = ggml_fp32_to_fp16(c < visible + i ? 0.0f : -INFINITY);
  }
  return m;
}

// Whether the attention probe can make this shape: heads of at most kK values, whole KV blocks.
bool attention_probeable(const KernelProbeSpec& spec) {
  const int64_t block = ggml_blck_size(spec.kv_type);
  const auto fits = [&](int d) { return d >= 1 && d <= kK && d % block == 0; };
  return can_make(spec.kv_type) && fits(spec.head_dim_k) && fits(spec.head_dim_v);
}

// Flash attention of each query alone (over just enough cells) and inside batches of queries
// (over more cells, the extra ones masked): true when every query's output bits agree.
bool attention_agrees(const KernelProbeSpec& spec, int first_visible) {
  const int dk = spec.head_dim_k;
  const int dv = spec.head_dim_v;
  const int heads_kv = std::clamp(spec.n_head_kv, 1, 2);
  const int heads = heads_kv * std::clamp(spec.n_head / std::max(1, spec.n_head_kv), 1, 8);
  const int cells = first_visible + kMaxRows + kExtraMaskedCells;
  // K, V and Q are made kK wide (random_tensor fills whole rows) and viewed dk or dv wide.
  const size_t bytes = 2 * ggml_row_size(GGML_TYPE_F32, kK) * cells * heads_kv +               // K, V (f32 at most)
                       ggml_row_size(GGML_TYPE_F32, kK) * kMaxRows * heads +                    // Q
                       sizeof(float) * dv * heads * (kMaxRows + 256) +                          // outputs
                       sizeof(ggml_fp16_t) * static_cast<size_t>(cells) * kMaxRows * 3;          // masks
  ContextPtr ctx = new_ggml_context(bytes, 8 * kMaxRows + 64);
  const auto make = [&](ggml_type type, int d, int rows, int planes, std::uint32_t seed) {
    ggml_tensor* full = random_tensor(ctx.get(), type, rows, planes, seed);
    return ggml_view_3d(ctx.get(), full, d, rows, planes, full->nb[1], full->nb[2], 0);
  };
  ggml_tensor* k = make(spec.kv_type, dk, cells, heads_kv, 21u);
  ggml_tensor* v = make(spec.kv_type, dv, cells, heads_kv, 22u);
  ggml_tensor* q = make(GGML_TYPE_F32, dk, kMaxRows, heads, 23u);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dk));
  const auto attend = [&](int n_queries, int first_query, int n_cells, ggml_tensor* mask) {
    ggml_tensor* qv = ggml_view_3d(ctx.get(), q, dk, n_queries, heads, q->nb[1], q->nb[2], first_query * q->nb[1]);
    ggml_tensor* kv = ggml_view_3d(ctx.get(), k, dk, n_cells, heads_kv, k->nb[1], k->nb[2], 0);
    ggml_tensor* vv = ggml_view_3d(ctx.get(), v, dv, n_cells, heads_kv, v->nb[1], v->nb[2], 0);
    return ggml_flash_attn_ext(ctx.get(), qv, kv, vv, mask, scale, 0.0f, 0.0f);  // [dv, heads, n_queries]
  };

  ggml_cgraph* alone_graph = ggml_new_graph(ctx.get());
  std::vector<ggml_tensor*> alone;
  for (int i = 0; i < kMaxRows; ++i) {
    const int n_cells = std::min(cells, (first_visible + i + 31) / 32 * 32);
    alone.push_back(attend(1, i, n_cells, attention_mask(ctx.get(), n_cells, 1, first_visible + i)));
    ggml_build_forward_expand(alone_graph, alone.back());
  }
  ggml_tensor* mask = attention_mask(ctx.get(), cells, kMaxRows, first_visible);
  ggml_cgraph* batch_graph = ggml_new_graph(ctx.get());
  std::vector<ggml_tensor*> batched;
  for (int n : kAttentionBatches) {
    ggml_tensor* m = ggml_view_2d(ctx.get(), mask, cells, n, mask->nb[1], 0);
    batched.push_back(attend(n, 0, cells, m));
    ggml_build_forward_expand(batch_graph, batched.back());
  }
  if (!compute(alone_graph, spec.threads, spec.reference) || !compute(batch_graph, spec.threads_batch, spec.reference)) {
    return false;
  }
  for (size_t b = 0; b < batched.size(); ++b) {
    for (int i = 0; i < kAttentionBatches[b]; ++i) {
      if (!same_bits(batched[b], i * batched[b]->nb[2], alone[i], sizeof(float) * dv * heads)) return false;
    }
  }
  return true;
}

}  // namespace

KernelProbeResult probe_batch_invariance(const KernelProbeSpec& spec) {
  ggml_cpu_init();
  KernelProbeResult r;
  std::vector<ggml_type> types = spec.weight_types;
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  for (ggml_type t : types) {
    if (!can_make(t)) {
      r.unchecked.push_back(ggml_type_name(t));
    } else if (!matrix_products_agree(t, spec)) {
      r.varying.push_back(fmt::format("{} matrix products", ggml_type_name(t)));
    }
  }
  if (!can_make(spec.kv_type)) {
    r.unchecked.push_back(fmt::format("{} KV cache", ggml_type_name(spec.kv_type)));
  } else if (!attention_probeable(spec)) {
    r.unchecked.push_back(fmt::format("flash attention with heads of {}/{} values over a {} KV cache", spec.head_dim_k,
                                      spec.head_dim_v, ggml_type_name(spec.kv_type)));
  } else {
    for (int first_visible : kKvStarts) {
      if (!attention_agrees(spec, first_visible)) {
        r.varying.push_back(fmt::format("flash attention over {} {} KV cells", first_visible < 512 ? "fewer than 512" : "512+",
                                        ggml_type_name(spec.kv_type)));
      }
    }
  }
  return r;
}

std::vector<KernelProbeSpec> kernel_check_matrix() {
  const std::vector<ggml_type> weights = {
      GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16,  GGML_TYPE_Q4_0,   GGML_TYPE_Q4_1,   GGML_TYPE_Q5_0,
      GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K,  GGML_TYPE_Q3_K,   GGML_TYPE_Q4_K,   GGML_TYPE_Q5_K,
      GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ3_S, GGML_TYPE_IQ2_S, GGML_TYPE_MXFP4,
      GGML_TYPE_TQ2_0};
  struct Shape {
    ggml_type kv;
    int head_dim_k, head_dim_v, n_head, n_head_kv, threads, threads_batch;
  };
  // Head sizes of real models: 64 (Qwen2-0.5B), 128 (Llama, Qwen3), 256 (Gemma), 16 (the test
  // models), and keys wider than values (192/128, DeepSeek's MLA).
  const Shape shapes[] = {
      {GGML_TYPE_F16, 64, 64, 14, 2, 2, 2},    {GGML_TYPE_F16, 16, 16, 4, 2, 1, 2},
      {GGML_TYPE_F32, 128, 128, 8, 8, 2, 1},   {GGML_TYPE_Q8_0, 128, 128, 32, 8, 2, 2},
      {GGML_TYPE_BF16, 64, 64, 4, 4, 2, 2},    {GGML_TYPE_Q4_0, 64, 64, 4, 1, 1, 1},
      {GGML_TYPE_F16, 256, 256, 8, 4, 2, 2},   {GGML_TYPE_F16, 192, 128, 16, 16, 2, 2},
  };
  std::vector<KernelProbeSpec> out;
  for (size_t i = 0; i < std::size(shapes); ++i) {
    const Shape& s = shapes[i];
    KernelProbeSpec spec;
    // All weight types once (with the first shape's threads); the other shapes probe attention.
    if (i == 0) spec.weight_types = weights;
    spec.kv_type = s.kv;
    spec.head_dim_k = s.head_dim_k;
    spec.head_dim_v = s.head_dim_v;
    spec.n_head = s.n_head;
    spec.n_head_kv = s.n_head_kv;
    spec.threads = s.threads;
    spec.threads_batch = s.threads_batch;
    out.push_back(spec);
  }
  // Weight types again with one thread for single rows and two for batches.
  KernelProbeSpec mixed = out[1];
  mixed.weight_types = weights;
  out.push_back(mixed);
  return out;
}

Result<std::vector<ggml_type>> gguf_matrix_types(const std::string& path) {
  ggml_context* meta = nullptr;
  gguf_init_params p{};
  p.no_alloc = true;
  p.ctx = &meta;
  std::unique_ptr<gguf_context, GgufFree> gguf(gguf_init_from_file(path.c_str(), p));
  ContextPtr meta_owner(meta);
  if (!gguf || !meta) return invalid_argument(fmt::format("'{}' is not a readable GGUF file", path), "path");
  std::vector<ggml_type> types;
  for (ggml_tensor* t = ggml_get_first_tensor(meta); t != nullptr; t = ggml_get_next_tensor(meta, t)) {
    if (ggml_n_dims(t) >= 2 && std::find(types.begin(), types.end(), t->type) == types.end()) types.push_back(t->type);
  }
  return types;
}

}  // namespace hearth
