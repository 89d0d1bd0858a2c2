#include "server/error_mapping.h"

#include <nlohmann/json.hpp>

#include "core/utf8.h"

namespace hearth {

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kPayloadTooLarge: return 413;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kDeadlineExceeded: return 504;
    case ErrorCode::kCancelled: return 499;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

const char* openai_error_type(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_request_error";
    case ErrorCode::kUnauthenticated: return "authentication_error";
    case ErrorCode::kPermissionDenied: return "permission_error";
    case ErrorCode::kNotFound: return "not_found_error";
    case ErrorCode::kPayloadTooLarge: return "invalid_request_error";
    case ErrorCode::kResourceExhausted: return "rate_limit_error";
    case ErrorCode::kUnavailable: return "unavailable_error";
    case ErrorCode::kDeadlineExceeded: return "timeout_error";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kInternal: return "server_error";
  }
  return "server_error";
}

std::string error_body(const Error& e) {
  nlohmann::json err = {
      {"message", utf8_sanitize(e.message)},
      {"type", openai_error_type(e.code)},
      {"param", e.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(utf8_sanitize(e.param))},
      {"code", e.type_override.empty() ? nlohmann::json(error_code_name(e.code)) : nlohmann::json(e.type_override)},
  };
  return nlohmann::json{{"error", err}}.dump();
}

HttpResponse error_response(const Error& e) {
  HttpResponse r;
  r.status = http_status(e.code);
  r.body = error_body(e);
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  if (e.code == ErrorCode::kUnauthenticated) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hearth\"");
  return r;
}

}  // namespace hearth
