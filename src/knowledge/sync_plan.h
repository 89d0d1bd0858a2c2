// Incremental re-indexing decisions (issue #3), kept apart from I/O so they can be tested alone.
//
// Documents: a source's current listing against what the store holds, by URI and content hash:
// new URIs are added, changed hashes are re-indexed, missing URIs are removed, the rest is left
// alone. Chunks: when a changed document is re-chunked, a new chunk whose text hash matches a
// stored chunk of that document reuses its vector; only the others are embedded.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace hearth::knowledge {

struct SourceDoc {
  std::string uri;           // file path or URL, unique within a source
  std::string content_hash;  // of the raw bytes
};

struct StoredDoc {
  std::int64_t id = 0;
  std::string uri;
  std::string content_hash;
};

struct SyncPlan {
  std::vector<SourceDoc> added;
  std::vector<std::pair<StoredDoc, SourceDoc>> changed;  // stored, current
  std::vector<StoredDoc> removed;
  std::size_t unchanged = 0;
};

// Fails (invalid_argument) if `current` names a URI twice. Lists come out sorted by URI.
Result<SyncPlan> plan_sync(std::span<const StoredDoc> stored, std::span<const SourceDoc> current);

struct StoredChunk {
  std::int64_t id = 0;
  std::string text_hash;
};

struct ChunkPlan {
  std::vector<std::size_t> embed;                        // indices of new chunks that need vectors
  std::vector<std::pair<std::size_t, std::int64_t>> reuse;  // new chunk index, stored chunk id
  std::vector<std::int64_t> drop;                        // stored chunks no new chunk reuses
};

// Each stored chunk is reused at most once (identical chunks pair up in order).
ChunkPlan plan_chunks(std::span<const StoredChunk> stored, std::span<const std::string> new_hashes);

}  // namespace hearth::knowledge
