#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/utf8.h"
#include "server/openai_types.h"

namespace hearth {
using json = nlohmann::json;
namespace {

constexpr int kMaxStops = 16;
constexpr size_t kMaxStopBytes = 256;
constexpr size_t kMaxMessages = 4096;
constexpr size_t kMaxEmbeddingInputs = 2048;
constexpr int kMaxJsonDepth = 64;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

Error wrong_type(const std::string& field, const char* want, const json& got) {
  return invalid_argument(fmt::format("'{}' must be {}, not {}", field, want, type_name(got)), field);
}

// Field readers: absent or null leaves `out` unchanged.
Status read_bool(const json& o, const char* key, bool& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_boolean()) return wrong_type(key, "a boolean", *it);
  out = it->get<bool>();
  return {};
}

Status read_string(const json& o, const char* key, std::string& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_string()) return wrong_type(key, "a string", *it);
  out = it->get<std::string>();
  return {};
}

Status read_number(const json& o, const char* key, std::optional<float>& out, double lo, double hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_number()) return wrong_type(key, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return invalid_argument(fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, v), key);
  }
  out = static_cast<float>(v);
  return {};
}

Status read_int(const json& o, const char* key, std::optional<int>& out, long long lo, long long hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  long long v = 0;
  if (it->is_number_unsigned() && it->get<unsigned long long>() > static_cast<unsigned long long>(hi)) {
    return invalid_argument(fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, it->dump()), key);
  }
  if (it->is_number_integer()) {
    v = it->get<long long>();
  } else if (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>() &&
             std::fabs(it->get<double>()) < 9e15) {
    v = static_cast<long long>(it->get<double>());
  } else {
    return wrong_type(key, "an integer", *it);
  }
  if (v < lo || v > hi) return invalid_argument(fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, v), key);
  out = static_cast<int>(v);
  return {};
}

Status parse_stop(const json& o, std::vector<std::string>& out) {
  auto it = o.find("stop");
  if (it == o.end() || it->is_null()) return {};
  auto add = [&](const json& s) -> Status {
    if (!s.is_string()) return wrong_type("stop", "a string or an array of strings", s);
    std::string v = s.get<std::string>();
    if (v.empty()) return invalid_argument("'stop' strings must not be empty", "stop");
    if (v.size() > kMaxStopBytes) return invalid_argument(fmt::format("'stop' strings are limited to {} bytes", kMaxStopBytes), "stop");
    out.push_back(std::move(v));
    return {};
  };
  if (it->is_string()) return add(*it);
  if (!it->is_array()) return wrong_type("stop", "a string or an array of strings", *it);
  if (it->size() > kMaxStops) return invalid_argument(fmt::format("'stop' takes at most {} strings", kMaxStops), "stop");
  for (const auto& s : *it) HEARTH_TRY(add(s));
  return {};
}

Status parse_logit_bias(const json& o, std::vector<std::pair<Token, float>>& out) {
  auto it = o.find("logit_bias");
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_object()) return wrong_type("logit_bias", "an object mapping token ids to biases", *it);
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    const std::string& key = kv.key();
    const bool digits = !key.empty() && key.size() <= 10 &&
                        std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    const long long id = digits ? std::stoll(key) : -1;
    if (!digits || id > std::numeric_limits<Token>::max()) {
      return invalid_argument(fmt::format("'logit_bias' keys must be token ids, got '{}'", utf8_sanitize(key)), "logit_bias");
    }
    if (!kv.value().is_number()) return wrong_type("logit_bias", "an object whose values are numbers", kv.value());
    const double b = kv.value().get<double>();
    if (!std::isfinite(b) || b < -100 || b > 100) {
      return invalid_argument(fmt::format("'logit_bias' values must be between -100 and 100, got {}", b), "logit_bias");
    }
    out.emplace_back(static_cast<Token>(id), static_cast<float>(b));
  }
  return {};
}

