#include "conversations/items_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "core/utf8.h"

namespace hearth::conversations {
using json = nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

Result<std::string> metadata_of(const json& body) {
  auto it = body.find("metadata");
  if (it == body.end() || it->is_null()) return std::string("{}");
  if (!it->is_object()) return invalid_argument("'metadata' must be an object of strings", "metadata");
  if (it->size() > kMaxMetadataKeys) {
    return invalid_argument(fmt::format("'metadata' has more than {} keys", kMaxMetadataKeys), "metadata");
  }
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    if (kv.key().empty() || kv.key().size() > kMaxMetadataKey) {
      return invalid_argument(fmt::format("metadata keys are 1..{} bytes", kMaxMetadataKey), "metadata");
    }
    if (!kv->is_string() || kv->get_ref<const std::string&>().size() > kMaxMetadataValue) {
      return invalid_argument(fmt::format("metadata.{} must be a string of at most {} bytes", kv.key(),
                                          kMaxMetadataValue), "metadata");
    }
  }
  return dump(*it);
}

namespace {
// One content part's text: {"type": "input_text" | "output_text" | "text", "text": "..."}.
Result<std::string> part_text(const json& part, const std::string& where) {
  if (!part.is_object()) return invalid_argument(where + " must be an object", "items");
  auto type = part.find("type");
  auto text = part.find("text");
  if (type == part.end() || !type->is_string() ||
      (*type != "input_text" && *type != "output_text" && *type != "text")) {
    return invalid_argument(where + ".type must be input_text, output_text or text", "items");
  }
  if (text == part.end() || !text->is_string()) return invalid_argument(where + ".text must be a string", "items");
  return text->get<std::string>();
}

// A message item as sent (OpenAI's shape; content as a string or parts), normalised for storing:
// content becomes parts of input_text (user, system, developer) or output_text (assistant).
Result<NewItem> item_of(const json& in, std::size_t i) {
  const std::string where = fmt::format("items[{}]", i);
  if (!in.is_object()) return invalid_argument(where + " must be an object", "items");
  for (auto it = in.begin(); it != in.end(); ++it) {
    static const char* kKnown[] = {"type", "role", "content", "status", "hearth", "id", "created_at", "object"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return it.key() == k; })) {
      return invalid_argument(fmt::format("{}: unknown field '{}'", where, it.key()), "items");
    }
  }
  if (auto t = in.find("type"); t != in.end() && *t != "message") {
    return invalid_argument(where + ".type must be \"message\"", "items");
  }
  auto role = in.find("role");
  if (role == in.end() || !role->is_string() ||
      (*role != "user" && *role != "assistant" && *role != "system" && *role != "developer")) {
    return invalid_argument(where + ".role must be user, assistant, system or developer", "items");
  }
  NewItem out;
  out.role = role->get<std::string>();
  const char* part_type = out.role == "assistant" ? "output_text" : "input_text";
  json parts = json::array();
  auto content = in.find("content");
  if (content != in.end() && content->is_string()) {
    out.text = content->get<std::string>();
    parts.push_back({{"type", part_type}, {"text", out.text}});
  } else if (content != in.end() && content->is_array()) {
    for (std::size_t k = 0; k < content->size(); ++k) {
      auto text = part_text((*content)[k], fmt::format("{}.content[{}]", where, k));
      if (!text) return text.take_error();
      out.text += (out.text.empty() ? "" : "\n") + *text;
      parts.push_back({{"type", part_type}, {"text", std::move(*text)}});
    }
  } else {
    return invalid_argument(where + ".content must be a string or an array of text parts", "items");
  }
  if (!utf8_is_valid(out.text)) return invalid_argument(where + ".content is not valid UTF-8", "items");
  std::string status = "completed";
  if (auto s = in.find("status"); s != in.end()) {
    if (!s->is_string() || (*s != "completed" && *s != "incomplete" && *s != "in_progress")) {
      return invalid_argument(where + ".status must be completed, incomplete or in_progress", "items");
    }
    status = s->get<std::string>();
  }
  json body = {{"type", "message"}, {"role", out.role}, {"status", status}, {"content", std::move(parts)}};
  if (auto h = in.find("hearth"); h != in.end() && !h->is_null()) {
    if (!h->is_object()) return invalid_argument(where + ".hearth must be an object", "items");
    if (dump(*h).size() > kMaxHearthBytes) {
      return invalid_argument(fmt::format("{}.hearth is over {} KB", where, kMaxHearthBytes / 1024), "items");
    }
    body["hearth"] = *h;
  }
  out.body_json = dump(body);
  return out;
}

}  // namespace

Result<std::vector<NewItem>> items_of(const json& body) {
  std::vector<NewItem> out;
  auto it = body.find("items");
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_array()) return invalid_argument("'items' must be an array of message items", "items");
  if (it->size() > kMaxItemsPerRequest) {
    return invalid_argument(fmt::format("at most {} items per request", kMaxItemsPerRequest), "items");
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto item = item_of((*it)[i], i);
    if (!item) return item.take_error();
    out.push_back(std::move(*item));
  }
  return out;
}


}  // namespace hearth::conversations
