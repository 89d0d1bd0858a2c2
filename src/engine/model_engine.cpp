#include "engine/model_engine.h"

#include <llama.h>
#include <llama-cpp.h>

#include <chat.h>
#include <json-schema-to-grammar.h>
#include <spdlog/spdlog.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <thread>

#include <ggml-cpu.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/memory.h"
#include "engine/embedding_worker.h"
#include "engine/batch_invariance_check.h"
#include "engine/llama_backend.h"
#include "engine/llama_context.h"

namespace hearth {
namespace {
// Set around llama_init_from_model on the loading thread (see new_llama_context).
thread_local bool t_cpu_reference_kernels = false;
// Held by a model load from its snapshot of the anonymous mappings until llama.cpp has made the
// load's buffers (its first progress report), and by every context creation (KV cache, compute
// buffers): models load on threads of their own, and the new mappings a load finds must be its
// own, not another model's buffers or cache.
std::mutex g_buffer_mappings;

// Weights in transparent huge pages: the buffers llama.cpp allocates for a model are new
// anonymous mappings; at its first progress report (before any tensor is read) they are advised,
// so reading the file faults them in as 2 MiB pages.
struct HugePageLoad {
  std::unique_lock<std::mutex> lock{g_buffer_mappings};
  std::vector<AddressRange> before = anonymous_mappings();  // anonymous mappings before loading
  bool advise = false;               // huge pages wanted
  std::vector<AddressRange> ranges;  // the weight buffers found
  std::size_t bytes = 0;             // advised

  // Mappings this small are not weight buffers worth a huge page.
  static constexpr std::size_t kMinBytes = 16u << 20;

  static bool on_progress(float /*progress*/, void* user) {
    auto* self = static_cast<HugePageLoad*>(user);
    if (self->lock.owns_lock()) {
      if (self->advise) {
        self->ranges = new_ranges(self->before, anonymous_mappings(), kMinBytes);
        self->bytes = advise_huge_pages(self->ranges);
      }
      self->lock.unlock();
    }
    return true;
  }
};

}  // namespace
}  // namespace hearth

// llama.cpp creates a context's CPU backend with ggml_backend_init_by_type and keeps it private;
// ggml's CPU backend has a switch for its reference kernels (ggml_backend_cpu_set_use_ref). The
// link wraps the call (CMakeLists.txt: --wrap=ggml_backend_init_by_type) so that a context created
// by new_llama_context(..., reference_kernels = true) gets the switch turned on. Nothing else changes in
// llama.cpp.
extern "C" ggml_backend_t __real_ggml_backend_init_by_type(enum ggml_backend_dev_type type, const char* params);
extern "C" ggml_backend_t __wrap_ggml_backend_init_by_type(enum ggml_backend_dev_type type, const char* params) {
  ggml_backend_t backend = __real_ggml_backend_init_by_type(type, params);
  if (backend != nullptr && type == GGML_BACKEND_DEVICE_TYPE_CPU && hearth::t_cpu_reference_kernels) {
    ggml_backend_cpu_set_use_ref(backend, true);
  }
  return backend;
}