Status parse_response_format(const json& o, ResponseFormat& out) {
  auto it = o.find("response_format");
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_object()) return wrong_type("response_format", "an object", *it);
  std::string type;
  auto t = it->find("type");
  if (t == it->end() || !t->is_string()) {
    return invalid_argument("'response_format.type' must be one of text, json_object, json_schema", "response_format.type");
  }
  type = t->get<std::string>();
  if (type == "text") {
    out.type = ResponseFormat::Type::kText;
  } else if (type == "json_object") {
    out.type = ResponseFormat::Type::kJsonObject;
  } else if (type == "json_schema") {
    out.type = ResponseFormat::Type::kJsonSchema;
    auto js = it->find("json_schema");
    if (js == it->end() || !js->is_object()) {
      return invalid_argument("'response_format.json_schema' must be an object with a 'schema'", "response_format.json_schema");
    }
    auto schema = js->find("schema");
    if (schema == js->end() || !schema->is_object()) {
      return invalid_argument("'response_format.json_schema.schema' must be a JSON schema object",
                              "response_format.json_schema.schema");
    }
    out.schema = schema->dump();
  } else {
    return invalid_argument(fmt::format("'response_format.type' must be one of text, json_object, json_schema, not '{}'",
                                        utf8_sanitize(type)),
                            "response_format.type");
  }
  return {};
}

Status parse_generation(const json& o, GenerationOptions& g, int max_tokens_cap) {
  auto model = o.find("model");
  if (model != o.end() && !model->is_null()) {
    if (!model->is_string()) return wrong_type("model", "a string", *model);
    g.model = model->get<std::string>();
  }
  HEARTH_TRY(read_bool(o, "stream", g.stream));
  HEARTH_TRY(read_bool(o, "ignore_eos", g.ignore_eos));
  auto so = o.find("stream_options");
  if (so != o.end() && !so->is_null()) {
    if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
    auto iu = so->find("include_usage");
    if (iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean()) return wrong_type("stream_options.include_usage", "a boolean", *iu);
      g.include_usage = iu->get<bool>();
    }
  }
  std::optional<int> mt, mct;
  HEARTH_TRY(read_int(o, "max_tokens", mt, 1, max_tokens_cap));
  HEARTH_TRY(read_int(o, "max_completion_tokens", mct, 1, max_tokens_cap));
  g.max_tokens = mct ? mct : mt;
  HEARTH_TRY(parse_stop(o, g.stop));
  SamplingOverrides& s = g.sampling;
  HEARTH_TRY(read_number(o, "temperature", s.temperature, 0.0, 2.0));
  HEARTH_TRY(read_number(o, "top_p", s.top_p, 0.0, 1.0));
  HEARTH_TRY(read_number(o, "min_p", s.min_p, 0.0, 1.0));
  HEARTH_TRY(read_number(o, "presence_penalty", s.presence_penalty, -2.0, 2.0));
  HEARTH_TRY(read_number(o, "frequency_penalty", s.frequency_penalty, -2.0, 2.0));
  HEARTH_TRY(read_number(o, "repeat_penalty", s.repeat_penalty, 0.0, 10.0));
  HEARTH_TRY(read_int(o, "top_k", s.top_k, 0, 1 << 20));
  if (s.top_p && *s.top_p == 0.0f) return invalid_argument("'top_p' must be greater than 0", "top_p");
  auto seed = o.find("seed");
  if (seed != o.end() && !seed->is_null()) {
    if (seed->is_number_unsigned()) {
      s.seed = static_cast<std::uint32_t>(seed->get<unsigned long long>() & 0xffffffffULL);
    } else if (seed->is_number_integer()) {
      s.seed = static_cast<std::uint32_t>(seed->get<long long>() & 0xffffffffLL);
    } else if (seed->is_number_float() && std::floor(seed->get<double>()) == seed->get<double>() &&
               std::fabs(seed->get<double>()) < 9e15) {
      s.seed = static_cast<std::uint32_t>(static_cast<long long>(seed->get<double>()) & 0xffffffffLL);
    } else {
      return wrong_type("seed", "an integer", *seed);
    }
  }
  HEARTH_TRY(parse_logit_bias(o, s.logit_bias));
  HEARTH_TRY(parse_response_format(o, g.response_format));
  HEARTH_TRY(read_string(o, "user", g.user));
  std::optional<int> n;
  HEARTH_TRY(read_int(o, "n", n, 1, 128));
  if (n && *n != 1) return invalid_argument("only n=1 is supported", "n");
  bool logprobs = false;
  auto lp = o.find("logprobs");
  if (lp != o.end() && !lp->is_null()) {
    if (lp->is_boolean()) logprobs = lp->get<bool>();
    else if (lp->is_number_integer()) logprobs = lp->get<long long>() != 0;
    else return wrong_type("logprobs", "a boolean", *lp);
  }
  if (logprobs) return invalid_argument("'logprobs' is not supported", "logprobs");
  return {};
}

