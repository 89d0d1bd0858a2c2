#include "knowledge/path_policy.h"

#include <fmt/format.h>

#include <algorithm>

namespace hearth::knowledge {
namespace fs = std::filesystem;

PathPolicy PathPolicy::under(std::vector<std::string> roots) {
  std::vector<std::string> canon;
  for (const auto& r : roots) {
    if (r.empty() || fs::path(r).is_relative()) continue;  // admits nothing (an empty root would admit all)
    std::error_code ec;
    fs::path c = fs::canonical(r, ec);
    // A root that does not exist (yet) admits nothing until it does; keep its lexical form.
    canon.push_back((ec ? fs::path(r).lexically_normal() : c).string());
  }
  return PathPolicy(true, std::move(canon));
}

bool path_within(const fs::path& path, const fs::path& root) {
  auto p = path.begin(), r = root.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

Result<fs::path> PathPolicy::resolve(const fs::path& path) const {
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  if (ec || !fs::exists(abs, ec)) {
    return invalid_argument(fmt::format("'{}' does not exist on the server", path.string()), "uri");
  }
  const fs::path canon = fs::canonical(abs, ec);
  if (ec) return invalid_argument(fmt::format("'{}' cannot be resolved: {}", path.string(), ec.message()), "uri");
  if (!restricted_) return canon;
  if (std::any_of(roots_.begin(), roots_.end(), [&](const std::string& r) { return path_within(canon, r); })) {
    return canon;
  }
  std::string allowed;
  for (const auto& r : roots_) allowed += (allowed.empty() ? "" : ", ") + r;
  Error e{ErrorCode::kPermissionDenied,
          fmt::format("'{}' is outside the server directories knowledge sources may read ({}); an operator can "
                      "add its directory to knowledge.allowed_roots",
                      path.string(), allowed.empty() ? "none are configured" : "knowledge.allowed_roots: " + allowed),
          "uri"};
  return e;
}

}  // namespace hearth::knowledge
