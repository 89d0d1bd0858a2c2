#include "knowledge/sync_plan.h"

#include <algorithm>
#include <deque>
#include <map>

#include <fmt/format.h>

namespace hearth::knowledge {

Result<SyncPlan> plan_sync(std::span<const StoredDoc> stored, std::span<const SourceDoc> current) {
  std::map<std::string_view, const SourceDoc*> now;
  for (const SourceDoc& d : current) {
    if (!now.emplace(d.uri, &d).second) {
      return invalid_argument(fmt::format("the source lists '{}' twice", d.uri), "uri");
    }
  }
  std::map<std::string_view, const StoredDoc*> before;
  for (const StoredDoc& d : stored) before.emplace(d.uri, &d);  // a repeated stored URI: the first wins

  SyncPlan plan;
  for (const auto& [uri, doc] : now) {
    auto it = before.find(uri);
    if (it == before.end()) {
      plan.added.push_back(*doc);
    } else if (it->second->content_hash != doc->content_hash) {
      plan.changed.emplace_back(*it->second, *doc);
    } else {
      ++plan.unchanged;
    }
  }
  for (const auto& [uri, doc] : before) {
    if (!now.contains(uri)) plan.removed.push_back(*doc);
  }
  return plan;
}

ChunkPlan plan_chunks(std::span<const StoredChunk> stored, std::span<const std::string> new_hashes) {
  std::map<std::string_view, std::deque<std::int64_t>> available;
  for (const StoredChunk& c : stored) available[c.text_hash].push_back(c.id);
  ChunkPlan plan;
  for (std::size_t i = 0; i < new_hashes.size(); ++i) {
    auto it = available.find(new_hashes[i]);
    if (it != available.end() && !it->second.empty()) {
      plan.reuse.emplace_back(i, it->second.front());
      it->second.pop_front();
    } else {
      plan.embed.push_back(i);
    }
  }
  for (const auto& [hash, ids] : available) plan.drop.insert(plan.drop.end(), ids.begin(), ids.end());
  std::sort(plan.drop.begin(), plan.drop.end());
  return plan;
}

}  // namespace hearth::knowledge