Result<std::string> message_content(const json& m, size_t i, bool allow_null) {
  const std::string field = fmt::format("messages[{}].content", i);
  auto c = m.find("content");
  if (c == m.end() || c->is_null()) {
    if (allow_null) return std::string();
    return invalid_argument(fmt::format("'{}' is required", field), field);
  }
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) return wrong_type(field, "a string or an array of content parts", *c);
  std::string text;
  for (size_t k = 0; k < c->size(); ++k) {
    const json& part = (*c)[k];
    const std::string pf = fmt::format("{}[{}]", field, k);
    if (!part.is_object()) return wrong_type(pf, "an object", part);
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) return invalid_argument(fmt::format("'{}.type' is required", pf), pf + ".type");
    if (type->get<std::string>() != "text") {
      return invalid_argument(fmt::format("'{}.type' is '{}'; only text parts are supported", pf,
                                          utf8_sanitize(type->get<std::string>())),
                              pf + ".type");
    }
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) return invalid_argument(fmt::format("'{}.text' must be a string", pf), pf + ".text");
    const std::string& piece = t->get_ref<const std::string&>();
    if (!text.empty() && !piece.empty()) text += "\n";
    text += piece;
  }
  return text;
}

Status require_object(const json& body) {
  if (!body.is_object()) return invalid_argument(fmt::format("the request body must be a JSON object, not {}", type_name(body)));
  return {};
}

}  // namespace

SamplingParams SamplingOverrides::apply(SamplingParams p) const {
  if (temperature) p.temperature = *temperature;
  if (top_p) p.top_p = *top_p;
  if (min_p) p.min_p = *min_p;
  if (top_k) p.top_k = *top_k;
  if (presence_penalty) p.presence_penalty = *presence_penalty;
  if (frequency_penalty) p.frequency_penalty = *frequency_penalty;
  if (repeat_penalty) p.repeat_penalty = *repeat_penalty;
  if (seed) p.seed = *seed;
  if (!logit_bias.empty()) p.logit_bias = logit_bias;
  return p;
}

Status check_token_ids(const SamplingOverrides& s, int n_vocab) {
  for (const auto& [tok, bias] : s.logit_bias) {
    if (tok >= n_vocab) {
      return invalid_argument(fmt::format("'logit_bias' names token {}, but the model's vocabulary has {} tokens", tok, n_vocab),
                              "logit_bias");
    }
  }
  return {};
}

// Deeply nested JSON parses fine but recursion elsewhere (serializing, walking) would exhaust the
// stack: refuse it up front. Counts brackets outside strings; the JSON parser checks the rest.
Status check_nesting(std::string_view body, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return invalid_argument(fmt::format("the request body is nested more than {} levels deep", max_depth));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return {};
}

Result<json> parse_json_body(std::string_view body) {
  if (body.empty()) return invalid_argument("the request body is empty; expected a JSON object");
  HEARTH_TRY(check_nesting(body, kMaxJsonDepth));
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    return invalid_argument(fmt::format("the request body is not valid JSON (at byte {}): {}", e.byte,
                                        utf8_sanitize(e.what())));
  } catch (const json::exception& e) {  // e.g. out_of_range: a number too large for a double
    return invalid_argument(fmt::format("the request body is not valid JSON: {}", utf8_sanitize(e.what())));
  }
}

