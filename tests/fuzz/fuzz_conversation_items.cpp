// Fuzzes the /v1/conversations body checks: any bytes -> JSON (when they parse) -> metadata and
// items. Must never crash; whatever is accepted must be valid UTF-8 JSON that parses back.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "conversations/items_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = nlohmann::json::parse(data, data + size, nullptr, false);
  if (body.is_discarded()) return 0;
  if (auto m = hearth::conversations::metadata_of(body)) {
    if (nlohmann::json::parse(*m, nullptr, false).is_discarded()) std::abort();
  }
  if (auto items = hearth::conversations::items_of(body)) {
    for (const auto& it : *items) {
      const auto back = nlohmann::json::parse(it.body_json, nullptr, false);
      if (!back.is_object() || back["role"] != it.role) std::abort();
    }
  }
  return 0;
}