namespace hearth {
namespace {

void llama_log_to_spdlog(ggml_log_level level, const char* text, void*) {
  std::string_view t(text);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
  if (t.empty()) return;
  if (decode_stop_requested()) level = GGML_LOG_LEVEL_DEBUG;  // what llama.cpp says about a stop we asked for
  switch (level) {
    case GGML_LOG_LEVEL_ERROR: spdlog::error("llama.cpp: {}", t); break;
    case GGML_LOG_LEVEL_WARN: spdlog::warn("llama.cpp: {}", t); break;
    default: spdlog::trace("llama.cpp: {}", t); break;
  }
}

Result<ggml_type> parse_kv_type(const std::string& s) {
  if (s == "f32") return GGML_TYPE_F32;
  if (s == "f16") return GGML_TYPE_F16;
  if (s == "bf16") return GGML_TYPE_BF16;
  if (s == "q8_0") return GGML_TYPE_Q8_0;
  if (s == "q4_0") return GGML_TYPE_Q4_0;
  if (s == "q4_1") return GGML_TYPE_Q4_1;
  if (s == "q5_0") return GGML_TYPE_Q5_0;
  if (s == "q5_1") return GGML_TYPE_Q5_1;
  return invalid_argument(fmt::format("unknown KV-cache type '{}' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1)", s),
                          "kv_type");
}

Result<llama_flash_attn_type> parse_flash_attn(const std::string& s) {
  if (s == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
  if (s == "on") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
  if (s == "off") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
  return invalid_argument(fmt::format("flash_attn must be auto, on or off, not '{}'", s), "flash_attn");
}

std::string meta_string(const llama_model* model, const char* key) {
  char buf[512];
  const int n = llama_model_meta_val_str(model, key, buf, sizeof(buf));
  return n >= 0 ? std::string(buf) : std::string();
}

const char* pooling_name(enum llama_pooling_type t) {
  switch (t) {
    case LLAMA_POOLING_TYPE_NONE: return "none";
    case LLAMA_POOLING_TYPE_MEAN: return "mean";
    case LLAMA_POOLING_TYPE_CLS: return "cls";
    case LLAMA_POOLING_TYPE_LAST: return "last";
    case LLAMA_POOLING_TYPE_RANK: return "rank";
    default: return "unspecified";
  }
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 4 : static_cast<int>(n);
}

// A persistent ggml threadpool (as llama-server and llama-bench use): without one, every decode
// sets up a disposable pool, which costs time on each step.
Status attach_threadpools(ModelEngine::Impl& impl, llama_context* ctx, int threads, int threads_batch);

}  // namespace

llama_context_ptr new_llama_context(llama_model* model, const llama_context_params& cp, bool reference_kernels) {
  struct Guard {
    explicit Guard(bool on) { t_cpu_reference_kernels = on; }
    ~Guard() { t_cpu_reference_kernels = false; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
  } guard(reference_kernels);
  std::lock_guard mappings(g_buffer_mappings);
  return llama_context_ptr(llama_init_from_model(model, cp));
}

void engine_global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(llama_log_to_spdlog, nullptr);
    llama_backend_init();
  });
}

std::string engine_system_info() { return llama_print_system_info(); }

struct ThreadpoolDeleter {
  void operator()(ggml_threadpool* tp) const { ggml_threadpool_free(tp); }
};
using ThreadpoolPtr = std::unique_ptr<ggml_threadpool, ThreadpoolDeleter>;

struct ModelEngine::Impl {
  ModelLoadOptions options;
  ModelInfo info;
  // Declared before the contexts' owners, so destroyed after them.
  ThreadpoolPtr threadpool;
  ThreadpoolPtr threadpool_batch;
  llama_model_ptr model;
  const llama_vocab* vocab = nullptr;
  common_chat_templates_ptr templates;
  std::unique_ptr<SlotScheduler> scheduler;
  std::unique_ptr<EmbeddingWorker> embedder;
};

ModelEngine::ModelEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ModelEngine::~ModelEngine() {
  // Threads first: they use the context and model.
  if (impl_) {
    impl_->scheduler.reset();
    impl_->embedder.reset();
  }
}