Result<ChatCompletionRequest> parse_chat_request(const json& body) {
  HEARTH_TRY(require_object(body));
  ChatCompletionRequest r;
  HEARTH_TRY(parse_generation(body, r.gen, 1 << 24));
  auto msgs = body.find("messages");
  if (msgs == body.end() || msgs->is_null()) return invalid_argument("'messages' is required", "messages");
  if (!msgs->is_array()) return wrong_type("messages", "an array", *msgs);
  if (msgs->empty()) return invalid_argument("'messages' must contain at least one message", "messages");
  if (msgs->size() > kMaxMessages) return invalid_argument(fmt::format("'messages' is limited to {} messages", kMaxMessages), "messages");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string mf = fmt::format("messages[{}]", i);
    if (!m.is_object()) return wrong_type(mf, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return invalid_argument(fmt::format("'{}.role' must be a string", mf), mf + ".role");
    ChatMessage msg;
    msg.role = role->get<std::string>();
    if (msg.role == "developer") msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool") {
      return invalid_argument(fmt::format("'{}.role' must be system, developer, user, assistant or tool, not '{}'", mf,
                                          utf8_sanitize(msg.role)),
                              mf + ".role");
    }
    auto content = message_content(m, i, msg.role == "assistant");
    if (!content) return content.take_error();
    msg.content = std::move(*content);
    if (auto rc = m.find("reasoning_content"); rc != m.end() && !rc->is_null()) {
      if (!rc->is_string()) return wrong_type(mf + ".reasoning_content", "a string", *rc);
      msg.reasoning_content = rc->get<std::string>();
    }
    if (auto nm = m.find("name"); nm != m.end() && !nm->is_null()) {
      if (!nm->is_string()) return wrong_type(mf + ".name", "a string", *nm);
      msg.name = nm->get<std::string>();
    }
    if (auto tc = m.find("tool_call_id"); tc != m.end() && !tc->is_null()) {
      if (!tc->is_string()) return wrong_type(mf + ".tool_call_id", "a string", *tc);
      msg.tool_call_id = tc->get<std::string>();
    }
    r.messages.push_back(std::move(msg));
  }
  if (auto tools = body.find("tools"); tools != body.end() && !tools->is_null() && !(tools->is_array() && tools->empty())) {
    return invalid_argument("'tools' (function calling) is not supported yet", "tools");
  }
  if (auto k = body.find("knowledge"); k != body.end() && !k->is_null()) {
    auto kr = parse_knowledge_request(*k, "knowledge", false);
    if (!kr) return kr.take_error();
    r.knowledge = std::move(*kr);
  }
  if (auto kw = body.find("chat_template_kwargs"); kw != body.end() && !kw->is_null()) {
    if (!kw->is_object()) return wrong_type("chat_template_kwargs", "an object", *kw);
    if (auto et = kw->find("enable_thinking"); et != kw->end() && !et->is_null()) {
      if (!et->is_boolean()) return wrong_type("chat_template_kwargs.enable_thinking", "a boolean", *et);
      r.enable_thinking = et->get<bool>();
    }
  }
  return r;
}

Result<CompletionRequest> parse_completion_request(const json& body) {
  HEARTH_TRY(require_object(body));
  CompletionRequest r;
  HEARTH_TRY(parse_generation(body, r.gen, 1 << 24));
  if (!r.gen.max_tokens) r.gen.max_tokens = 16;  // OpenAI's default for completions
  HEARTH_TRY(read_bool(body, "echo", r.echo));
  auto p = body.find("prompt");
  if (p == body.end() || p->is_null()) return invalid_argument("'prompt' is required", "prompt");
  if (p->is_string()) {
    r.prompt = p->get<std::string>();
  } else if (p->is_array()) {
    if (p->empty()) return invalid_argument("'prompt' must not be an empty array", "prompt");
    if ((*p)[0].is_string()) {
      if (p->size() != 1) return invalid_argument("only one prompt per request is supported", "prompt");
      r.prompt = (*p)[0].get<std::string>();
    } else {
      for (const auto& t : *p) {
        if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() > std::numeric_limits<Token>::max()) {
          return invalid_argument("'prompt' must be a string, an array with one string, or an array of token ids", "prompt");
        }
        r.prompt_tokens.push_back(static_cast<Token>(t.get<long long>()));
      }
    }
  } else {
    return wrong_type("prompt", "a string or an array", *p);
  }
  if (r.prompt.empty() && r.prompt_tokens.empty()) return invalid_argument("'prompt' must not be empty", "prompt");
  if (auto s = body.find("suffix"); s != body.end() && !s->is_null()) {
    return invalid_argument("'suffix' (fill-in-the-middle) is not supported", "suffix");
  }
  return r;
}

