#include "server/pipeline.h"

#include "server/api.h"

namespace hearth {

OutputChain::OutputChain(const Pipeline* pipeline, RequestContext& ctx) {
  if (!pipeline) return;
  for (const auto& hook : pipeline->output) {
    if (auto f = hook->open(ctx)) filters_.push_back(std::move(f));
  }
}

std::string OutputChain::push(std::string_view text) {
  std::string out(text);
  for (auto& f : filters_) out = f->push(out);
  return out;
}

std::string OutputChain::finish() {
  // Each filter's tail goes through the filters after it, then their own tails.
  std::string out;
  for (auto& f : filters_) {
    out = f->push(out);
    out += f->finish();
  }
  return out;
}

Status admit_input(ApiContext& api, RequestContext& ctx, const std::string& model, InputTexts texts) {
  static const Principal nobody{};
  const Principal& who = ctx.principal ? *ctx.principal : nobody;
  if (auto denied = check_model(api, who, model)) return *denied;
  if (!api.pipeline) return {};
  for (const auto& hook : api.pipeline->input) HEARTH_TRY(hook->on_input(ctx, texts));
  return {};
}

namespace {

// The most tokens a request may use: its prompt and what it may generate.
std::uint64_t token_budget(const ApiContext& api, const PreparedGeneration& p) {
  const std::uint64_t prompt = p.request.prompt.size();
  if (p.request.max_tokens >= 0) return prompt + static_cast<std::uint64_t>(p.request.max_tokens);
  const ModelEntry* e = api.config.find(p.model_id);
  const std::uint64_t ctx = e ? static_cast<std::uint64_t>(e->load.context_size) : prompt;
  return std::max(ctx, prompt);
}

}  // namespace

Task<Result<Generation>> submit_generation(ApiContext& api, RequestContext& ctx, boost::asio::any_io_executor executor,
                                           PreparedGeneration& prepared) {
  Generation g;
  if (api.pipeline && api.pipeline->limits) {
    g.reserved = token_budget(api, prepared);
    if (auto st = co_await api.pipeline->limits->reserve(ctx, g.reserved); !st) co_return st.take_error();
  }
  g.channel = std::make_shared<EventChannel>(executor);
  auto handle = prepared.engine->generate(std::move(prepared.request), sink_into(g.channel));
  if (!handle) {
    if (g.reserved) api.pipeline->limits->settle(ctx, g.reserved, 0);
    co_return handle.take_error();
  }
  g.handle = std::move(*handle);
  g.prepared = std::move(prepared);
  co_return g;
}

Task<PumpResult> run_generation(ApiContext& api, RequestContext& ctx, Generation& g, OutputChain& out,
                                const std::function<bool()>& client_gone,
                                const std::function<Task<bool>(std::string)>& on_text) {
  auto filtered = [&](std::string text) -> Task<bool> {
    std::string now = out.push(text);
    if (now.empty()) co_return true;
    co_return co_await on_text(std::move(now));
  };
  PumpResult result = co_await pump_generation(*g.handle, *g.channel, client_gone, filtered);
  g.prepared.engine.reset();  // the model is idle for us now: let the registry unload it if it must
  if (!result.client_gone && result.last.kind != GenEvent::Kind::kError) {
    std::string tail = out.finish();
    if (!tail.empty() && !co_await on_text(std::move(tail))) result.client_gone = true;
  }
  record_usage(ctx, result.last.usage);
  if (g.reserved) {
    const auto& u = result.last.usage;
    api.pipeline->limits->settle(ctx, g.reserved, static_cast<std::uint64_t>(u.prompt_tokens + u.completion_tokens));
  }
  co_return result;
}

Task<Status> admit_embedding_tokens(ApiContext& api, RequestContext& ctx, std::uint64_t prompt_tokens) {
  ctx.prompt_tokens += prompt_tokens;
  if (!api.pipeline || !api.pipeline->limits) co_return Status{};
  co_return co_await api.pipeline->limits->reserve(ctx, prompt_tokens);
}

}  // namespace hearth
