// The one table from ErrorCode to HTTP status and OpenAI-style error bodies:
// {"error":{"message","type","param","code"}}.
#pragma once

#include <string>

#include "core/result.h"
#include "server/http_types.h"

namespace hearth {

int http_status(ErrorCode code);
const char* openai_error_type(ErrorCode code);
std::string error_body(const Error& error);
HttpResponse error_response(const Error& error);

}  // namespace hearth
