// GET /v1/chat/ws: chat over a WebSocket. JSON messages in, token deltas out; the connection
// keeps the conversation, so several turns share it (and the prefix cache); a turn can be
// cancelled. Protocol (docs/API.md):
//   in:  {"type":"chat","content":"...", ...chat-completion parameters}
//        {"type":"chat","messages":[...]}   (replaces the history)
//        {"type":"cancel"}  {"type":"reset"}
//   out: {"type":"start"} {"type":"delta","content"|"reasoning_content"} {"type":"done",...}
//        ("start" carries "citations" when the turn asked for knowledge)
//        {"type":"error","error":{...}}
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/reasoning_splitter.h"
#include "server/api.h"
#include "auth/key_store.h"
#include "auth/user_store.h"
#include "server/async_util.h"
#include "server/auth_filter.h"
#include "server/error_mapping.h"
#include "server/generation_pump.h"
#include "server/usage_json.h"
#include "server/websocket.h"

namespace hearth {
using json = nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_message(const std::string& id, const Error& e) {
  json j = {{"type", "error"}, {"error", json::parse(error_body(e))["error"]}};
  if (!id.empty()) j["id"] = id;
  return j;
}

struct WsChatSession {
  ApiContext& api;
  WsConnection& ws;
  Exchange& upgrade;  // the upgrade request and its context: who is calling
  std::vector<json> history;
  bool running = false;
  bool closed = false;
  std::shared_ptr<RequestHandle> handle;
  int turns = 0;

  Task<> run_turn(Generation g, std::string id) {
    PreparedGeneration& p = g.prepared;
    ReasoningSplitter splitter(p.starts_in_reasoning, p.think_open, p.think_close);
    OutputChain output(api.pipeline, upgrade.context());
    std::string content;
    auto emit = [&](const ReasoningSplitter::Delta& d) -> Task<bool> {
      if (d.empty()) co_return true;
      content += d.content;
      json m = {{"type", "delta"}, {"id", id}};
      if (!d.reasoning.empty()) m["reasoning_content"] = d.reasoning;
      if (!d.content.empty()) m["content"] = d.content;
      co_return co_await ws.write(dump(m));
    };
    const bool split = p.split_reasoning;
    const std::string model_id = p.model_id;
    auto result = co_await run_generation(api, upgrade.context(), g, output, [this] { return closed; },
                                          [&](std::string text) -> Task<bool> {
                                            // A named value: GCC 12 mis-destroys conditional temporaries in co_await.
                                            ReasoningSplitter::Delta d;
                                            if (split) d = splitter.push(text);
                                            else d.content = std::move(text);
                                            co_return co_await emit(d);
                                          });
    if (result.last.kind == GenEvent::Kind::kError) {
      co_await ws.write(dump(error_message(id, result.last.error)));
    } else if (!result.client_gone) {
      if (split) {
        const ReasoningSplitter::Delta tail = splitter.flush();
        co_await emit(tail);
      }
      if (result.last.finish != FinishReason::kCancelled) {
        history.push_back({{"role", "assistant"}, {"content", content}});
      }
      const json done = {{"type", "done"},
                         {"id", id},
                         {"model", model_id},
                         {"finish_reason", finish_reason_name(result.last.finish)},
                         {"usage", usage_json(result.last.usage)}};
      co_await ws.write(dump(done));
    }
    running = false;
    handle.reset();
  }

  // The credential may have been revoked or have expired since the upgrade (a key revoked, a
  // session signed out, a JWT past its exp): every turn checks it again.
  std::optional<Error> still_authorized() {
    const Principal& who = caller(upgrade);
    const std::int64_t now = unix_time_now();
    if (who.expires_at && now >= who.expires_at) {
      return Error{ErrorCode::kUnauthenticated, fmt::format("the token expired at {}", who.expires_at)};
    }
    Status again;
    if (who.kind == "key" && api.keys) {
      auto k = api.keys->verify(presented_credential(upgrade.request()), now);
      if (!k) again = k.take_error();
    } else if (who.kind == "user" && api.users) {
      auto s = api.users->verify_session(presented_credential(upgrade.request()), now);
      if (!s) again = s.take_error();
    }
    if (!again) return again.error();
    return std::nullopt;
  }