Result<std::unique_ptr<ModelEngine>> ModelEngine::load(const ModelLoadOptions& opt) {
  engine_global_init();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(opt.path, ec)) {
    return not_found(fmt::format("model file not found: {}", opt.path));
  }
  if (opt.context_size < 16) return invalid_argument("context_size must be at least 16", "context_size");
  if (opt.parallel < 1 || opt.parallel > 256) return invalid_argument("parallel must be 1..256", "parallel");
  if (opt.batch_size < 1) return invalid_argument("batch_size must be positive", "batch_size");
  auto kv_type = parse_kv_type(opt.kv_type);
  if (!kv_type) return kv_type.take_error();
  auto fa = parse_flash_attn(opt.flash_attn);
  if (!fa) return fa.take_error();

  auto impl = std::make_unique<Impl>();
  impl->options = opt;

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = opt.gpu_layers;
  mp.load_mode = opt.mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
  // Batch invariance keeps the weights in their file layout: the repacked layouts llama.cpp
  // prefers on CPU (Q4_0, Q4_K, IQ4_NL, ...) are multiplied by different kernels for one row and
  // for several, so a token's logits would depend on how many rows share its step.
  mp.use_extra_bufts = !opt.batch_invariant;
  // Every load holds g_buffer_mappings until its buffers exist, whether or not it advises them,
  // so that a concurrent load that does sees only its own.
  HugePageLoad huge;
  huge.advise = opt.huge_pages && !opt.mmap;
  mp.progress_callback = &HugePageLoad::on_progress;
  mp.progress_callback_user_data = &huge;
  impl->model.reset(llama_model_load_from_file(opt.path.c_str(), mp));
  if (huge.lock.owns_lock()) huge.lock.unlock();  // a load that failed before its first report
  if (!impl->model) {
    return unavailable(fmt::format("llama.cpp could not load '{}' (not a valid GGUF model, or an unsupported "
                                   "architecture; see the log for details)",
                                   opt.path));
  }
  const llama_model* model = impl->model.get();
  impl->vocab = llama_model_get_vocab(model);
  if (huge.bytes > 0) {
    std::size_t backed = 0;
    for (const AddressRange& r : huge.ranges) backed += huge_page_bytes(r);
    spdlog::info("{}: weights in transparent huge pages: {} of {} MiB", std::filesystem::path(opt.path).filename().string(),
                 backed >> 20, llama_model_size(model) >> 20);
  }

  ModelInfo& info = impl->info;
  info.architecture = meta_string(model, "general.architecture");
  char desc[256];
  llama_model_desc(model, desc, sizeof(desc));
  info.description = desc;
  info.n_params = llama_model_n_params(model);
  info.file_bytes = llama_model_size(model);
  info.n_ctx_train = llama_model_n_ctx_train(model);
  info.n_embd = llama_model_n_embd(model);
  info.n_vocab = llama_vocab_n_tokens(impl->vocab);
  info.has_chat_template = llama_model_chat_template(model, nullptr) != nullptr;
  // Embedding models: encoder-only (BERT family) or a declared pooling type.
  const std::string pooling_key = info.architecture + ".pooling_type";
  const bool declares_pooling = !meta_string(model, pooling_key.c_str()).empty();
  info.is_embedding = (llama_model_has_encoder(model) && !llama_model_has_decoder(model)) || declares_pooling ||
                      info.architecture == "bert" || info.architecture == "nomic-bert" ||
                      info.architecture == "jina-bert-v2" || info.architecture == "modern-bert";

  const int threads = opt.threads > 0 ? opt.threads : default_threads();
  llama_context_params cp = llama_context_default_params();
  cp.n_threads = threads;
  cp.n_threads_batch = opt.threads_batch > 0 ? opt.threads_batch : threads;
  cp.type_k = *kv_type;
  cp.type_v = *kv_type;
  cp.flash_attn_type = *fa;
  cp.no_perf = true;
  // ggml's reference switch: one flash-attention kernel for every batch shape (no tiled or
  // split-KV paths), and no matrix-multiply paths or op fusions chosen by batch size.
  const bool reference_kernels = opt.batch_invariant;
  const std::string file_name = std::filesystem::path(opt.path).filename().string();
  info.batch_invariance = check_batch_invariance(opt, model, info.is_embedding, *kv_type, cp.n_threads, cp.n_threads_batch);
  if (opt.batch_invariant && info.batch_invariance.holds == true) {
    spdlog::info("{}: batch-invariant output: {}", file_name, info.batch_invariance.reason);
  } else if (opt.batch_invariant) {
    spdlog::warn("{}: batch_invariant = true, but batch-invariant output is not promised: {}", file_name,
                 info.batch_invariance.reason);
  }

  if (info.is_embedding) {
    const int n = std::min(opt.context_size, info.n_ctx_train > 0 ? info.n_ctx_train : opt.context_size);
    cp.n_ctx = static_cast<uint32_t>(n);
    cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(n);  // a non-causal model needs a whole input per ubatch
    // Batch invariance: one input per batch, so an input's embedding never depends on the others
    // (mean pooling sums over the whole batch, in an order that depends on where the input sits).
    cp.n_seq_max = opt.batch_invariant ? 1u : static_cast<uint32_t>(std::clamp(opt.parallel, 1, 64));
    cp.embeddings = true;
    cp.kv_unified = true;
    llama_context_ptr ctx = new_llama_context(impl->model.get(), cp, reference_kernels);
    if (!ctx) return unavailable("llama.cpp could not create a context for the embedding model");
    HEARTH_TRY(attach_threadpools(*impl, ctx.get(), cp.n_threads, cp.n_threads_batch));
    info.pooling = pooling_name(llama_pooling_type(ctx.get()));
    impl->embedder = std::make_unique<EmbeddingWorker>(model, std::move(ctx), opt.max_queue);
  } else {
    // Every sequence may use the whole per-request context, so the pool holds parallel x context.
    const std::uint64_t cells = static_cast<std::uint64_t>(opt.context_size) * static_cast<std::uint64_t>(opt.parallel);
    cp.n_ctx = static_cast<uint32_t>(cells);
    cp.n_batch = static_cast<uint32_t>(opt.batch_size);
    cp.n_ubatch = static_cast<uint32_t>(std::min(opt.ubatch_size, opt.batch_size));
    cp.n_seq_max = static_cast<uint32_t>(opt.parallel);
    cp.n_outputs_max = static_cast<uint32_t>(opt.parallel);  // one sampled token per sequence per step
    cp.kv_unified = opt.kv_unified;
    llama_context_ptr ctx = new_llama_context(impl->model.get(), cp, reference_kernels);
    if (!ctx) return unavailable("llama.cpp could not create a context (out of memory for the KV cache?)");
    HEARTH_TRY(attach_threadpools(*impl, ctx.get(), cp.n_threads, cp.n_threads_batch));
    const std::uint64_t n_embd_kv = static_cast<std::uint64_t>(llama_model_n_embd(model)) *
                                    static_cast<std::uint64_t>(std::max(1, llama_model_n_head_kv(model))) /
                                    static_cast<std::uint64_t>(std::max(1, llama_model_n_head(model)));
    info.kv_bytes = cells * n_embd_kv * 2 * static_cast<std::uint64_t>(llama_model_n_layer(model)) *
                    ggml_type_size(*kv_type) / static_cast<std::uint64_t>(ggml_blck_size(*kv_type));
    try {
      impl->templates = common_chat_templates_init(model, opt.chat_template);
    } catch (const std::exception& e) {
      return invalid_argument(fmt::format("the chat template could not be parsed: {}", e.what()), "chat_template");
    }
    SchedulerConfig sc;
    sc.n_slots = opt.parallel;
    sc.n_ctx_per_seq = opt.context_size;
    sc.n_batch = opt.batch_size;
    sc.max_queue = opt.max_queue;
    // Requests released together (bench: 4-16 streams) share their first prompt step, which
    // their median and slowest time to first token gain from. On the CPU a step is stopped for
    // a request arriving up to 50 ms after the first of a busy spell (a step of a few prompts
    // takes hundreds of ms here; the stopped part is lost; on 2 busy cores the rest of a burst
    // was seen to arrive up to 14 ms late), so a lone request starts at once. Where a decode
    // cannot be stopped (GPU offload, recurrent memory) the first step waits 3 ms for the rest.
    sc.join_window = std::chrono::milliseconds(opt.join_window_ms);
    sc.gather_window = std::chrono::milliseconds(3);
    // A stopped llama_decode drops the cells of the micro-batch it was computing; the scheduler
    // then truncates to what each sequence held before. That restores the KV exactly only for
    // plain attention: recurrent state cannot be rolled back, and a sliding window may already
    // have evicted cells that the dropped micro-batches had pushed out of the window.
    const bool interruptible = (opt.gpu_layers == 0 || !llama_supports_gpu_offload()) &&
                               !llama_model_is_recurrent(model) && !llama_model_is_hybrid(model) &&
                               llama_model_n_swa(model) == 0;
    // Prompts that arrive together complete over several steps when that costs the last of them
    // at most prefill_spread more (default 5%; the steps' costs are measured as the model runs),
    // and the streams started early wait for the rest of their burst: on the Qwen2-0.5B shape,
    // 8 prompts of ~60 tokens complete 2 per step, the median user gets the first token ~1.3-1.8x
    // sooner than with one big step and the last about as late (15% without the hold let the
    // early streams' decode tokens cost the last ones up to 20%).
    sc.prefill_spread = opt.prefill_spread;
    sc.allow_kv_copy = true;
    // Prices in prompt tokens, for separate KV streams only (in a unified pool a copy just shares
    // cells and there are no streams to keep adjacent):
    // - a copy moves the cells the source sequence holds (LlamaBackend::kv_copy); measured on the
    //   Qwen2-0.5B shape, 250 cells take about 3 ms, 0.4 prompt tokens' time: priced at 2 tokens
    //   plus one per 256 cells (a 4,096-cell source: 18);
    // - each gap between busy sequences adds a pass over the weights (about 5 prompt tokens'
    //   worth) to every decoding step while the request generates; 128 is a conservative price.
    sc.kv_copy_price = opt.kv_unified ? CopyPrice{} : CopyPrice{2, 256};
    sc.kv_split_cost = opt.kv_unified ? 0 : 128;
    // llama.cpp splits equally only with more than one stream.
    sc.equal_split_ubatch = opt.kv_unified || opt.parallel < 2 ? 0 : static_cast<int>(cp.n_ubatch);
    spdlog::info("{}: {} sequences x {} tokens, {}-token steps ({}-token micro-batches), prefill spread {}", file_name,
                 sc.n_slots, sc.n_ctx_per_seq, sc.n_batch, cp.n_ubatch, sc.prefill_spread);
    auto backend = std::make_unique<LlamaBackend>(model, std::move(ctx), opt.parallel, opt.batch_size, opt.kv_unified,
                                                  interruptible);
    impl->scheduler = std::make_unique<SlotScheduler>(std::move(backend), sc);
  }
  release_free_memory();  // what loading freed (the GGUF metadata, temporary buffers)
