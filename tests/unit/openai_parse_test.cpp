// The OpenAI request parsers: a table of malformed requests (tests/data/malformed_requests.json,
// shared with the integration tests) that must each be rejected with the right status, message and
// param, plus positive tests that valid requests parse into the right typed values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "server/error_mapping.h"
#include "server/openai_types.h"

using namespace hearth;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- locating and loading the table ----

std::vector<fs::path> data_dir_candidates() {
  std::vector<fs::path> dirs;
#ifdef HEARTH_SOURCE_DIR
  dirs.emplace_back(fs::path(HEARTH_SOURCE_DIR) / "tests" / "data");
#endif
  if (const char* env = std::getenv("HEARTH_SOURCE_DIR"); env && *env) dirs.emplace_back(fs::path(env) / "tests" / "data");
  dirs.emplace_back("../../tests/data");
  dirs.emplace_back("../tests/data");
  dirs.emplace_back("tests/data");
  // This file is tests/unit/openai_parse_test.cpp; CMake compiles it by absolute path.
  dirs.emplace_back(fs::path(__FILE__).parent_path().parent_path() / "data");
  return dirs;
}

fs::path find_data_file(const std::string& name) {
  for (const auto& dir : data_dir_candidates()) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) return dir / name;
  }
  return {};
}

struct MalformedCase {
  std::string name;
  std::string endpoint;
  std::string body;
  int status = 0;
  std::string message;
  bool has_param = false;
  std::string param;
};

// Failure messages show the case's name instead of a byte dump.
void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

// Loaded once, at registration time. An empty result makes TableIsPresentAndWellFormed fail.
const std::vector<MalformedCase>& malformed_cases() {
  static const std::vector<MalformedCase> cases = [] {
    std::vector<MalformedCase> out;
    const fs::path path = find_data_file("malformed_requests.json");
    if (path.empty()) return out;
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const json table = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (!table.is_array()) return out;
    for (const auto& row : table) {
      MalformedCase c;
      c.name = row.value("name", "");
      c.endpoint = row.value("endpoint", "");
      c.body = row.value("body", "");
      c.status = row.value("status", 0);
      c.message = row.value("message", "");
      if (auto p = row.find("param"); p != row.end() && p->is_string()) {
        c.has_param = true;
        c.param = p->get<std::string>();
      }
      out.push_back(std::move(c));
    }
    return out;
  }();
  return cases;
}

// Runs the same path the HTTP handlers run: the body parser, then the endpoint's parser.
Status parse_for_endpoint(const std::string& endpoint, const std::string& body) {
  auto j = parse_json_body(body);
  if (!j) return j.take_error();
  if (endpoint == "/v1/chat/completions") {
    auto r = parse_chat_request(*j);
    if (!r) return r.take_error();
  } else if (endpoint == "/v1/completions") {
    auto r = parse_completion_request(*j);
    if (!r) return r.take_error();
  } else if (endpoint == "/v1/embeddings") {
    auto r = parse_embedding_request(*j);
    if (!r) return r.take_error();
  } else if (endpoint == "/v1/knowledge/search") {
    auto r = parse_knowledge_request(*j, "", true);
    if (!r) return r.take_error();
  } else {
    return internal_error("unknown endpoint in the test table: " + endpoint);
  }
  return {};
}

}  // namespace

// ---- the malformed-request table ----

TEST(OpenAIParseTable, TableIsPresentAndWellFormed) {
  const auto& cases = malformed_cases();
  ASSERT_FALSE(find_data_file("malformed_requests.json").empty())
      << "tests/data/malformed_requests.json not found; set HEARTH_SOURCE_DIR to the source tree";
  ASSERT_GE(cases.size(), 40u);
  std::set<std::string> names;
  std::set<std::string> endpoints;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(c.name.empty());
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate name " << c.name;
    EXPECT_TRUE(c.endpoint == "/v1/chat/completions" || c.endpoint == "/v1/completions" ||
                c.endpoint == "/v1/embeddings" || c.endpoint == "/v1/knowledge/search")
        << c.endpoint;
    endpoints.insert(c.endpoint);
    EXPECT_LT(c.body.size(), 4096u);
    EXPECT_FALSE(c.message.empty());
    EXPECT_EQ(c.status, 400);
  }
  EXPECT_EQ(endpoints.size(), 4u) << "every endpoint should have malformed cases";
}

class OpenAIParseMalformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(OpenAIParseMalformed, IsRejected) {
  const MalformedCase& c = GetParam();
  SCOPED_TRACE("body: " + c.body);
  const Status st = parse_for_endpoint(c.endpoint, c.body);
  ASSERT_FALSE(st.ok()) << c.name << " was accepted";
  const Error& e = st.error();
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(http_status(e.code), c.status);
  EXPECT_THAT(e.message, ::testing::HasSubstr(c.message));
  if (c.has_param) {
    EXPECT_EQ(e.param, c.param);
  } else {
    EXPECT_EQ(e.param, "") << "a null param in the table means the error names no field";
  }
  // The error body the server sends is valid JSON and carries the same status/param.
  const HttpResponse resp = error_response(e);
  EXPECT_EQ(resp.status, c.status);
  const json body = json::parse(resp.body);
  if (c.has_param) {
    EXPECT_EQ(body["error"]["param"], c.param);
  } else {
    EXPECT_TRUE(body["error"]["param"].is_null());
  }
}

INSTANTIATE_TEST_SUITE_P(Table, OpenAIParseMalformed, ::testing::ValuesIn(malformed_cases()),
                         [](const ::testing::TestParamInfo<MalformedCase>& tp) {
                           std::string n;
                           for (char ch : tp.param.name) {
                             n += (std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_');
                           }
                           return n.empty() ? std::to_string(tp.index) : n;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OpenAIParseMalformed);

// ---- valid requests ----

namespace {

ChatCompletionRequest parse_chat_ok(const std::string& body) {
  auto j = parse_json_body(body);
  EXPECT_TRUE(j.ok()) << (j.ok() ? "" : j.error().message);
  if (!j) return {};
  auto r = parse_chat_request(*j);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r) return {};
  return std::move(r).value();
}

}  // namespace

TEST(OpenAIParseChat, FullRequestParsesIntoTypedValues) {
  const json schema = {{"type", "object"},
                       {"properties", {{"a", {{"type", "integer"}}}}},
                       {"required", json::array({"a"})}};
  const json body = {
      {"model", "qwen3"},
      {"messages",
       json::array({
           {{"role", "developer"}, {"content", "be brief"}},
           {{"role", "user"},
            {"content", json::array({{{"type", "text"}, {"text", "first"}}, {{"type", "text"}, {"text", "second"}}})},
            {"name", "alice"}},
           {{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", "thinking"}},
           {{"role", "tool"}, {"content", "42"}, {"tool_call_id", "call_1"}},
       })},
      {"stream", true},
      {"stream_options", {{"include_usage", true}}},
      {"max_tokens", 10},
      {"max_completion_tokens", 20},
      {"stop", json::array({"END", "\n\n"})},
      {"temperature", 0.5},
      {"top_p", 0.9},
      {"top_k", 7},
      {"min_p", 0.1},
      {"presence_penalty", 0.5},
      {"frequency_penalty", -0.5},
      {"repeat_penalty", 1.1},
      {"seed", 1234},
      {"logit_bias", {{"15", -100}, {"7", 2.5}}},
      {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "thing"}, {"schema", schema}}}}},
      {"user", "user-1"},
      {"n", 1},
      {"logprobs", false},
      {"tools", json::array()},
      {"chat_template_kwargs", {{"enable_thinking", false}}},
  };
  const ChatCompletionRequest r = parse_chat_ok(body.dump());

  const GenerationOptions& g = r.gen;
  EXPECT_EQ(g.model, "qwen3");
  EXPECT_TRUE(g.stream);
  EXPECT_TRUE(g.include_usage);
  ASSERT_TRUE(g.max_tokens.has_value());
  EXPECT_EQ(*g.max_tokens, 20) << "max_completion_tokens wins over max_tokens";
  EXPECT_THAT(g.stop, ::testing::ElementsAre("END", "\n\n"));
  EXPECT_EQ(g.user, "user-1");

  const SamplingOverrides& s = g.sampling;
  ASSERT_TRUE(s.temperature && s.top_p && s.top_k && s.min_p && s.presence_penalty && s.frequency_penalty &&
              s.repeat_penalty && s.seed);
  EXPECT_FLOAT_EQ(*s.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*s.top_p, 0.9f);
  EXPECT_EQ(*s.top_k, 7);
  EXPECT_FLOAT_EQ(*s.min_p, 0.1f);
  EXPECT_FLOAT_EQ(*s.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(*s.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(*s.repeat_penalty, 1.1f);
  EXPECT_EQ(*s.seed, 1234u);
  using Bias = std::pair<Token, float>;
  EXPECT_THAT(s.logit_bias, ::testing::UnorderedElementsAre(Bias{15, -100.0f}, Bias{7, 2.5f}));

  EXPECT_EQ(g.response_format.type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(json::parse(g.response_format.schema), schema);

  EXPECT_FALSE(r.enable_thinking);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].role, "system") << "developer maps to system";
  EXPECT_EQ(r.messages[0].content, "be brief");
  EXPECT_EQ(r.messages[1].role, "user");
  EXPECT_EQ(r.messages[1].content, "first\nsecond") << "text parts are joined";
  EXPECT_EQ(r.messages[1].name, "alice");
  EXPECT_EQ(r.messages[2].role, "assistant");
  EXPECT_EQ(r.messages[2].content, "") << "assistant content may be null";
  EXPECT_EQ(r.messages[2].reasoning_content, "thinking");
  EXPECT_EQ(r.messages[3].role, "tool");
  EXPECT_EQ(r.messages[3].content, "42");
  EXPECT_EQ(r.messages[3].tool_call_id, "call_1");
}

