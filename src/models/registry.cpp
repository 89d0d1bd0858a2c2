#include "models/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "core/sha256.h"

namespace hearth {

bool choose_evictions(std::vector<EvictionCandidate> loaded, std::uint64_t budget, std::uint64_t need,
                      std::vector<int>& out) {
  out.clear();
  if (need > budget) return false;
  const std::uint64_t room = budget - need;  // what may stay loaded
  std::uint64_t used = 0;
  for (const auto& c : loaded) used = c.bytes > UINT64_MAX - used ? UINT64_MAX : used + c.bytes;
  if (used <= room) return true;
  std::sort(loaded.begin(), loaded.end(),
            [](const EvictionCandidate& a, const EvictionCandidate& b) { return a.last_used < b.last_used; });
  for (const auto& c : loaded) {
    if (!c.idle) continue;
    out.push_back(c.index);
    used -= std::min(used, c.bytes);
    if (used <= room) return true;
  }
  out.clear();
  return false;
}

ModelRegistry::ModelRegistry(const Config& config) : config_(config) {
  for (const auto& e : config_.entries) {
    Slot s;
    s.entry = &e;
    slots_.push_back(std::move(s));
  }
  janitor_ = std::thread([this] { janitor(); });
}

ModelRegistry::~ModelRegistry() { shutdown(); }

void ModelRegistry::shutdown() {
  std::lock_guard shutdown_lock(shutdown_mu_);
  std::vector<std::shared_ptr<ModelEngine>> engines;
  std::vector<std::thread> loaders;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    cv_.notify_all();
    loaders.swap(loaders_);
  }
  for (auto& t : loaders) t.join();
  if (janitor_.joinable()) janitor_.join();
  {
    std::lock_guard lk(mu_);
    for (auto& s : slots_) {
      if (s.engine) engines.push_back(std::move(s.engine));
      s.state = State::kUnloaded;
    }
  }
  engines.clear();  // joins the model threads, outside the lock
}

Result<const ModelEntry*> ModelRegistry::resolve(std::string_view name) const {
  const std::string_view want = name.empty() ? std::string_view(config_.models.default_model) : name;
  if (want.empty()) {
    if (config_.entries.size() == 1) return &config_.entries.front();
    return invalid_argument("the request must name a model", "model");
  }
  if (const ModelEntry* e = config_.find(want)) return e;
  Error err = not_found(fmt::format("the model '{}' does not exist; known models: {}", want,
                                    fmt::join(config_.ids(), ", ")));
  err.param = "model";
  err.type_override = "model_not_found";
  return err;
}

Result<std::shared_ptr<ModelEngine>> ModelRegistry::acquire(std::string_view name) {
  auto entry = resolve(name);
  if (!entry) return entry.take_error();
  const size_t index = static_cast<size_t>(*entry - config_.entries.data());

  std::vector<std::shared_ptr<ModelEngine>> unloaded;  // destroyed after the lock is released
  std::unique_lock lk(mu_);
  Slot& slot = slots_[index];
  const auto deadline = Clock::now() + std::chrono::seconds(config_.models.load_wait_seconds);
  for (;;) {
    if (stopping_) return unavailable("the server is shutting down");
    if (slot.state == State::kLoaded) {
      slot.last_used = Clock::now();
      return slot.engine;
    }
    if (slot.state == State::kUnloaded || slot.state == State::kFailed) {
      std::error_code ec;
      const std::uint64_t estimate = std::filesystem::file_size(slot.entry->file, ec);
      if (!make_room(ec ? 0 : estimate, index, unloaded)) {
        // The models holding the budget are busy; one may go idle soon. Wait, bounded.
        if (Clock::now() >= deadline) {
          return unavailable(fmt::format("not enough of the memory budget ({} MiB) is free to load '{}', and the "
                                         "models using it stayed busy; retry later",
                                         config_.models.memory_budget_bytes >> 20, slot.entry->id),
                             5);
        }
        cv_.wait_for(lk, std::chrono::milliseconds(50));
        continue;
      }
      slot.state = State::kLoading;
      slot.last_error.clear();
      load_async(index);
    }
    if (slot.state == State::kLoading) {
      if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && slot.state == State::kLoading) {
        return unavailable(fmt::format("the model '{}' is still loading; retry shortly", slot.entry->id), 5);
      }
      if (slot.state == State::kFailed) {
        return unavailable(fmt::format("the model '{}' could not be loaded: {}", slot.entry->id, slot.last_error), 30);
      }
    }
  }
}

Result<std::shared_ptr<ModelEngine>> ModelRegistry::try_acquire(std::string_view name) {
  auto entry = resolve(name);
  if (!entry) return entry.take_error();
  const size_t index = static_cast<size_t>(*entry - config_.entries.data());
  std::lock_guard lk(mu_);
  Slot& slot = slots_[index];
  if (stopping_ || slot.state != State::kLoaded) return std::shared_ptr<ModelEngine>();
  slot.last_used = Clock::now();
  return slot.engine;
}

// Needs mu_ held.
bool ModelRegistry::make_room(std::uint64_t need, size_t except, std::vector<std::shared_ptr<ModelEngine>>& unloaded) {
  std::vector<EvictionCandidate> loaded;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (i == except || (s.state != State::kLoaded && s.state != State::kLoading)) continue;
    const bool idle = s.state == State::kLoaded && s.engine.use_count() == 1 && s.engine->load() == 0;
    loaded.push_back({static_cast<int>(i), s.bytes, s.last_used.time_since_epoch().count(), idle});
  }
  std::vector<int> evict;
  if (!choose_evictions(loaded, config_.models.memory_budget_bytes, need, evict)) return false;
  for (int i : evict) {
    Slot& s = slots_[static_cast<size_t>(i)];
    spdlog::info("unloading model '{}' to stay within the memory budget", s.entry->id);
    unloaded.push_back(std::move(s.engine));
    s.state = State::kUnloaded;
    s.bytes = 0;
    ++counters_.evictions;
  }
  return true;
}