  Task<std::optional<Error>> start_turn(json msg, const std::string& id) {
    if (running) co_return invalid_argument("a turn is already running; send {\"type\":\"cancel\"} first", "type");
    if (auto denied = still_authorized()) co_return denied;
    if (api.pipeline && api.pipeline->limits) {  // each turn is a request of its own
      auto admitted = co_await api.pipeline->limits->admit_turn(upgrade.context());
      if (!admitted) co_return admitted.take_error();
    }
    std::vector<json> next = history;
    if (auto m = msg.find("messages"); m != msg.end()) {
      if (!m->is_array()) co_return invalid_argument("'messages' must be an array", "messages");
      next.assign(m->begin(), m->end());
    }
    if (auto c = msg.find("content"); c != msg.end()) {
      if (!c->is_string()) co_return invalid_argument("'content' must be a string", "content");
      next.push_back({{"role", "user"}, {"content", *c}});
    }
    if (next.empty()) co_return invalid_argument("a chat message needs 'content' or 'messages'", "content");
    msg.erase("type");
    msg.erase("id");
    msg.erase("content");
    msg["messages"] = next;
    msg["stream"] = true;
    auto req = parse_chat_request(msg);
    if (!req) co_return req.take_error();
    if (auto in = admit_input(api, upgrade.context(), req->gen.model, chat_texts(*req)); !in) co_return in.take_error();
    auto grounding = co_await ground_chat(api, caller(upgrade), *req);  // sources for this turn only (not kept in history)
    if (!grounding) co_return grounding.take_error();
    const size_t text_size = msg.dump().size();
    auto prepared = co_await prepare_request(api.blocking, text_size,
                                             [this, &r = *req](Acquire m) { return api.generation.prepare_chat(r, m); });
    if (!prepared) co_return prepared.take_error();
    auto submitted = co_await submit_generation(api, upgrade.context(), ws.executor(), *prepared);
    if (!submitted) co_return submitted.take_error();
    history = std::move(next);
    handle = submitted->handle;
    running = true;
    ++turns;
    json start = {{"type", "start"}, {"id", id}, {"model", submitted->prepared.model_id}};
    if (*grounding) start["citations"] = citations_json(**grounding);
    co_await ws.write(dump(start));
    boost::asio::co_spawn(ws.executor(), run_turn(std::move(*submitted), id), boost::asio::detached);
    co_return std::nullopt;
  }

  bool finished = false;
  bool watcher_done = false;

  // While the server drains, an idle connection is closed at once (a running turn first ends).
  Task<> close_when_draining() {
    boost::asio::steady_timer t(ws.executor());
    while (!finished) {
      if (api.draining.load() && !running) {
        co_await ws.close();
        break;
      }
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    watcher_done = true;
  }

  Task<> serve() {
    boost::asio::co_spawn(ws.executor(), close_when_draining(), boost::asio::detached);
    for (;;) {
      auto text = co_await ws.read();
      if (!text) break;
      auto body = parse_json_body(*text);
      if (!body || !body->is_object()) {
        Error e = invalid_argument("messages must be JSON objects");
        if (!body) e = body.error();
        const std::string reply = dump(error_message("", e));
        co_await ws.write(reply);
        continue;
      }
      const json& msg = *body;
      std::string id = fmt::format("{}-{}", ws.request_id(), turns + 1);
      if (auto i = msg.find("id"); i != msg.end() && i->is_string()) id = i->get<std::string>();
      const auto t = msg.find("type");
      const std::string type = (t != msg.end() && t->is_string()) ? t->get<std::string>() : "";
      if (type == "chat") {
        if (auto err = co_await start_turn(msg, id)) co_await ws.write(dump(error_message(id, *err)));
      } else if (type == "cancel") {
        if (running && handle) handle->cancel();
      } else if (type == "reset") {
        if (running) {
          co_await ws.write(dump(error_message(id, invalid_argument("cannot reset while a turn is running", "type"))));
        } else {
          history.clear();
          const json reset = {{"type", "reset"}};
          co_await ws.write(dump(reset));
        }
      } else {
        co_await ws.write(dump(error_message(
            id, invalid_argument("'type' must be chat, cancel or reset", "type"))));
      }
    }
    closed = true;
    if (running && handle) handle->cancel();
    finished = true;
    boost::asio::steady_timer t(ws.executor());
    while (running || !watcher_done) {
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }
};

}  // namespace

Task<> handle_chat_websocket(ApiContext& api, WsConnection& ws, Exchange& upgrade) {
  WsChatSession session{api, ws, upgrade};
  co_await session.serve();
}

}  // namespace hearth
