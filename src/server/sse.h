// Server-sent events framing, in one place. Payloads are single-line JSON, so one data: line
// per event; the stream ends with "data: [DONE]".
#pragma once

#include <string>
#include <string_view>

namespace hearth {

std::string sse_data(std::string_view payload);  // "data: <payload>\n\n"; newlines in payload split into lines
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace hearth
