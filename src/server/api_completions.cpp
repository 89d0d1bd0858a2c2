// POST /v1/completions (streaming and not).
#include <nlohmann/json.hpp>

#include "server/api.h"
#include "server/async_util.h"
#include "server/error_mapping.h"
#include "server/generation_pump.h"
#include "server/sse.h"
#include "server/usage_json.h"

namespace hearth {
using json = nlohmann::json;

Task<> handle_completions(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  auto req = parse_completion_request(*body);
  if (!req) co_return co_await ex.respond(error_response(req.error()));
  if (auto in = admit_input(api, ex.context(), req->gen.model, InputTexts{{&req->prompt}, "prompt"}); !in) {
    co_return co_await ex.respond(error_response(in.error()));
  }

  auto prepared = co_await prepare_request(api.blocking, ex.request().body.size(),
                                           [&api, &r = *req](Acquire m) { return api.generation.prepare_completion(r, m); });
  if (!prepared) co_return co_await ex.respond(error_response(prepared.error()));
  ex.context().model = prepared->model_id;
  const std::string echo =
      req->echo ? (req->prompt.empty() ? prepared->engine->detokenize(prepared->request.prompt) : req->prompt) : "";
  auto submitted = co_await submit_generation(api, ex.context(), ex.executor(), *prepared);
  if (!submitted) {
    Error e = submitted.take_error();
    if (e.param == "messages") e.param = "prompt";  // the engine names the chat field
    co_return co_await ex.respond(error_response(e));
  }
  Generation& g = *submitted;
  PreparedGeneration& p = g.prepared;
  OutputChain output(api.pipeline, ex.context());

  const std::string id = "cmpl-" + ex.context().request_id;
  const long long created = unix_time_now();
  auto choice = [&](std::string text, json finish) {
    return json{{"id", id},
                {"object", "text_completion"},
                {"created", created},
                {"model", p.model_id},
                {"system_fingerprint", "hearth"},
                {"choices", json::array({{{"text", std::move(text)}, {"index", 0}, {"logprobs", nullptr},
                                          {"finish_reason", std::move(finish)}}})}};
  };
  auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  auto gone = [&ex] { return ex.client_gone(); };

  if (!req->gen.stream) {
    std::string text = echo;
    auto result = co_await run_generation(api, ex.context(), g, output, gone, [&](std::string t) -> Task<bool> {
      text += t;
      co_return true;
    });
    if (result.client_gone) co_return;
    if (result.last.kind == GenEvent::Kind::kError) co_return co_await ex.respond(error_response(result.last.error));
    json out = choice(std::move(text), finish_reason_name(result.last.finish));
    out["usage"] = usage_json(result.last.usage);
    out["timings"] = timings_json(result.last.timings, result.last.usage);
    co_return co_await ex.respond(json_response(200, dump(out)));
  }

  std::vector<std::pair<std::string, std::string>> sse_headers{{"Cache-Control", "no-cache"}};
  if (!co_await ex.begin_stream(200, "text/event-stream", std::move(sse_headers))) {
    g.handle->cancel();
    co_return;
  }
  bool alive = true;
  if (!echo.empty()) alive = co_await ex.write(sse_data(dump(choice(echo, nullptr))));
  if (!alive) g.handle->cancel();
  auto result = co_await run_generation(api, ex.context(), g, output, gone, [&](std::string t) -> Task<bool> {
    co_return co_await ex.write(sse_data(dump(choice(std::move(t), nullptr))));
  });
  if (result.client_gone || !alive) co_return;
  if (result.last.kind == GenEvent::Kind::kError) {
    co_await ex.write(sse_data(error_body(result.last.error)));
  } else {
    const json last = choice("", finish_reason_name(result.last.finish));
    if (!co_await ex.write(sse_data(dump(last)))) co_return;
    if (req->gen.include_usage) {  // as OpenAI: a last chunk with empty choices and the usage
      json u = choice("", nullptr);
      u["choices"] = json::array();
      u["usage"] = usage_json(result.last.usage);
      if (!co_await ex.write(sse_data(dump(u)))) co_return;
    }
  }
  co_await ex.write(kSseDone);
  co_await ex.finish();
}

}  // namespace hearth