TEST(OpenAIParseChat, MinimalRequestHasDefaults) {
  const ChatCompletionRequest r = parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content, "hi");
  EXPECT_EQ(r.gen.model, "");
  EXPECT_FALSE(r.gen.stream);
  EXPECT_FALSE(r.gen.include_usage);
  EXPECT_FALSE(r.gen.max_tokens.has_value()) << "chat has no default max_tokens";
  EXPECT_TRUE(r.gen.stop.empty());
  EXPECT_FALSE(r.gen.sampling.temperature || r.gen.sampling.top_p || r.gen.sampling.top_k || r.gen.sampling.min_p ||
               r.gen.sampling.seed);
  EXPECT_TRUE(r.gen.sampling.logit_bias.empty());
  EXPECT_EQ(r.gen.response_format.type, ResponseFormat::Type::kText);
  EXPECT_TRUE(r.enable_thinking);
}

TEST(OpenAIParseChat, NullOptionalFieldsAreIgnored) {
  const ChatCompletionRequest r = parse_chat_ok(
      R"({"messages":[{"role":"user","content":"hi"}],"model":null,"stream":null,"temperature":null,"stop":null,)"
      R"("seed":null,"logit_bias":null,"response_format":null,"max_tokens":null,"tools":null,"n":null})");
  EXPECT_FALSE(r.gen.stream);
  EXPECT_FALSE(r.gen.sampling.temperature.has_value());
  EXPECT_FALSE(r.gen.sampling.seed.has_value());
  EXPECT_FALSE(r.gen.max_tokens.has_value());
  EXPECT_TRUE(r.gen.stop.empty());
}

TEST(OpenAIParseChat, StopAsSingleString) {
  const ChatCompletionRequest r = parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"stop":"###"})");
  EXPECT_THAT(r.gen.stop, ::testing::ElementsAre("###"));
}

TEST(OpenAIParseChat, SixteenStopsAreAccepted) {
  json stops = json::array();
  for (int i = 0; i < 16; ++i) stops.push_back(std::string(1, static_cast<char>('a' + i)));
  const ChatCompletionRequest r =
      parse_chat_ok(json{{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}, {"stop", stops}}.dump());
  EXPECT_EQ(r.gen.stop.size(), 16u);
}

TEST(OpenAIParseChat, MaxTokensAloneAndIntegralFloat) {
  EXPECT_EQ(parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":12})").gen.max_tokens, 12);
  EXPECT_EQ(parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":5.0})").gen.max_tokens, 5);
}

TEST(OpenAIParseChat, ResponseFormatJsonObjectAndText) {
  EXPECT_EQ(parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}})")
                .gen.response_format.type,
            ResponseFormat::Type::kJsonObject);
  EXPECT_EQ(parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"}})")
                .gen.response_format.type,
            ResponseFormat::Type::kText);
}

TEST(OpenAIParseChat, SeedIsReducedTo32Bits) {
  EXPECT_EQ(parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"seed":-1})").gen.sampling.seed, 0xffffffffu);
  EXPECT_EQ(parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"seed":4294967298})").gen.sampling.seed, 2u);
}

