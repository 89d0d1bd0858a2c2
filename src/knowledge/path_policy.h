// Which server directories knowledge sources may read. A source given over the API names a path
// on the server's machine; without this check any caller could index any file the process can
// read (/etc, keys, other users' data). Paths are compared after resolving symlinks and "..", so
// neither a link inside an allowed directory nor a crafted path leads out of it.
// Thread-safety: a value; read-only after construction.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"

namespace hearth::knowledge {

class PathPolicy {
 public:
  // Any path (the operator's own command line: `hearth kb add`).
  static PathPolicy unrestricted() { return PathPolicy(false, {}); }
  // Only under these directories (absolute; canonicalised here). None: no server path at all.
  static PathPolicy under(std::vector<std::string> roots);

  bool restricted() const { return restricted_; }
  const std::vector<std::string>& roots() const { return roots_; }

  // The canonical path when `path` resolves (symlinks, "..") to a place under an allowed root;
  // kPermissionDenied naming the path and the configured roots otherwise; kInvalidArgument when
  // it does not exist.
  Result<std::filesystem::path> resolve(const std::filesystem::path& path) const;

 private:
  PathPolicy(bool restricted, std::vector<std::string> roots) : restricted_(restricted), roots_(std::move(roots)) {}
  bool restricted_ = false;
  std::vector<std::string> roots_;  // canonical, without a trailing separator
};

// True when `path` is `root` or inside it (both canonical): component-wise, so /data/docs-secret
// is not inside /data/docs.
bool path_within(const std::filesystem::path& path, const std::filesystem::path& root);

}  // namespace hearth::knowledge
