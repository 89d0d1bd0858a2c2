// ErrorCode -> HTTP status, and the OpenAI-style error body.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "core/utf8.h"
#include "server/error_mapping.h"

using namespace hearth;
using json = nlohmann::json;

namespace {

std::vector<std::pair<std::string, std::string>> headers_named(const HttpResponse& r, const std::string& name) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : r.headers) {
    if (h.first == name) out.push_back(h);
  }
  return out;
}

}  // namespace

TEST(ErrorMapping, EveryCodeMapsToItsHttpStatus) {
  EXPECT_EQ(http_status(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(http_status(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorCode::kPayloadTooLarge), 413);
  EXPECT_EQ(http_status(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(http_status(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(http_status(ErrorCode::kDeadlineExceeded), 504);
  EXPECT_EQ(http_status(ErrorCode::kCancelled), 499);  // nginx's "client closed request"
  EXPECT_EQ(http_status(ErrorCode::kInternal), 500);
}

TEST(ErrorMapping, EveryCodeHasAnOpenAIType) {
  EXPECT_STREQ(openai_error_type(ErrorCode::kInvalidArgument), "invalid_request_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kUnauthenticated), "authentication_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kPermissionDenied), "permission_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kNotFound), "not_found_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kPayloadTooLarge), "invalid_request_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kResourceExhausted), "rate_limit_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kUnavailable), "unavailable_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kDeadlineExceeded), "timeout_error");
  EXPECT_STREQ(openai_error_type(ErrorCode::kInternal), "server_error");
}

TEST(ErrorMapping, ResponseStatusMatchesForEveryCode) {
  for (ErrorCode c : {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
                      ErrorCode::kNotFound, ErrorCode::kPayloadTooLarge, ErrorCode::kResourceExhausted,
                      ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded, ErrorCode::kCancelled,
                      ErrorCode::kInternal}) {
    const HttpResponse r = error_response(Error(c, "m"));
    SCOPED_TRACE(error_code_name(c));
    EXPECT_EQ(r.status, http_status(c));
    EXPECT_EQ(r.content_type, "application/json");
    const json body = json::parse(r.body);
    EXPECT_EQ(body["error"]["type"], openai_error_type(c));
    EXPECT_EQ(body["error"]["code"], error_code_name(c));
  }
}

TEST(ErrorMapping, BodyHasTheOpenAIShape) {
  const HttpResponse r = error_response(invalid_argument("'temperature' is bad", "temperature"));
  EXPECT_EQ(r.status, 400);
  const json body = json::parse(r.body);
  ASSERT_TRUE(body.is_object());
  ASSERT_EQ(body.size(), 1u);
  ASSERT_TRUE(body.contains("error"));
  const json& e = body["error"];
  ASSERT_TRUE(e.is_object());
  EXPECT_EQ(e.size(), 4u);
  EXPECT_EQ(e["message"], "'temperature' is bad");
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_EQ(e["param"], "temperature");
  EXPECT_EQ(e["code"], "invalid_argument");
  EXPECT_TRUE(headers_named(r, "Retry-After").empty());
}

TEST(ErrorMapping, EmptyParamIsNull) {
  const json body = json::parse(error_body(not_found("no such model")));
  ASSERT_TRUE(body["error"].contains("param"));
  EXPECT_TRUE(body["error"]["param"].is_null());
  EXPECT_EQ(body["error"]["message"], "no such model");
  EXPECT_EQ(body["error"]["type"], "not_found_error");
  EXPECT_EQ(body["error"]["code"], "not_found");
}

TEST(ErrorMapping, TypeOverrideBecomesTheCode) {
  Error e = invalid_argument("the prompt is too long", "messages");
  e.type_override = "context_length_exceeded";
  const json body = json::parse(error_body(e));
  EXPECT_EQ(body["error"]["code"], "context_length_exceeded");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error") << "type is still derived from the ErrorCode";
  EXPECT_EQ(body["error"]["param"], "messages");
}

TEST(ErrorMapping, RetryAfterHeaderWhenSet) {
  const HttpResponse busy = error_response(resource_exhausted("queue full", 3));
  EXPECT_EQ(busy.status, 429);
  EXPECT_THAT(headers_named(busy, "Retry-After"), ::testing::ElementsAre(std::make_pair(std::string("Retry-After"), std::string("3"))));

  const HttpResponse down = error_response(unavailable("loading", 15));
  EXPECT_EQ(down.status, 503);
  EXPECT_THAT(headers_named(down, "Retry-After"), ::testing::ElementsAre(std::make_pair(std::string("Retry-After"), std::string("15"))));

  EXPECT_TRUE(headers_named(error_response(unavailable("down")), "Retry-After").empty()) << "retry_after_s = 0";
  Error neg = internal_error("x");
  neg.retry_after_s = -1;
  EXPECT_TRUE(headers_named(error_response(neg), "Retry-After").empty());
}

TEST(ErrorMapping, InvalidUtf8IsSanitized) {
  const std::string bad_msg = std::string("bad byte \xff here and truncated \xE4\xBD");
  const std::string bad_param = std::string("messages[0].\xC3");
  ASSERT_FALSE(utf8_is_valid(bad_msg));
  const HttpResponse r = error_response(invalid_argument(bad_msg, bad_param));
  EXPECT_EQ(r.status, 400);
  ASSERT_TRUE(utf8_is_valid(r.body));
  json body;
  ASSERT_NO_THROW(body = json::parse(r.body));
  const std::string msg = body["error"]["message"];
  EXPECT_TRUE(utf8_is_valid(msg));
  EXPECT_THAT(msg, ::testing::HasSubstr("bad byte \xEF\xBF\xBD here"));  // U+FFFD
  const std::string param = body["error"]["param"];
  EXPECT_TRUE(utf8_is_valid(param));
  EXPECT_THAT(param, ::testing::StartsWith("messages[0]."));
}

TEST(ErrorMapping, ValidUtf8AndSpecialCharactersSurviveRoundTrip) {
  const std::string msg = "quote \" backslash \\ newline \n tab \t 你好 🌍 \x01";
  const json body = json::parse(error_body(invalid_argument(msg)));
  EXPECT_EQ(body["error"]["message"], msg);
}