TEST(OpenAIParseChat, BoundaryValuesAreAccepted) {
  const ChatCompletionRequest r = parse_chat_ok(
      R"({"messages":[{"role":"user","content":"hi"}],"temperature":2,"top_p":1,"top_k":0,"min_p":0,)"
      R"("presence_penalty":-2,"frequency_penalty":2,"logit_bias":{"0":-100,"2147483647":100},"max_tokens":16777216})");
  EXPECT_FLOAT_EQ(*r.gen.sampling.temperature, 2.0f);
  EXPECT_FLOAT_EQ(*r.gen.sampling.top_p, 1.0f);
  EXPECT_EQ(*r.gen.sampling.top_k, 0);
  EXPECT_EQ(r.gen.max_tokens, 16777216);
  EXPECT_EQ(r.gen.sampling.logit_bias.size(), 2u);
}

TEST(OpenAIParseCompletion, TokenIdPrompt) {
  auto j = parse_json_body(R"({"model":"m","prompt":[1,2,3],"echo":true,"max_tokens":4,"stop":["x"]})");
  ASSERT_TRUE(j.ok());
  auto r = parse_completion_request(*j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->gen.model, "m");
  EXPECT_THAT(r->prompt_tokens, ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(r->prompt, "");
  EXPECT_TRUE(r->echo);
  EXPECT_EQ(r->gen.max_tokens, 4);
  EXPECT_THAT(r->gen.stop, ::testing::ElementsAre("x"));
}

TEST(OpenAIParseCompletion, TextPromptDefaultsMaxTokensTo16) {
  auto j = parse_json_body(R"({"prompt":"Once upon a time"})");
  ASSERT_TRUE(j.ok());
  auto r = parse_completion_request(*j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->prompt, "Once upon a time");
  EXPECT_TRUE(r->prompt_tokens.empty());
  EXPECT_FALSE(r->echo);
  EXPECT_EQ(r->gen.max_tokens, 16);
}

TEST(OpenAIParseCompletion, ArrayWithOneStringPrompt) {
  auto j = parse_json_body(R"({"prompt":["hello"],"suffix":null})");
  ASSERT_TRUE(j.ok());
  auto r = parse_completion_request(*j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->prompt, "hello");
  EXPECT_TRUE(r->prompt_tokens.empty());
}

TEST(OpenAIParseEmbedding, StringsWithBase64) {
  auto j = parse_json_body(R"({"model":"e","input":["a","b c"],"encoding_format":"base64","user":"u"})");
  ASSERT_TRUE(j.ok());
  auto r = parse_embedding_request(*j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "e");
  EXPECT_THAT(r->texts, ::testing::ElementsAre("a", "b c"));
  EXPECT_TRUE(r->token_inputs.empty());
  EXPECT_TRUE(r->base64);
  EXPECT_EQ(r->user, "u");
}

TEST(OpenAIParseEmbedding, SingleStringDefaultsToFloat) {
  auto j = parse_json_body(R"({"input":"hello","encoding_format":"float"})");
  ASSERT_TRUE(j.ok());
  auto r = parse_embedding_request(*j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(r->texts, ::testing::ElementsAre("hello"));
  EXPECT_FALSE(r->base64);
}

TEST(OpenAIParseEmbedding, TokenArrays) {
  auto j = parse_json_body(R"({"input":[[1,2],[3]]})");
  ASSERT_TRUE(j.ok());
  auto r = parse_embedding_request(*j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->texts.empty());
  ASSERT_EQ(r->token_inputs.size(), 2u);
  EXPECT_THAT(r->token_inputs[0], ::testing::ElementsAre(1, 2));
  EXPECT_THAT(r->token_inputs[1], ::testing::ElementsAre(3));
  EXPECT_FALSE(r->base64);
}

TEST(OpenAIParseEmbedding, FlatTokenArrayIsOneInput) {
  auto j = parse_json_body(R"({"input":[5,6,7]})");
  ASSERT_TRUE(j.ok());
  auto r = parse_embedding_request(*j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->token_inputs.size(), 1u);
  EXPECT_THAT(r->token_inputs[0], ::testing::ElementsAre(5, 6, 7));
}

// ---- SamplingOverrides and token checks ----

TEST(OpenAIParseSampling, ApplyOverridesOnlySetFields) {
  SamplingParams base;
  base.temperature = 0.7f;
  base.top_k = 33;
  base.top_p = 0.8f;
  base.min_p = 0.02f;
  base.repeat_penalty = 1.2f;
  base.presence_penalty = 0.1f;
  base.frequency_penalty = 0.2f;
  base.penalty_last_n = 99;
  base.logit_bias = {{3, 1.0f}};
  base.grammar = "root ::= \"x\"";

  SamplingOverrides none;
  const SamplingParams same = none.apply(base);
  EXPECT_FLOAT_EQ(same.temperature, 0.7f);
  EXPECT_EQ(same.top_k, 33);
  EXPECT_FLOAT_EQ(same.top_p, 0.8f);
  EXPECT_FLOAT_EQ(same.min_p, 0.02f);
  EXPECT_FLOAT_EQ(same.repeat_penalty, 1.2f);
  EXPECT_FLOAT_EQ(same.presence_penalty, 0.1f);
  EXPECT_FLOAT_EQ(same.frequency_penalty, 0.2f);
  EXPECT_FALSE(same.seed.has_value());
  ASSERT_EQ(same.logit_bias.size(), 1u);
  EXPECT_EQ(same.logit_bias[0].first, 3);

  SamplingOverrides some;
  some.temperature = 0.0f;
  some.top_k = 5;
  some.seed = 42;
  some.logit_bias = {{9, -5.0f}};
  const SamplingParams p = some.apply(base);
  EXPECT_FLOAT_EQ(p.temperature, 0.0f);
  EXPECT_EQ(p.top_k, 5);
  ASSERT_TRUE(p.seed.has_value());
  EXPECT_EQ(*p.seed, 42u);
  ASSERT_EQ(p.logit_bias.size(), 1u);
  EXPECT_EQ(p.logit_bias[0].first, 9);
  EXPECT_FLOAT_EQ(p.logit_bias[0].second, -5.0f);
  // Untouched fields keep the model's defaults.
  EXPECT_FLOAT_EQ(p.top_p, 0.8f);
  EXPECT_FLOAT_EQ(p.min_p, 0.02f);
  EXPECT_FLOAT_EQ(p.repeat_penalty, 1.2f);
  EXPECT_FLOAT_EQ(p.presence_penalty, 0.1f);
  EXPECT_FLOAT_EQ(p.frequency_penalty, 0.2f);
  EXPECT_EQ(p.penalty_last_n, 99);
  EXPECT_EQ(p.grammar, "root ::= \"x\"");

  SamplingOverrides rest;
  rest.top_p = 0.5f;
  rest.min_p = 0.3f;
  rest.repeat_penalty = 1.5f;
  rest.presence_penalty = -1.0f;
  rest.frequency_penalty = 1.0f;
  const SamplingParams q = rest.apply(base);
  EXPECT_FLOAT_EQ(q.top_p, 0.5f);
  EXPECT_FLOAT_EQ(q.min_p, 0.3f);
  EXPECT_FLOAT_EQ(q.repeat_penalty, 1.5f);
  EXPECT_FLOAT_EQ(q.presence_penalty, -1.0f);
  EXPECT_FLOAT_EQ(q.frequency_penalty, 1.0f);
  EXPECT_FLOAT_EQ(q.temperature, 0.7f);
  EXPECT_EQ(q.top_k, 33);
}

TEST(OpenAIParseSampling, CheckTokenIdsRejectsIdsOutsideTheVocabulary) {
  SamplingOverrides s;
  EXPECT_TRUE(check_token_ids(s, 10).ok()) << "no logit_bias: nothing to check";
  s.logit_bias = {{0, 1.0f}, {9, -1.0f}};
  EXPECT_TRUE(check_token_ids(s, 10).ok());
  s.logit_bias.emplace_back(10, 2.0f);
  const Status st = check_token_ids(s, 10);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.error().param, "logit_bias");
  EXPECT_THAT(st.error().message, ::testing::HasSubstr("token 10"));
  EXPECT_THAT(st.error().message, ::testing::HasSubstr("10 tokens"));
  EXPECT_TRUE(check_token_ids(s, 11).ok());
}

TEST(OpenAIParseSampling, ParsedLogitBiasIsCheckedAgainstVocabulary) {
  const ChatCompletionRequest r =
      parse_chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"151936":5}})");
  EXPECT_FALSE(check_token_ids(r.gen.sampling, 151936).ok());
  EXPECT_TRUE(check_token_ids(r.gen.sampling, 151937).ok());
}
