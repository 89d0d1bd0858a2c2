// /v1/conversations: each caller's chat history (the web app keeps its chats here), shaped like
// OpenAI's Conversations API (conversation and message item objects, list pages with has_more),
// plus list-and-search, export and import. The owner is the caller's principal id; another
// caller's conversation is 404 like one that does not exist. Store calls run on the blocking pool.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "conversations/items_json.h"
#include "conversations/store.h"
#include "server/api.h"
#include "server/async_util.h"
#include "server/error_mapping.h"

namespace hearth {
using json = nlohmann::json;
namespace conv = conversations;
using conv::items_of;
using conv::metadata_of;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json conversation_json(const conv::Conversation& c) {
  return {{"id", c.id},
          {"object", "conversation"},
          {"created_at", c.created_at},
          {"updated_at", c.updated_at},
          {"metadata", json::parse(c.metadata_json, nullptr, false)},
          {"item_count", c.item_count}};
}

json item_json(const conv::Item& i) {
  json j = json::parse(i.body_json, nullptr, false);
  if (!j.is_object()) j = json::object();
  j["id"] = i.id;
  j["created_at"] = i.created_at;
  return j;
}

template <typename T, typename Render>
json page_json(const conv::Page<T>& page, Render render) {
  json data = json::array();
  for (const auto& x : page.data) data.push_back(render(x));
  return {{"object", "list"},
          {"data", std::move(data)},
          {"first_id", page.data.empty() ? json(nullptr) : json(page.data.front().id)},
          {"last_id", page.data.empty() ? json(nullptr) : json(page.data.back().id)},
          {"has_more", page.has_more}};
}

Result<conv::Store*> store_of(ApiContext& api) {
  if (!api.conversations) return unavailable("conversations are off on this server ([ui] conversations_db)");
  return api.conversations;
}

// Runs fn(store, owner) on the blocking pool and answers with render(result).
template <typename F, typename Render>
Task<> answer(ApiContext& api, Exchange& ex, int status, F& fn, Render render) {
  auto store = store_of(api);
  if (!store) co_return co_await ex.respond(error_response(store.error()));
  auto work = [s = *store, owner = caller(ex).id, &fn] { return fn(*s, owner); };
  auto out = co_await run_blocking(api.blocking, work);
  if (!out) co_return co_await ex.respond(error_response(out.error()));
  co_await ex.respond(json_response(status, dump(render(*out))));
}

Result<std::size_t> limit_of(const std::string& query, std::size_t fallback) {
  const std::string v = query_param(query, "limit");
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || n < 1 || n > 100) return invalid_argument("'limit' must be an integer 1..100", "limit");
  return static_cast<std::size_t>(n);
}

const std::string& param(Exchange& ex, const char* name) { return ex.context().path_params[name]; }

}  // namespace

namespace {

// A new conversation of the caller from `holder`'s metadata and `body`'s items (create, import).
Task<> create_conversation(ApiContext& api, Exchange& ex, const json& holder, const json& body) {
  auto metadata = metadata_of(holder);
  auto items = items_of(body);
  if (!metadata || !items) {
    const Error e = !metadata ? metadata.error() : items.error();
    co_return co_await ex.respond(error_response(e));
  }
  auto fn = [m = *metadata, its = std::move(*items)](conv::Store& s, const std::string& owner) {
    return s.create(owner, m, its, unix_time_now());
  };
  co_await answer(api, ex, 200, fn, conversation_json);
}

}  // namespace

Task<> handle_conv_create(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  co_await create_conversation(api, ex, *body, *body);
}

Task<> handle_conv_list(ApiContext& api, Exchange& ex) {
  auto limit = limit_of(ex.request().query, 20);
  if (!limit) co_return co_await ex.respond(error_response(limit.error()));
  auto fn = [q = query_param(ex.request().query, "q"), after = query_param(ex.request().query, "after"),
             n = *limit](conv::Store& s, const std::string& owner) { return s.list(owner, q, n, after); };
  co_await answer(api, ex, 200, fn, [](const conv::Page<conv::Conversation>& p) { return page_json(p, conversation_json); });
}

Task<> handle_conv_get(ApiContext& api, Exchange& ex) {
  auto fn = [id = param(ex, "conversation")](conv::Store& s, const std::string& owner) { return s.get(owner, id); };
  co_await answer(api, ex, 200, fn, conversation_json);
}

