#include "knowledge/url_fetcher.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace hearth::knowledge {

std::string fetched_file_name(const std::string& url, const std::string& content_type) {
  static const std::map<std::string, std::string> by_type = {
      {"text/html", ".html"}, {"application/xhtml+xml", ".html"}, {"application/pdf", ".pdf"},
      {"text/markdown", ".md"}, {"text/x-markdown", ".md"}, {"text/plain", ".txt"},
      {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"}};
  // The last path segment, without query or fragment.
  std::string path = url.substr(0, url.find_first_of("?#"));
  const std::size_t scheme = path.find("://");
  const std::size_t slash = path.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  std::string last = slash == std::string::npos ? "" : path.substr(path.rfind('/') + 1);
  if (last.empty()) last = "index";
  if (auto it = by_type.find(content_type); it != by_type.end()) {
    const std::size_t dot = last.rfind('.');
    std::string ext = dot == std::string::npos ? "" : last.substr(dot);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // text/plain is what many servers say for Markdown files: keep a .md name.
    if (it->second == ".txt" && ext == ".md") return last;
    return ext == it->second ? last : last + it->second;
  }
  if (last.find('.') != std::string::npos) return last;
  return last + ".html";
}

}  // namespace hearth::knowledge
