// libFuzzer: the multipart/form-data parser never crashes or hangs, and what it returns is made
// of the input: the first line is the Content-Type header, the rest the body.
#include <cstdint>
#include <string_view>

#include "server/multipart.h"

using namespace hearth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = in.find('\n');
  const std::string_view header = in.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  auto boundary = multipart_boundary(header);
  if (!boundary) {
    if (boundary.error().message.empty()) __builtin_trap();
    return 0;
  }
  if (boundary->empty() || boundary->size() > 70) __builtin_trap();
  auto parts = parse_multipart(body, *boundary, 16);
  if (!parts) {
    if (parts.error().message.empty() || parts.error().code != ErrorCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (parts->size() > 16) __builtin_trap();
  std::size_t total = 0;
  for (const auto& p : *parts) {
    if (p.name.empty()) __builtin_trap();
    total += p.body.size();
  }
  if (total > body.size()) __builtin_trap();
  return 0;
}