#if defined(__GLIBC__)
  // Mostly llama.cpp's tokenizer tables (about 45 MB for a 152k-token vocabulary).
  spdlog::debug("heap in use after loading: {:.1f} MiB", static_cast<double>(mallinfo2().uordblks) / (1 << 20));
#endif
  return std::unique_ptr<ModelEngine>(new ModelEngine(std::move(impl)));
}

namespace {
Status attach_threadpools(ModelEngine::Impl& impl, llama_context* ctx, int threads, int threads_batch) {
  ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);
  ggml_threadpool_params tpp_batch = ggml_threadpool_params_default(threads_batch);
  if (!ggml_threadpool_params_match(&tpp, &tpp_batch)) {
    impl.threadpool_batch.reset(ggml_threadpool_new(&tpp_batch));
    if (!impl.threadpool_batch) return unavailable("could not start the batch threadpool");
    tpp.paused = true;  // llama.cpp resumes whichever pool a batch needs
  }
  impl.threadpool.reset(ggml_threadpool_new(&tpp));
  if (!impl.threadpool) return unavailable("could not start the threadpool");
  llama_attach_threadpool(ctx, impl.threadpool.get(), impl.threadpool_batch.get());
  return {};
}
}  // namespace

const ModelInfo& ModelEngine::info() const { return impl_->info; }
const ModelLoadOptions& ModelEngine::options() const { return impl_->options; }

