#include "server/model_pulls.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "models/downloader.h"

namespace hearth {

struct ModelPulls::State {
  std::mutex mu;
  PullStatus status;
};

Result<PullStatus> ModelPulls::start(const ModelEntry& entry) {
  if (entry.url.empty()) {
    return invalid_argument(fmt::format("the model '{}' has no url in the catalog to download it from (add one, or copy "
                                        "the file to {})", entry.id, entry.file), "model");
  }
  std::lock_guard lock(mu_);
  auto& slot = pulls_[entry.id];
  if (slot) {
    std::lock_guard s(slot->mu);
    if (slot->status.state == "downloading") return slot->status;
  }
  slot = std::make_shared<State>();
  slot->status = {entry.id, "downloading", 0, 0, "", ""};
  DownloadOptions opt;
  opt.url = entry.url;
  opt.dest = entry.file;
  opt.expected_sha256 = entry.sha256;
  const PullStatus first = slot->status;  // before the thread may change it
  // The thread owns a reference to its state only: it may outlive this object at shutdown.
  std::thread([state = slot, opt = std::move(opt)]() mutable {
    opt.progress = [state](std::uint64_t done, std::uint64_t total) {
      std::lock_guard s(state->mu);
      state->status.done = done;
      state->status.total = total;
    };
    spdlog::info("pulling model '{}' from {}", state->status.id, opt.url);
    auto result = download_file(opt);
    std::lock_guard s(state->mu);
    if (result) {
      state->status.state = "done";
      state->status.sha256 = result->sha256;
      state->status.done = state->status.total = result->bytes;
      spdlog::info("pulled model '{}' ({} bytes)", state->status.id, result->bytes);
    } else {
      state->status.state = "failed";
      state->status.error = result.error().message;
      spdlog::warn("pulling model '{}' failed: {}", state->status.id, result.error().message);
    }
  }).detach();
  return first;
}

std::optional<PullStatus> ModelPulls::status(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = pulls_.find(id);
  if (it == pulls_.end()) return std::nullopt;
  std::lock_guard s(it->second->mu);
  return it->second->status;
}

}  // namespace hearth
