#include "engine/test_model_maker.h"

#include <gguf.h>
#include <ggml.h>
#include <llama.h>
#include <llama-cpp.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "engine/model_engine.h"

namespace hearth {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* g) const { gguf_free(g); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;
struct GgmlDeleter {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
using GgmlPtr = std::unique_ptr<ggml_context, GgmlDeleter>;

struct TensorShape {
  std::string name;
  std::vector<int64_t> ne;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The loader offers every tensor an architecture may have, optional ones included; keep those a
// real model of that family carries (no FP8 scales, classifier heads, rope factors, or biases
// the family does not use).
bool real_model_has(const std::string& arch, const std::string& name, bool reranker) {
  if (ends_with(name, ".scale") || ends_with(name, ".input_scale")) return false;
  if (name.rfind("cls", 0) == 0) return reranker && arch == "bert" && name.rfind("cls.norm", 0) != 0;
  if (name == "rope_freqs.weight") return false;
  if (arch != "bert" && ends_with(name, ".bias")) {
    return arch == "qwen2" && (ends_with(name, "attn_q.bias") || ends_with(name, "attn_k.bias") ||
                               ends_with(name, "attn_v.bias"));
  }
  return true;
}

struct Recorder {
  std::string arch;
  bool reranker = false;
  std::vector<TensorShape> shapes;
};

// The loader calls this once per tensor: we only record the shapes.
void record_tensor(ggml_tensor* t, void* ud) {
  auto* rec = static_cast<Recorder*>(ud);
  if (!real_model_has(rec->arch, t->name, rec->reranker)) return;
  auto* out = &rec->shapes;
  for (const auto& have : *out) {
    if (have.name == t->name) return;  // duplicated (shared) tensors appear once in the file
  }
  if (std::getenv("HEARTH_DEBUG_TENSORS")) std::fprintf(stderr, "tensor %s\n", t->name);
  TensorShape s{t->name, {}};
  for (int i = 0; i < ggml_n_dims(t); ++i) s.ne.push_back(t->ne[i]);
  out->push_back(std::move(s));
}

// xoshiro-style fast generator; quality is ample for random weights.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  std::uint64_t next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  // Approximately normal(0,1): sum of 4 uniforms, rescaled.
  float normal() {
    float acc = 0;
    for (int i = 0; i < 4; ++i) acc += static_cast<float>(next() >> 40) / static_cast<float>(1ULL << 24);
    return (acc - 2.0f) * 1.7320508f;
  }

