#include "server/multipart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace hearth {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parameters of a header value: `type; a=b; c="d e"` -> lower-cased name -> value (quotes removed,
// backslash escapes resolved). Returns false on an unterminated quoted string.
bool header_params(std::string_view v, std::vector<std::pair<std::string, std::string>>& out) {
  std::size_t i = v.find(';');
  while (i != std::string_view::npos && i < v.size()) {
    ++i;
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    const std::size_t eq = v.find('=', i);
    if (eq == std::string_view::npos) return true;
    std::string name = lower(trim(v.substr(i, eq - i)));
    i = eq + 1;
    std::string value;
    if (i < v.size() && v[i] == '"') {
      ++i;
      bool closed = false;
      while (i < v.size()) {
        if (v[i] == '\\' && i + 1 < v.size()) {
          value += v[i + 1];
          i += 2;
        } else if (v[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          value += v[i++];
        }
      }
      if (!closed) return false;
      i = v.find(';', i);
    } else {
      const std::size_t end = std::min(v.find(';', i), v.size());
      value = std::string(trim(v.substr(i, end - i)));
      i = end;
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

Status parse_part_headers(std::string_view head, FormPart& part, std::size_t index) {
  bool disposition = false;
  while (!head.empty()) {
    const std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return invalid_argument(fmt::format("multipart part {} has a header line without ':'", index), "body");
    }
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      if (lower(value.substr(0, value.find(';'))) != "form-data") {
        return invalid_argument(fmt::format("multipart part {} is not form-data", index), "body");
      }
      std::vector<std::pair<std::string, std::string>> params;
      if (!header_params(value, params)) {
        return invalid_argument(fmt::format("multipart part {} has an unterminated quoted parameter", index), "body");
      }
      for (auto& [k, v] : params) {
        if (k == "name") part.name = std::move(v);
        if (k == "filename") part.filename = std::move(v);
      }
      disposition = true;
    } else if (name == "content-type") {
      part.content_type = std::string(value);
    }
  }
  if (!disposition || part.name.empty()) {
    return invalid_argument(fmt::format("multipart part {} has no Content-Disposition name", index), "body");
  }
  return {};
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  const std::string type = lower(trim(content_type.substr(0, content_type.find(';'))));
  if (type != "multipart/form-data") {
    return invalid_argument(fmt::format("expected Content-Type multipart/form-data, got '{}'",
                                        std::string(content_type.substr(0, 80))), "Content-Type");
  }
  std::vector<std::pair<std::string, std::string>> params;
  if (!header_params(content_type, params)) {
    return invalid_argument("Content-Type has an unterminated quoted parameter", "Content-Type");
  }
  for (auto& [k, v] : params) {
    if (k != "boundary") continue;
    if (v.empty() || v.size() > 70) return invalid_argument("the multipart boundary must be 1-70 characters", "Content-Type");
    return v;
  }
  return invalid_argument("multipart/form-data Content-Type has no boundary", "Content-Type");
}

Result<std::vector<FormPart>> parse_multipart(std::string_view body, std::string_view boundary, std::size_t max_parts) {
  const std::string delim = "--" + std::string(boundary);
  // The first delimiter may open the body or follow a preamble line.
  std::size_t pos;
  if (body.substr(0, delim.size()) == delim) {
    pos = delim.size();
  } else {
    pos = body.find("\r\n" + delim);
    if (pos == std::string_view::npos) return invalid_argument("multipart body does not contain its boundary", "body");
    pos += 2 + delim.size();
  }
  const std::string next = "\r\n" + delim;
  std::vector<FormPart> parts;
  while (true) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    // Transport padding, then CRLF.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") return invalid_argument("multipart delimiter is not followed by CRLF", "body");
    pos += 2;
    if (parts.size() == max_parts) return invalid_argument(fmt::format("more than {} multipart parts", max_parts), "body");
    const std::size_t head_end = body.find("\r\n\r\n", pos);
    const std::size_t end = body.find(next, pos);
    if (end == std::string_view::npos) return invalid_argument("multipart body ends without its closing boundary", "body");
    FormPart part;
    std::string_view content;
    if (end == pos) {  // the next delimiter at once: not even the blank line after headers
      return invalid_argument(fmt::format("multipart part {} has no Content-Disposition name", parts.size()), "body");
    }
    // The content starts after the blank line; the delimiter's CRLF may be that blank line's
    // (empty content), so never read before `start`.
    auto between = [&](std::size_t start) { return end > start ? body.substr(start, end - start) : std::string_view(); };
    if (body.substr(pos, 2) == "\r\n") {  // no headers at all
      content = between(pos + 2);
    } else {
      if (head_end == std::string_view::npos || head_end > end) {
        return invalid_argument(fmt::format("multipart part {} has no blank line after its headers", parts.size()), "body");
      }
      HEARTH_TRY(parse_part_headers(body.substr(pos, head_end - pos), part, parts.size()));
      content = between(head_end + 4);
    }
    if (part.name.empty()) {
      return invalid_argument(fmt::format("multipart part {} has no Content-Disposition name", parts.size()), "body");
    }
    part.body = std::string(content);
    parts.push_back(std::move(part));
    pos = end + next.size();
  }
}

const FormPart* find_part(const std::vector<FormPart>& parts, std::string_view name) {
  for (const auto& p : parts) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace hearth