void ModelRegistry::load_async(size_t index) {
  const ModelEntry* entry = slots_[index].entry;
  loaders_.emplace_back([this, index, entry] {
    const auto t0 = Clock::now();
    std::string error;
    std::unique_ptr<ModelEngine> engine;
    if (entry->verify_on_load && !entry->sha256.empty()) {
      auto digest = sha256_file(entry->file);
      if (!digest) error = digest.error().message;
      else if (*digest != entry->sha256) {
        error = fmt::format("SHA-256 mismatch for {}: expected {}, file has {}", entry->file, entry->sha256, *digest);
      }
    }
    if (error.empty()) {
      auto r = ModelEngine::load(entry->load);
      if (r) engine = std::move(*r);
      else error = r.error().message;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::lock_guard lk(mu_);
    Slot& s = slots_[index];
    if (engine) {
      s.bytes = engine->info().file_bytes + engine->info().kv_bytes;
      s.engine = std::shared_ptr<ModelEngine>(std::move(engine));
      s.state = State::kLoaded;
      s.last_used = Clock::now();
      ++counters_.loads;
      spdlog::info("loaded model '{}' ({}, {:.0f} MiB with KV cache) in {:.2f} s", entry->id,
                   s.engine->info().description, static_cast<double>(s.bytes) / (1 << 20), secs);
    } else {
      s.state = State::kFailed;
      s.last_error = error;
      ++counters_.load_failures;
      spdlog::error("failed to load model '{}': {}", entry->id, error);
    }
    cv_.notify_all();
  });
}

void ModelRegistry::janitor() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    cv_.wait_for(lk, std::chrono::milliseconds(500));
    if (stopping_ || config_.models.idle_unload_seconds <= 0) continue;
    const auto idle_for = std::chrono::seconds(config_.models.idle_unload_seconds);
    std::vector<std::shared_ptr<ModelEngine>> unloaded;
    for (auto& s : slots_) {
      if (s.state != State::kLoaded || s.engine.use_count() != 1 || s.engine->load() != 0) continue;
      if (Clock::now() - s.last_used < idle_for) continue;
      spdlog::info("unloading model '{}' after {} s idle", s.entry->id, config_.models.idle_unload_seconds);
      unloaded.push_back(std::move(s.engine));
      s.state = State::kUnloaded;
      s.bytes = 0;
      ++counters_.idle_unloads;
    }
    if (!unloaded.empty()) {
      lk.unlock();
      unloaded.clear();
      lk.lock();
    }
  }
}

Result<bool> ModelRegistry::unload(std::string_view name) {
  auto entry = resolve(name);
  if (!entry) return entry.take_error();
  std::shared_ptr<ModelEngine> engine;  // destroyed after the lock is released
  {
    std::lock_guard lk(mu_);
    Slot& s = slots_[static_cast<size_t>(*entry - config_.entries.data())];
    if (s.state != State::kLoaded) return false;
    if (s.engine.use_count() != 1 || s.engine->load() != 0) {
      return unavailable(fmt::format("the model '{}' is serving requests; unload it when it is idle", s.entry->id), 5);
    }
    spdlog::info("unloading model '{}' (asked by an administrator)", s.entry->id);
    engine = std::move(s.engine);
    s.state = State::kUnloaded;
    s.bytes = 0;
  }
  cv_.notify_all();
  return true;
}

std::vector<ModelRegistry::ModelStatus> ModelRegistry::status() const {
  std::lock_guard lk(mu_);
  std::vector<ModelStatus> out;
  for (const auto& s : slots_) {
    ModelStatus m;
    m.id = s.entry->id;
    m.aliases = s.entry->aliases;
    switch (s.state) {
      case State::kUnloaded: m.state = "unloaded"; break;
      case State::kLoading: m.state = "loading"; break;
      case State::kLoaded: m.state = "loaded"; break;
      case State::kFailed: m.state = "failed"; break;
    }
    m.bytes = s.bytes;
    if (s.engine) {
      m.load = s.engine->load();
      m.is_embedding = s.engine->info().is_embedding;
      m.batch_invariance = s.engine->info().batch_invariance;
    } else {
      const ModelLoadOptions& o = s.entry->load;
      m.batch_invariance = assess_batch_invariance(batch_invariance_settings(o.batch_invariant, o.flash_attn, o.kv_unified));
    }
    m.last_error = s.last_error;
    out.push_back(std::move(m));
  }
  return out;
}

ModelRegistry::Counters ModelRegistry::counters() const {
  std::lock_guard lk(mu_);
  return counters_;
}

std::uint64_t ModelRegistry::bytes_in_use() const {
  std::lock_guard lk(mu_);
  std::uint64_t n = 0;
  for (const auto& s : slots_) n += s.bytes;
  return n;
}

std::vector<std::pair<std::string, SchedulerStats>> ModelRegistry::engine_stats() const {
  std::lock_guard lk(mu_);
  std::vector<std::pair<std::string, SchedulerStats>> out;
  for (const auto& s : slots_) {
    if (s.engine) out.emplace_back(s.entry->id, s.engine->stats());
  }
  return out;
}

}  // namespace hearth
