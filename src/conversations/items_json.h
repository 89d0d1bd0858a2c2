// The JSON of /v1/conversations requests, checked and normalised (no HTTP here, so that the
// parsers can be fuzzed alone): conversation metadata (a JSON object of strings) and message
// items in OpenAI's shapes (content as a string or text parts), stored as NewItems.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conversations/store.h"
#include "core/result.h"

namespace hearth::conversations {

inline constexpr std::size_t kMaxMetadataKeys = 32, kMaxMetadataKey = 64, kMaxMetadataValue = 32 * 1024;
inline constexpr std::size_t kMaxHearthBytes = 256 * 1024;  // an item's "hearth" object (usage, citations, ...)
inline constexpr std::size_t kMaxItemsPerRequest = 2000;    // an import of a long conversation

// body["metadata"] as stored JSON text ("{}" when absent); errors name the key.
Result<std::string> metadata_of(const nlohmann::json& body);
// body["items"] (absent: none); errors say which item and field.
Result<std::vector<NewItem>> items_of(const nlohmann::json& body);

}  // namespace hearth::conversations