Task<> handle_conv_update(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  if (!body->is_object() || !body->contains("metadata") || body->size() != 1) {
    co_return co_await ex.respond(error_response(invalid_argument("the body must be {\"metadata\": {...}}", "metadata")));
  }
  auto metadata = metadata_of(*body);
  if (!metadata) co_return co_await ex.respond(error_response(metadata.error()));
  auto fn = [id = param(ex, "conversation"), m = *metadata](conv::Store& s, const std::string& owner) {
    return s.set_metadata(owner, id, m, unix_time_now());
  };
  co_await answer(api, ex, 200, fn, conversation_json);
}

Task<> handle_conv_delete(ApiContext& api, Exchange& ex) {
  auto fn = [id = param(ex, "conversation")](conv::Store& s, const std::string& owner) -> Result<std::string> {
    HEARTH_TRY(s.remove(owner, id));
    return id;
  };
  co_await answer(api, ex, 200, fn, [](const std::string& id) {
    return json{{"id", id}, {"object", "conversation.deleted"}, {"deleted", true}};
  });
}

Task<> handle_conv_list_items(ApiContext& api, Exchange& ex) {
  auto limit = limit_of(ex.request().query, 20);
  const std::string order = query_param(ex.request().query, "order");
  if (!limit || (!order.empty() && order != "asc" && order != "desc")) {
    const Error e = !limit ? limit.error() : invalid_argument("'order' must be asc or desc", "order");
    co_return co_await ex.respond(error_response(e));
  }
  auto fn = [id = param(ex, "conversation"), after = query_param(ex.request().query, "after"), n = *limit,
             o = order == "asc" ? conv::Order::kAsc : conv::Order::kDesc](conv::Store& s, const std::string& owner) {
    return s.items(owner, id, n, after, o);
  };
  co_await answer(api, ex, 200, fn, [](const conv::Page<conv::Item>& p) { return page_json(p, item_json); });
}

Task<> handle_conv_add_items(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  if (!body->is_object() || !body->contains("items")) {
    co_return co_await ex.respond(error_response(invalid_argument("'items' is required", "items")));
  }
  auto items = items_of(*body);
  if (!items) co_return co_await ex.respond(error_response(items.error()));
  auto fn = [id = param(ex, "conversation"), its = std::move(*items)](conv::Store& s, const std::string& owner) {
    return s.add_items(owner, id, its, unix_time_now());
  };
  co_await answer(api, ex, 200, fn, [](const std::vector<conv::Item>& added) {
    return page_json(conv::Page<conv::Item>{added, false}, item_json);
  });
}

Task<> handle_conv_get_item(ApiContext& api, Exchange& ex) {
  auto fn = [id = param(ex, "conversation"), item = param(ex, "item")](conv::Store& s, const std::string& owner) {
    return s.item(owner, id, item);
  };
  co_await answer(api, ex, 200, fn, item_json);
}

Task<> handle_conv_delete_item(ApiContext& api, Exchange& ex) {
  const std::string and_after = query_param(ex.request().query, "and_after");
  auto fn = [id = param(ex, "conversation"), item = param(ex, "item"), after = and_after == "true" || and_after == "1"](
                conv::Store& s, const std::string& owner) { return s.delete_item(owner, id, item, after, unix_time_now()); };
  co_await answer(api, ex, 200, fn, conversation_json);
}

// {"object":"conversation.export","conversation":{...},"items":[...]}: every item, oldest first.
Task<> handle_conv_export(ApiContext& api, Exchange& ex) {
  auto fn = [id = param(ex, "conversation")](conv::Store& s, const std::string& owner) -> Result<json> {
    auto c = s.get(owner, id);
    if (!c) return c.take_error();
    json items = json::array();
    std::string after;
    for (;;) {
      auto page = s.items(owner, id, 100, after, conv::Order::kAsc);
      if (!page) return page.take_error();
      for (const auto& i : page->data) items.push_back(item_json(i));
      if (!page->has_more || page->data.empty()) break;
      after = page->data.back().id;
    }
    return json{{"object", "conversation.export"}, {"conversation", conversation_json(*c)}, {"items", std::move(items)}};
  };
  co_await answer(api, ex, 200, fn, [](const json& j) { return j; });
}

// The export's JSON back as a new conversation of the caller (new ids; metadata and items kept).
Task<> handle_conv_import(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  const json* conversation = body->is_object() ? &(*body)["conversation"] : nullptr;
  if (!conversation || !conversation->is_object() || !body->contains("items")) {
    co_return co_await ex.respond(error_response(
        invalid_argument("expected an export: {\"object\":\"conversation.export\",\"conversation\":{...},\"items\":[...]}",
                         "conversation")));
  }
  co_await create_conversation(api, ex, *conversation, *body);
}

}  // namespace hearth