Result<EmbeddingRequest> parse_embedding_request(const json& body) {
  HEARTH_TRY(require_object(body));
  EmbeddingRequest r;
  HEARTH_TRY(read_string(body, "model", r.model));
  HEARTH_TRY(read_string(body, "user", r.user));
  std::string fmt_name = "float";
  HEARTH_TRY(read_string(body, "encoding_format", fmt_name));
  if (fmt_name != "float" && fmt_name != "base64") {
    return invalid_argument(fmt::format("'encoding_format' must be float or base64, not '{}'", utf8_sanitize(fmt_name)),
                            "encoding_format");
  }
  r.base64 = fmt_name == "base64";
  if (auto d = body.find("dimensions"); d != body.end() && !d->is_null()) {
    return invalid_argument("'dimensions' is not supported: the model's embedding size is fixed", "dimensions");
  }
  auto in = body.find("input");
  if (in == body.end() || in->is_null()) return invalid_argument("'input' is required", "input");
  auto token_list = [&](const json& a, size_t idx) -> Result<std::vector<Token>> {
    std::vector<Token> toks;
    for (const auto& t : a) {
      if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() > std::numeric_limits<Token>::max()) {
        return invalid_argument(fmt::format("'input[{}]' must contain only token ids", idx), "input");
      }
      toks.push_back(static_cast<Token>(t.get<long long>()));
    }
    if (toks.empty()) return invalid_argument(fmt::format("'input[{}]' is empty", idx), "input");
    return toks;
  };
  if (in->is_string()) {
    if (in->get_ref<const std::string&>().empty()) return invalid_argument("'input' must not be empty", "input");
    r.texts.push_back(in->get<std::string>());
  } else if (in->is_array()) {
    if (in->empty()) return invalid_argument("'input' must not be an empty array", "input");
    if (in->size() > kMaxEmbeddingInputs) {
      return invalid_argument(fmt::format("'input' is limited to {} items", kMaxEmbeddingInputs), "input");
    }
    if ((*in)[0].is_number_integer()) {
      auto toks = token_list(*in, 0);
      if (!toks) return toks.take_error();
      r.token_inputs.push_back(std::move(*toks));
    } else {
      for (size_t i = 0; i < in->size(); ++i) {
        const json& item = (*in)[i];
        if (item.is_string()) {
          if (!r.token_inputs.empty()) return invalid_argument("'input' must not mix strings and token arrays", "input");
          if (item.get_ref<const std::string&>().empty()) {
            return invalid_argument(fmt::format("'input[{}]' must not be empty", i), "input");
          }
          r.texts.push_back(item.get<std::string>());
        } else if (item.is_array()) {
          if (!r.texts.empty()) return invalid_argument("'input' must not mix strings and token arrays", "input");
          auto toks = token_list(item, i);
          if (!toks) return toks.take_error();
          r.token_inputs.push_back(std::move(*toks));
        } else {
          return wrong_type(fmt::format("input[{}]", i), "a string or an array of token ids", item);
        }
      }
    }
  } else {
    return wrong_type("input", "a string or an array", *in);
  }
  return r;
}

namespace {

// Errors from the flat field readers name the bare key; inside an object, name its path.
Error prefixed(Error e, const std::string& prefix) {
  if (prefix.empty() || e.param.empty()) return e;
  const std::string bare = "'" + e.param + "'";
  const std::string full = prefix + "." + e.param;
  if (auto at = e.message.find(bare); at != std::string::npos) e.message.replace(at, bare.size(), "'" + full + "'");
  e.param = full;
  return e;
}

Status string_list(const json& o, const char* key, const std::string& prefix, std::size_t max,
                   std::vector<std::string>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  const std::string field = prefix.empty() ? key : prefix + "." + key;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if (it->size() > max) return invalid_argument(fmt::format("'{}' takes at most {} entries", field, max), field);
    for (const json& v : *it) {
      if (!v.is_string()) return wrong_type(field, "a string or an array of strings", v);
      out.push_back(v.get<std::string>());
    }
  } else {
    return wrong_type(field, "a string or an array of strings", *it);
  }
  for (const auto& v : out) {
    if (v.empty()) return invalid_argument(fmt::format("'{}' entries must not be empty", field), field);
  }
  return {};
}

}  // namespace

