// POST /v1/chat/completions (streaming and not).
#include <nlohmann/json.hpp>

#include "engine/reasoning_splitter.h"
#include "server/api.h"
#include "server/async_util.h"
#include "server/error_mapping.h"
#include "server/generation_pump.h"
#include "server/sse.h"
#include "server/usage_json.h"

namespace hearth {
using json = nlohmann::json;

namespace {

struct ChatStream {
  std::string id;
  std::string model;
  long long created = 0;

  json chunk(json delta, json finish_reason = nullptr) const {
    return {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", model},
            {"system_fingerprint", "hearth"},
            {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                      {"finish_reason", std::move(finish_reason)}}})}};
  }
};

json delta_json(const ReasoningSplitter::Delta& d) {
  json delta = json::object();
  if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
  if (!d.content.empty()) delta["content"] = d.content;
  return delta;
}

}  // namespace

InputTexts chat_texts(ChatCompletionRequest& req) {
  InputTexts in{{}, "messages"};
  for (auto& m : req.messages) in.texts.push_back(&m.content);
  return in;
}

Task<> handle_chat_completions(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  auto req = parse_chat_request(*body);
  if (!req) co_return co_await ex.respond(error_response(req.error()));
  if (auto in = admit_input(api, ex.context(), req->gen.model, chat_texts(*req)); !in) {
    co_return co_await ex.respond(error_response(in.error()));
  }
  auto grounding = co_await ground_chat(api, caller(ex), *req);
  if (!grounding) co_return co_await ex.respond(error_response(grounding.error()));

  auto prepared = co_await prepare_request(api.blocking, ex.request().body.size(),
                                           [&api, &r = *req](Acquire m) { return api.generation.prepare_chat(r, m); });
  if (!prepared) co_return co_await ex.respond(error_response(prepared.error()));
  ex.context().model = prepared->model_id;
  auto submitted = co_await submit_generation(api, ex.context(), ex.executor(), *prepared);
  if (!submitted) co_return co_await ex.respond(error_response(submitted.error()));
  Generation& g = *submitted;
  PreparedGeneration& p = g.prepared;
  OutputChain output(api.pipeline, ex.context());

  ReasoningSplitter splitter(p.starts_in_reasoning, p.think_open, p.think_close);
  const bool split = p.split_reasoning;
  auto split_text = [&](const std::string& text) {
    if (split) return splitter.push(text);
    return ReasoningSplitter::Delta{{}, text};
  };
  ChatStream cs{"chatcmpl-" + ex.context().request_id, p.model_id, unix_time_now()};
  auto gone = [&ex] { return ex.client_gone(); };

  if (!req->gen.stream) {
    std::string content, reasoning;
    auto result = co_await run_generation(api, ex.context(), g, output, gone, [&](std::string text) -> Task<bool> {
      auto d = split_text(text);
      reasoning += d.reasoning;
      content += d.content;
      co_return true;
    });
    if (result.client_gone) co_return;
    if (result.last.kind == GenEvent::Kind::kError) co_return co_await ex.respond(error_response(result.last.error));
    if (split) {
      auto d = splitter.flush();
      reasoning += d.reasoning;
      content += d.content;
    }
    json message = {{"role", "assistant"}, {"content", content}};
    if (!reasoning.empty()) message["reasoning_content"] = reasoning;
    json out = {{"id", cs.id},
                {"object", "chat.completion"},
                {"created", cs.created},
                {"model", cs.model},
                {"system_fingerprint", "hearth"},
                {"choices", json::array({{{"index", 0},
                                          {"message", std::move(message)},
                                          {"logprobs", nullptr},
                                          {"finish_reason", finish_reason_name(result.last.finish)}}})},
                {"usage", usage_json(result.last.usage)},
                {"timings", timings_json(result.last.timings, result.last.usage)}};
    if (*grounding) out["citations"] = citations_json(**grounding);
    co_return co_await ex.respond(json_response(200, out.dump(-1, ' ', false, json::error_handler_t::replace)));
  }

  // Streaming: role first, then content/reasoning deltas, a finish chunk, usage if asked, [DONE].
  std::vector<std::pair<std::string, std::string>> sse_headers{{"Cache-Control", "no-cache"}};
  if (!co_await ex.begin_stream(200, "text/event-stream", std::move(sse_headers))) {
    g.handle->cancel();
    co_return;
  }
  auto send = [&ex](const json& j) -> Task<bool> {
    co_return co_await ex.write(sse_data(j.dump(-1, ' ', false, json::error_handler_t::replace)));
  };
  json first = cs.chunk({{"role", "assistant"}, {"content", ""}});
  if (*grounding) first["citations"] = citations_json(**grounding);  // once, before any content
  bool alive = co_await send(first);
  if (!alive) g.handle->cancel();
  auto result = co_await run_generation(api, ex.context(), g, output, gone, [&](std::string text) -> Task<bool> {
    auto d = split_text(text);
    if (d.empty()) co_return true;
    const json chunk = cs.chunk(delta_json(d));
    co_return co_await send(chunk);
  });
  if (result.client_gone || !alive) co_return;
  if (result.last.kind == GenEvent::Kind::kError) {
    co_await ex.write(sse_data(error_body(result.last.error)));
    co_await ex.write(kSseDone);
    co_return co_await ex.finish();
  }
  if (split) {
    auto d = splitter.flush();
    const json tail = cs.chunk(delta_json(d));
    if (!d.empty() && !co_await send(tail)) co_return;
  }
  const json finish_chunk = cs.chunk(json::object(), finish_reason_name(result.last.finish));
  if (!co_await send(finish_chunk)) co_return;
  if (req->gen.include_usage) {
    json u = {{"id", cs.id}, {"object", "chat.completion.chunk"}, {"created", cs.created}, {"model", cs.model},
              {"system_fingerprint", "hearth"}, {"choices", json::array()}, {"usage", usage_json(result.last.usage)}};
    if (!co_await send(u)) co_return;
  }
  co_await ex.write(kSseDone);
  co_await ex.finish();
}

}  // namespace hearth
