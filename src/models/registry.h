// ModelRegistry: which catalog models are loaded. Loads on first use (on a loader thread; the
// caller waits a bounded time), unloads the least recently used idle model when the memory budget
// would be exceeded, and unloads models idle longer than the configured time.
//
// Threading: all public methods are thread-safe. acquire() may block (up to load_wait_seconds),
// so call it off the network threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/result.h"
#include "engine/model_engine.h"
#include "models/catalog.h"

namespace hearth {

struct EvictionCandidate {
  int index = 0;
  std::uint64_t bytes = 0;
  std::int64_t last_used = 0;  // larger is more recent
  bool idle = false;           // nobody is using it
};

// Pure policy: which loaded models to unload (least recently used idle ones first) so that
// `need` more bytes fit in `budget`. Returns nullopt-like empty + false when impossible.
bool choose_evictions(std::vector<EvictionCandidate> loaded, std::uint64_t budget, std::uint64_t need,
                      std::vector<int>& out);

class ModelRegistry {
 public:
  explicit ModelRegistry(const Config& config);
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // `name` is an id or alias; empty means the configured default.
  Result<std::shared_ptr<ModelEngine>> acquire(std::string_view name);
  // Never blocks: the engine if the model is loaded now, else nullptr (call acquire() off the
  // network threads then).
  Result<std::shared_ptr<ModelEngine>> try_acquire(std::string_view name);
  // The catalog entry for a name, or a 404 error listing the known ids.
  Result<const ModelEntry*> resolve(std::string_view name) const;

  struct ModelStatus {
    std::string id;
    std::vector<std::string> aliases;
    std::string state;  // unloaded, loading, loaded, failed
    std::uint64_t bytes = 0;
    int load = 0;
    bool is_embedding = false;
    std::string last_error;
    BatchInvariance batch_invariance;  // the loaded model's verdict, or what its settings decide
  };
  std::vector<ModelStatus> status() const;

  struct Counters {
    std::uint64_t loads = 0;
    std::uint64_t load_failures = 0;
    std::uint64_t evictions = 0;
    std::uint64_t idle_unloads = 0;
  };
  Counters counters() const;
  std::uint64_t bytes_in_use() const;
  // Per-model scheduler counters of loaded models, for /metrics.
  std::vector<std::pair<std::string, SchedulerStats>> engine_stats() const;

  // Unloads a loaded model that no request is using (kUnavailable, retry after 5 s, when one is).
  // Returns false when it was not loaded.
  Result<bool> unload(std::string_view name);

  void shutdown();  // unloads everything; acquire() fails afterwards

 private:
  using Clock = std::chrono::steady_clock;
  enum class State { kUnloaded, kLoading, kLoaded, kFailed };
  struct Slot {
    const ModelEntry* entry = nullptr;
    State state = State::kUnloaded;
    std::shared_ptr<ModelEngine> engine;
    Clock::time_point last_used{};
    std::uint64_t bytes = 0;
    std::string last_error;
  };

  void load_async(size_t index);
  bool make_room(std::uint64_t need, size_t except, std::vector<std::shared_ptr<ModelEngine>>& unloaded);
  void janitor();

  const Config& config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  Counters counters_;
  bool stopping_ = false;
  std::mutex shutdown_mu_;  // serializes shutdown()
  std::vector<std::thread> loaders_;
  std::thread janitor_;
};

}  // namespace hearth