Result<std::vector<Token>> ModelEngine::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  if (text.size() > static_cast<size_t>(INT32_MAX / 2)) return invalid_argument("text is too long to tokenize");
  std::vector<Token> out(text.size() + 8);
  int n = llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                         static_cast<int32_t>(out.size()), add_special, parse_special);
  if (n < 0) {
    out.resize(static_cast<size_t>(-n));
    n = llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), add_special, parse_special);
  }
  if (n < 0) return internal_error("tokenization failed");
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string ModelEngine::detokenize(const std::vector<Token>& tokens) const {
  std::string out(tokens.size() * 8 + 16, '\0');
  int n = llama_detokenize(impl_->vocab, tokens.data(), static_cast<int32_t>(tokens.size()), out.data(),
                           static_cast<int32_t>(out.size()), false, false);
  if (n < 0) {
    out.resize(static_cast<size_t>(-n));
    n = llama_detokenize(impl_->vocab, tokens.data(), static_cast<int32_t>(tokens.size()), out.data(),
                         static_cast<int32_t>(out.size()), false, false);
  }
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

Result<RenderedChat> ModelEngine::render_chat(const ChatRenderRequest& req) const {
  if (!impl_->templates) return invalid_argument("this model has no chat template (it is an embedding model)", "model");
  common_chat_templates_inputs in;
  in.use_jinja = true;
  in.add_generation_prompt = req.add_generation_prompt;
  in.enable_thinking = req.enable_thinking;
  in.reasoning_format = COMMON_REASONING_FORMAT_DEEPSEEK;
  for (const auto& m : req.messages) {
    common_chat_msg msg;
    msg.role = m.role;
    msg.content = m.content;
    msg.reasoning_content = m.reasoning_content;
    msg.tool_name = m.name;
    msg.tool_call_id = m.tool_call_id;
    in.messages.push_back(std::move(msg));
  }
  RenderedChat out;
  try {
    common_chat_params p = common_chat_templates_apply(impl_->templates.get(), in);
    out.prompt = std::move(p.prompt);
    out.supports_thinking = p.supports_thinking;
    if (!p.thinking_start_tag.empty()) out.think_open = p.thinking_start_tag;
    if (!p.thinking_end_tags.empty() && !p.thinking_end_tags.front().empty()) out.think_close = p.thinking_end_tags.front();
    out.extra_stops = std::move(p.additional_stops);
  } catch (const std::exception& e) {
    return invalid_argument(fmt::format("the chat template failed on these messages: {}", e.what()), "messages");
  }
  std::string_view tail(out.prompt);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.remove_suffix(1);
  out.starts_in_reasoning = tail.size() >= out.think_open.size() &&
                            tail.substr(tail.size() - out.think_open.size()) == out.think_open;
  return out;
}

Result<std::shared_ptr<RequestHandle>> ModelEngine::generate(GenerationRequest request, EventSink sink) {
  if (!impl_->scheduler) return invalid_argument("this is an embedding model; it cannot generate text", "model");
  return impl_->scheduler->submit(std::move(request), std::move(sink));
}

Status ModelEngine::embed(std::vector<std::vector<Token>> inputs, EmbedDone done) {
  if (!impl_->embedder) {
    return invalid_argument("this model does not produce embeddings; use an embedding model", "model");
  }
  if (impl_->info.pooling == "rank") {
    return invalid_argument("this model is a reranker, not an embedding model; use it as [knowledge] reranker",
                            "model");
  }
  return impl_->embedder->submit(std::move(inputs), std::move(done));
}

Status ModelEngine::rerank(std::string_view query, std::span<const std::string> documents, RerankDone done) {
  if (!impl_->embedder || impl_->info.pooling != "rank") {
    return invalid_argument("this model is not a reranker (its pooling type must be 'rank')", "model");
  }
  const llama_vocab* vocab = impl_->vocab;
  // The embedding context's size (load()): one input per sequence, whole in one batch.
  const int ctx = impl_->options.context_size;
  const int limit = std::min(ctx, impl_->info.n_ctx_train > 0 ? impl_->info.n_ctx_train : ctx);
  std::vector<std::vector<Token>> inputs;
  inputs.reserve(documents.size());
  const char* tmpl = llama_model_chat_template(impl_->model.get(), "rerank");
  for (const std::string& doc : documents) {
    std::vector<Token> t;
    if (tmpl != nullptr) {
      std::string prompt = tmpl;
      auto replace = [&](std::string_view key, std::string_view value) {
        for (std::size_t at = prompt.find(key); at != std::string::npos; at = prompt.find(key, at + value.size())) {
          prompt.replace(at, key.size(), value);
        }
      };
      replace("{query}", query);
      replace("{document}", doc);
      auto all = tokenize(prompt, false, true);
      if (!all) return all.take_error();
      t = std::move(*all);
      if (static_cast<int>(t.size()) > limit) {
        // Cutting the end would cut the template's closing instructions: refuse, as llama-server does.
        Error e = invalid_argument(
            fmt::format("a query and document make {} tokens; this reranker takes {}", t.size(), limit), "input");
        e.type_override = "context_length_exceeded";
        return e;
      }
    } else {
      auto q = tokenize(query, false, false);
      if (!q) return q.take_error();
      auto d = tokenize(doc, false, false);
      if (!d) return d.take_error();
      Token eos = llama_vocab_eos(vocab);
      if (eos == LLAMA_TOKEN_NULL) eos = llama_vocab_sep(vocab);
      const bool bos = llama_vocab_get_add_bos(vocab), add_eos = llama_vocab_get_add_eos(vocab),
                 sep = llama_vocab_get_add_sep(vocab);
      if (add_eos && eos == LLAMA_TOKEN_NULL) {
        return invalid_argument("this reranker's vocabulary asks for an end token but has neither EOS nor SEP",
                                "model");
      }
      if (bos) t.push_back(llama_vocab_bos(vocab));
      t.insert(t.end(), q->begin(), q->end());
      if (add_eos) t.push_back(eos);
      if (sep) t.push_back(llama_vocab_sep(vocab));
      const int fixed = static_cast<int>(t.size()) + (add_eos ? 1 : 0);
      if (fixed >= limit) {
        return invalid_argument(fmt::format("the query has {} tokens; this reranker takes {} with the document", q->size(),
                                            limit),
                                "query");
      }
      const std::size_t room = static_cast<std::size_t>(limit - fixed);
      t.insert(t.end(), d->begin(), d->begin() + static_cast<std::ptrdiff_t>(std::min(room, d->size())));
      if (add_eos) t.push_back(eos);
    }
    inputs.push_back(std::move(t));
  }
  return impl_->embedder->submit(std::move(inputs), [done = std::move(done)](Result<std::vector<std::vector<float>>> r) {
    if (!r) return done(r.take_error());
    std::vector<float> scores;
    scores.reserve(r->size());
    for (const auto& v : *r) scores.push_back(v.empty() ? 0.0f : v.front());
    done(std::move(scores));
  });
}

SchedulerStats ModelEngine::stats() const {
  return impl_->scheduler ? impl_->scheduler->stats() : impl_->embedder->stats();
}

int ModelEngine::load() const { return impl_->scheduler ? impl_->scheduler->load() : impl_->embedder->load(); }

Result<std::string> json_schema_to_gbnf(const std::string& schema_json) {
  try {
    common_json schema = common_json::parse(schema_json.empty() ? std::string(R"({"type":"object"})") : schema_json);
    return json_schema_to_grammar(schema);
  } catch (const std::exception& e) {
    return invalid_argument(fmt::format("the JSON schema cannot be used: {}", e.what()), "response_format");
  }
}

}  // namespace hearth