Result<KnowledgeRequest> parse_knowledge_request(const json& o, const std::string& prefix, bool query_required) {
  const std::string name = prefix.empty() ? "body" : prefix;
  if (!o.is_object()) return wrong_type(name, "an object", o);
  KnowledgeRequest r;
  auto field = [&](const char* k) { return prefix.empty() ? std::string(k) : prefix + "." + k; };
  static const std::set<std::string> known = {"collections", "collection", "query", "top_k", "alpha", "rrf",
                                              "rerank", "mmr_lambda", "filter"};
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (!known.count(it.key())) {
      return invalid_argument(fmt::format("unknown field '{}'", field(it.key().c_str())), field(it.key().c_str()));
    }
  }
  HEARTH_TRY(string_list(o, "collections", prefix, 16, r.collections));
  HEARTH_TRY(string_list(o, "collection", prefix, 1, r.collections));
  if (r.collections.empty()) {
    return invalid_argument(fmt::format("'{}' is required (one or more collection names)", field("collections")),
                            field("collections"));
  }
  if (auto s = read_string(o, "query", r.query); !s) return prefixed(s.take_error(), prefix);
  if (query_required && r.query.empty()) return invalid_argument(fmt::format("'{}' is required", field("query")), field("query"));
  if (r.query.size() > 32768) return invalid_argument(fmt::format("'{}' is limited to 32768 bytes", field("query")), field("query"));
  std::optional<int> top_k;
  if (auto s = read_int(o, "top_k", top_k, 1, 50); !s) return prefixed(s.take_error(), prefix);
  if (top_k) r.top_k = *top_k;
  std::optional<float> alpha, lambda;
  if (auto s = read_number(o, "alpha", alpha, 0, 1); !s) return prefixed(s.take_error(), prefix);
  if (alpha) r.alpha = *alpha;
  if (auto s = read_number(o, "mmr_lambda", lambda, 0, 1); !s) return prefixed(s.take_error(), prefix);
  if (lambda) r.mmr_lambda = *lambda;
  if (auto s = read_bool(o, "rrf", r.rrf); !s) return prefixed(s.take_error(), prefix);
  if (auto s = read_bool(o, "rerank", r.rerank); !s) return prefixed(s.take_error(), prefix);
  if (auto f = o.find("filter"); f != o.end() && !f->is_null()) {
    const std::string fp = field("filter");
    if (!f->is_object()) return wrong_type(fp, "an object", *f);
    for (auto it = f->begin(); it != f->end(); ++it) {
      if (it.key() != "documents" && it.key() != "metadata") {
        return invalid_argument(fmt::format("unknown field '{}.{}'", fp, it.key()), fp + "." + it.key());
      }
    }
    HEARTH_TRY(string_list(*f, "documents", fp, 64, r.documents));
    if (auto m = f->find("metadata"); m != f->end() && !m->is_null()) {
      if (!m->is_object()) return wrong_type(fp + ".metadata", "an object of key: value", *m);
      if (m->size() > 32) return invalid_argument(fmt::format("'{}.metadata' takes at most 32 keys", fp), fp + ".metadata");
      for (auto it = m->begin(); it != m->end(); ++it) {
        const json& v = it.value();
        const std::string vf = fp + ".metadata." + it.key();
        if (v.is_string()) r.metadata.emplace_back(it.key(), v.get<std::string>());
        else if (v.is_number() || v.is_boolean()) r.metadata.emplace_back(it.key(), v.dump());
        else return wrong_type(vf, "a string, number or boolean", v);
      }
    }
  }
  return r;
}

}  // namespace hearth
