// multipart/form-data (RFC 7578) bodies, as browsers, curl -F and the OpenAI SDKs send file
// uploads. Pure functions over the whole body (the transport has already bounded its size).
// Errors are invalid_argument naming what is wrong, never a crash (fuzzed).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hearth {

struct FormPart {
  std::string name;                     // Content-Disposition name
  std::optional<std::string> filename;  // Content-Disposition filename, for file parts
  std::string content_type;             // the part's Content-Type, "" when absent
  std::string body;
};

// The boundary parameter of a multipart/form-data Content-Type header.
Result<std::string> multipart_boundary(std::string_view content_type);

// Splits a body into its parts. At most `max_parts` parts.
Result<std::vector<FormPart>> parse_multipart(std::string_view body, std::string_view boundary,
                                              std::size_t max_parts = 64);

// The first part with this name, or nullptr.
const FormPart* find_part(const std::vector<FormPart>& parts, std::string_view name);

}  // namespace hearth