 private:
  std::uint64_t s_;
};

std::uint64_t name_hash(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found(fmt::format("cannot read {}", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Result<llama_ftype> parse_ftype(const std::string& t) {
  if (t == "f32") return LLAMA_FTYPE_ALL_F32;
  if (t == "f16") return LLAMA_FTYPE_MOSTLY_F16;
  if (t == "q8_0") return LLAMA_FTYPE_MOSTLY_Q8_0;
  if (t == "q4_0") return LLAMA_FTYPE_MOSTLY_Q4_0;
  if (t == "q4_k_m") return LLAMA_FTYPE_MOSTLY_Q4_K_M;
  if (t == "q5_k_m") return LLAMA_FTYPE_MOSTLY_Q5_K_M;
  if (t == "q6_k") return LLAMA_FTYPE_MOSTLY_Q6_K;
  return invalid_argument(fmt::format("unknown type '{}' (f32, f16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k)", t), "type");
}

// Metadata: the vocab file's tokenizer keys plus our hyper-parameters and chat template.
Result<GgufPtr> build_metadata(const TestModelSpec& spec) {
  gguf_init_params ip{true, nullptr};
  GgufPtr vocab(gguf_init_from_file(spec.vocab_file.c_str(), ip));
  if (!vocab) return not_found(fmt::format("cannot read vocab file {}", spec.vocab_file));
  GgufPtr meta(gguf_init_empty());
  gguf_set_kv(meta.get(), vocab.get());
  std::vector<std::string> drop;
  for (int64_t i = 0; i < gguf_get_n_kv(meta.get()); ++i) {
    const std::string key = gguf_get_key(meta.get(), i);
    if (key.rfind("tokenizer.", 0) != 0) drop.push_back(key);
  }
  for (const auto& key : drop) gguf_remove_key(meta.get(), key.c_str());
  const std::string a = spec.architecture;
  auto k = [&](const char* suffix) { return a + "." + suffix; };
  gguf_set_val_str(meta.get(), "general.architecture", a.c_str());
  gguf_set_val_str(meta.get(), "general.name", spec.name.c_str());
  gguf_set_val_str(meta.get(), "general.description", "Hearth test model: random weights, real tokenizer");
  const int64_t n_vocab = gguf_get_arr_n(meta.get(), gguf_find_key(meta.get(), "tokenizer.ggml.tokens"));
  gguf_set_val_u32(meta.get(), k("vocab_size").c_str(), static_cast<uint32_t>(n_vocab));
  gguf_set_val_u32(meta.get(), k("context_length").c_str(), static_cast<uint32_t>(spec.n_ctx_train));
  gguf_set_val_u32(meta.get(), k("embedding_length").c_str(), static_cast<uint32_t>(spec.n_embd));
  gguf_set_val_u32(meta.get(), k("block_count").c_str(), static_cast<uint32_t>(spec.n_layer));
  gguf_set_val_u32(meta.get(), k("feed_forward_length").c_str(), static_cast<uint32_t>(spec.n_ff));
  gguf_set_val_u32(meta.get(), k("attention.head_count").c_str(), static_cast<uint32_t>(spec.n_head));
  if (a == "bert") {
    gguf_set_val_f32(meta.get(), k("attention.layer_norm_epsilon").c_str(), 1e-12f);
    gguf_set_val_bool(meta.get(), k("attention.causal").c_str(), false);
    // CLS, as bge embedding models declare; RANK for a reranker (bge-reranker).
    gguf_set_val_u32(meta.get(), k("pooling_type").c_str(), spec.reranker ? 4 : 2);
  } else {
    gguf_set_val_u32(meta.get(), k("attention.head_count_kv").c_str(), static_cast<uint32_t>(spec.n_head_kv));
    gguf_set_val_f32(meta.get(), k("attention.layer_norm_rms_epsilon").c_str(), 1e-6f);
    gguf_set_val_f32(meta.get(), k("rope.freq_base").c_str(), spec.rope_freq_base);
    gguf_set_val_u32(meta.get(), k("rope.dimension_count").c_str(), static_cast<uint32_t>(spec.n_embd / spec.n_head));
  }
  if (!spec.chat_template_file.empty()) {
    auto tmpl = read_text(spec.chat_template_file);
    if (!tmpl) return tmpl.take_error();
    gguf_set_val_str(meta.get(), "tokenizer.chat_template", tmpl->c_str());
  }
  gguf_set_val_u32(meta.get(), "general.file_type", LLAMA_FTYPE_ALL_F32);
  return meta;
}

// Streams random tensor data after the metadata, with GGUF's alignment padding.
Status write_random_gguf(gguf_context* meta, const std::vector<TensorShape>& shapes, const TestModelSpec& spec,
                         bool f16, const std::string& path) {
  const size_t overhead = ggml_tensor_overhead() * (shapes.size() + 1);
  GgmlPtr ctx(ggml_init({overhead, nullptr, true}));
  std::vector<ggml_tensor*> tensors;
  for (const auto& s : shapes) {
    // Norm weights and biases stay F32 (1-D); matrices may be F16.
    const ggml_type type = (f16 && s.ne.size() >= 2) ? GGML_TYPE_F16 : GGML_TYPE_F32;
    ggml_tensor* t = ggml_new_tensor(ctx.get(), type, static_cast<int>(s.ne.size()), s.ne.data());
    ggml_set_name(t, s.name.c_str());
    gguf_add_tensor(meta, t);
    tensors.push_back(t);
  }
  gguf_set_val_u32(meta, "general.file_type", f16 ? LLAMA_FTYPE_MOSTLY_F16 : LLAMA_FTYPE_ALL_F32);
  if (!gguf_write_to_file(meta, path.c_str(), true)) return internal_error(fmt::format("cannot write {}", path));

  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) return internal_error(fmt::format("cannot append to {}", path));
  const size_t alignment = gguf_get_alignment(meta);
  std::vector<char> buf;
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    ggml_tensor* t = tensors[ti];
    const std::string name = t->name;
    Rng rng(spec.seed ^ name_hash(name));
    const int64_t n = ggml_nelements(t);
    const bool is_norm = name.find("norm") != std::string::npos;
    const bool is_bias = name.find(".bias") != std::string::npos;
    const float fan_in = static_cast<float>(t->ne[0]);
    const float sd = is_norm ? 0.1f : is_bias ? 0.02f : spec.scale / std::sqrt(fan_in);
    buf.resize(ggml_nbytes(t));
    for (int64_t i = 0; i < n; ++i) {
      float v = rng.normal() * sd + (is_norm ? 1.0f : 0.0f);
      if (t->type == GGML_TYPE_F16) {
        reinterpret_cast<ggml_fp16_t*>(buf.data())[i] = ggml_fp32_to_fp16(v);
      } else {
        reinterpret_cast<float*>(buf.data())[i] = v;
      }
    }
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    const size_t pad = (alignment - buf.size() % alignment) % alignment;
    static const char zeros[64] = {};
    if (ti + 1 < tensors.size() && pad > 0) out.write(zeros, static_cast<std::streamsize>(pad));
  }
  out.close();
  if (!out) return internal_error(fmt::format("write to {} failed", path));
  return {};
}

}  // namespace

std::vector<std::string> test_model_presets() {
  return {"qwen2", "llama3", "deepseek-r1", "bert", "bert-reranker", "qwen2-small", "qwen2-small-q8_0", "qwen2-0.5b"};
}

Result<TestModelSpec> test_model_preset(const std::string& preset, const std::string& dir) {
  TestModelSpec s;
  const std::string t = dir + "/templates/";
  const bool small = preset == "qwen2-small" || preset == "qwen2-small-q8_0";
  if (preset == "qwen2" || preset == "qwen2-0.5b" || small) {
    s.name = preset == "qwen2" ? "hearth-tiny-qwen2" : small ? "hearth-small-qwen2" : "hearth-qwen2-0.5b-shape";
    s.vocab_file = dir + "/ggml-vocab-qwen2.gguf";
    s.architecture = "qwen2";
    s.chat_template_file = t + "Qwen-Qwen2.5-7B-Instruct.jinja";
    s.rope_freq_base = 1000000.0f;
    s.n_ctx_train = 32768;
    if (preset == "qwen2-0.5b") {  // Qwen2-0.5B's shape, untied output: ~630 M parameters
      s.n_embd = 896;
      s.n_layer = 24;
      s.n_head = 14;
      s.n_head_kv = 2;
      s.n_ff = 4864;
      s.type = "q4_k_m";
    }
    if (small) {      // quantized with K-quants, as real models are: the CPU kernels
      s.n_embd = 256;  // that repack such weights are exercised by the tests
      s.n_layer = 4;
      s.n_head = 4;
      s.n_head_kv = 2;
      s.n_ff = 768;
      s.type = "q4_k_m";
    }
    if (preset == "qwen2-small-q8_0") {  // Q8_0, as the benchmarks run: other kernels again
      s.name += "-q8_0";
      s.type = "q8_0";
    }
    return s;
  }
  if (preset == "llama3") {
    s.name = "hearth-tiny-llama3";
    s.vocab_file = dir + "/ggml-vocab-llama-bpe.gguf";
    s.architecture = "llama";
    s.chat_template_file = t + "meta-llama-Llama-3.1-8B-Instruct.jinja";
    s.rope_freq_base = 500000.0f;
    return s;
  }
  if (preset == "deepseek-r1") {
    s.name = "hearth-tiny-deepseek-r1";
    s.vocab_file = dir + "/ggml-vocab-deepseek-llm.gguf";
    s.architecture = "llama";
    s.chat_template_file = t + "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja";
    return s;
  }
  if (preset == "bert" || preset == "bert-reranker") {
    s.reranker = preset == "bert-reranker";
    s.name = s.reranker ? "hearth-tiny-bert-reranker" : "hearth-tiny-bert-embed";
    s.vocab_file = dir + "/ggml-vocab-bert-bge.gguf";
    s.architecture = "bert";
    s.n_head_kv = s.n_head;
    s.n_ctx_train = 512;
    s.type = "f32";
    return s;
  }
  return invalid_argument(
      fmt::format("unknown preset '{}' (qwen2, llama3, deepseek-r1, bert, bert-reranker, qwen2-small, qwen2-small-q8_0, "
                  "qwen2-0.5b)",
                  preset),
                          "preset");
}

Status make_test_model(const TestModelSpec& spec, const std::string& out_path, int threads) {
  engine_global_init();
  auto ftype = parse_ftype(spec.type);
  if (!ftype) return ftype.take_error();
  if (spec.n_embd % spec.n_head != 0) return invalid_argument("n_embd must be a multiple of n_head", "n_embd");
  if (spec.n_head % spec.n_head_kv != 0) return invalid_argument("n_head must be a multiple of n_head_kv", "n_head_kv");
  auto meta = build_metadata(spec);
  if (!meta) return meta.take_error();

  // Ask llama.cpp which tensors this architecture and shape need (vocab-only would skip them).
  Recorder rec{spec.architecture, spec.reranker, {}};
  {
    llama_model_params mp = llama_model_default_params();
    mp.no_alloc = true;
    llama_model_ptr probe(llama_model_init_from_user(meta->get(), record_tensor, &rec, mp));
    if (!probe) return internal_error("llama.cpp rejected the test model's metadata");
  }
  if (rec.shapes.empty()) {  // no_alloc skipped the data callback: load for real
    llama_model_params mp = llama_model_default_params();
    llama_model_ptr probe(llama_model_init_from_user(meta->get(), record_tensor, &rec, mp));
    if (!probe) return internal_error("llama.cpp rejected the test model's metadata");
  }
  const std::vector<TensorShape>& shapes = rec.shapes;
  if (shapes.empty()) return internal_error("llama.cpp reported no tensors for this architecture");

  std::filesystem::path out(out_path);
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  const bool direct = spec.type == "f32" || spec.type == "f16";
  const std::string base = out_path + (direct ? ".tmp" : ".base.tmp");
  HEARTH_TRY(write_random_gguf(meta->get(), shapes, spec, spec.type != "f32", base));

  if (!direct) {
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.nthread = threads;
    qp.ftype = *ftype;
    const std::string tmp = out_path + ".tmp";
    const uint32_t rc = llama_model_quantize(base.c_str(), tmp.c_str(), &qp);
    std::filesystem::remove(base);
    if (rc != 0) return internal_error(fmt::format("quantizing to {} failed", spec.type));
    std::filesystem::rename(tmp, out_path);
  } else {
    std::filesystem::rename(base, out_path);
  }
  return {};
}

}  // namespace hearth
