// Downloads of catalog models started from the admin area (POST /v1/admin/models/{id}/pull):
// each runs on its own thread with download_file (resume, SHA-256 check, the outbound policy),
// and its progress is kept here for GET .../pull. Only catalog entries with a `url` can be pulled,
// so an administrator's browser cannot make the server fetch an arbitrary address.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "models/catalog.h"

namespace hearth {

struct PullStatus {
  std::string id;
  std::string state;  // "downloading", "done", "failed"
  std::uint64_t done = 0, total = 0;
  std::string error, sha256;
};

class ModelPulls {
 public:
  // Starts pulling `entry` (or returns the pull already running). kInvalidArgument when the entry
  // has no url.
  Result<PullStatus> start(const ModelEntry& entry);
  std::optional<PullStatus> status(const std::string& id) const;

 private:
  struct State;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<State>> pulls_;
};

}  // namespace hearth
