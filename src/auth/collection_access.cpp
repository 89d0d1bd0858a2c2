#include "auth/collection_access.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/sqlite_file.h"

namespace hearth::auth {
namespace {

constexpr std::int64_t kReloadIntervalMs = 500;

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Error db_error(sqlite3* db, const char* what) {
  return unavailable(fmt::format("collection access lists: cannot {}: {}", what, sqlite3_errmsg(db)));
}

bool contains(const std::vector<std::string>& list, std::string_view principal, std::string_view role) {
  for (const std::string& e : list) {
    if (e == "*" || e == principal) return true;
    if (e.rfind("role:", 0) == 0 && std::string_view(e).substr(5) == role) return true;
  }
  return false;
}

std::vector<std::string> strings_of(const char* text) {
  std::vector<std::string> out;
  const auto j = nlohmann::json::parse(text ? text : "[]", nullptr, false);
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

}  // namespace

struct CollectionAccessStore::Impl {
  std::mutex mu;  // guards everything below
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db{nullptr, &sqlite3_close};
  std::map<std::string, CollectionAccess, std::less<>> cache;
  std::int64_t data_version = -1, next_check_ms = 0;

  Status exec(const char* sql, const char* what) {
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db.get(), what);
    return {};
  }

  Status reload_if_changed() {  // mu held
    const std::int64_t now = steady_ms();
    if (now < next_check_ms) return {};
    next_check_ms = now + kReloadIntervalMs;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db.get(), "PRAGMA data_version", -1, &st, nullptr) != SQLITE_OK) return db_error(db.get(), "read");
    std::int64_t version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -2;
    sqlite3_finalize(st);
    if (version == data_version) return {};
    if (sqlite3_prepare_v2(db.get(), "SELECT collection, owner, readers, writers, updated_at FROM collection_access", -1,
                           &st, nullptr) != SQLITE_OK) {
      return db_error(db.get(), "read");
    }
    std::map<std::string, CollectionAccess, std::less<>> fresh;
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto text = [st](int i) { return reinterpret_cast<const char*>(sqlite3_column_text(st, i)); };
      CollectionAccess a{text(0), text(1) ? text(1) : "", strings_of(text(2)), strings_of(text(3)),
                         sqlite3_column_int64(st, 4)};
      fresh.emplace(a.collection, std::move(a));
    }
    sqlite3_finalize(st);
    cache.swap(fresh);
    data_version = version;
    return {};
  }

  Status write(const CollectionAccess& a) {  // mu held
    sqlite3_stmt* st = nullptr;
    const char* sql =
        "INSERT OR REPLACE INTO collection_access (collection, owner, readers, writers, updated_at) VALUES (?,?,?,?,?)";
    if (sqlite3_prepare_v2(db.get(), sql, -1, &st, nullptr) != SQLITE_OK) return db_error(db.get(), "write");
    const std::string readers = nlohmann::json(a.readers).dump(), writers = nlohmann::json(a.writers).dump();
    sqlite3_bind_text(st, 1, a.collection.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, a.owner.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, readers.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, writers.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, a.updated_at);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_error(db.get(), "write");
    cache[a.collection] = a;
    return {};
  }
};

Status check_access_lists(const CollectionAccess& access) {
  for (const auto* list : {&access.readers, &access.writers}) {
    if (list->size() > 1000) return invalid_argument("an access list holds at most 1,000 entries");
    for (const std::string& e : *list) {
      const bool bad = e.empty() || e.size() > 256 ||
                       std::any_of(e.begin(), e.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
      if (bad) return invalid_argument(fmt::format("bad access list entry '{}': 1..256 characters, no control characters", e));
    }
  }
  return {};
}

Result<std::unique_ptr<CollectionAccessStore>> CollectionAccessStore::open(const std::string& db_path) {
  auto impl = std::make_unique<Impl>();
  auto opened = open_private_sqlite(db_path, "the collection access lists");
  if (!opened) return opened.take_error();
  impl->db.reset(*opened);
  HEARTH_TRY(impl->exec("PRAGMA journal_mode = WAL", "enable WAL"));
  HEARTH_TRY(impl->exec("CREATE TABLE IF NOT EXISTS collection_access (collection TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                        "readers TEXT NOT NULL, writers TEXT NOT NULL, updated_at INTEGER NOT NULL)",
                        "create its table"));
  {
    std::lock_guard lock(impl->mu);
    HEARTH_TRY(impl->reload_if_changed());
  }
  return std::unique_ptr<CollectionAccessStore>(new CollectionAccessStore(std::move(impl)));
}

CollectionAccessStore::CollectionAccessStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CollectionAccessStore::~CollectionAccessStore() = default;

std::optional<CollectionAccess> CollectionAccessStore::get(std::string_view collection) {
  std::lock_guard lock(impl_->mu);
  (void)impl_->reload_if_changed();  // a failed reload keeps the last lists
  auto it = impl_->cache.find(collection);
  if (it == impl_->cache.end()) return std::nullopt;
  return it->second;
}

Status CollectionAccessStore::put(const CollectionAccess& access) {
  HEARTH_TRY(check_access_lists(access));
  std::lock_guard lock(impl_->mu);
  return impl_->write(access);
}

Status CollectionAccessStore::remove(std::string_view collection) {
  std::lock_guard lock(impl_->mu);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(impl_->db.get(), "DELETE FROM collection_access WHERE collection = ?", -1, &st, nullptr) !=
      SQLITE_OK) {
    return db_error(impl_->db.get(), "delete");
  }
  sqlite3_bind_text(st, 1, collection.data(), static_cast<int>(collection.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return db_error(impl_->db.get(), "delete");
  if (auto it = impl_->cache.find(collection); it != impl_->cache.end()) impl_->cache.erase(it);
  return {};
}

bool CollectionAccessStore::allows(std::string_view collection, std::string_view principal, std::string_view role,
                                   CollectionRight right) {
  std::lock_guard lock(impl_->mu);  // read in place: this runs for every collection a request touches
  (void)impl_->reload_if_changed();
  const auto it = impl_->cache.find(collection);
  if (it == impl_->cache.end()) return true;
  const CollectionAccess& a = it->second;
  if (!a.owner.empty() && a.owner == principal) return true;
  switch (right) {
    case CollectionRight::kRead: return contains(a.readers, principal, role) || contains(a.writers, principal, role);
    case CollectionRight::kWrite: return contains(a.writers, principal, role);
    case CollectionRight::kManage: return false;
  }
  return false;
}

std::vector<CollectionAccess> CollectionAccessStore::mentioning(std::string_view principal) {
  std::lock_guard lock(impl_->mu);
  (void)impl_->reload_if_changed();
  std::vector<CollectionAccess> out;
  for (const auto& [_, a] : impl_->cache) {
    const auto named = [&](const std::vector<std::string>& l) { return std::find(l.begin(), l.end(), principal) != l.end(); };
    if (a.owner == principal || named(a.readers) || named(a.writers)) out.push_back(a);
  }
  return out;
}

Result<int> CollectionAccessStore::forget(std::string_view principal, const std::string& pseudonym) {
  // In one write transaction over the current rows (not the cache, which may be up to half a
  // second old): another process's change can be neither missed nor undone.
  std::lock_guard lock(impl_->mu);
  HEARTH_TRY(impl_->exec("BEGIN IMMEDIATE", "begin"));
  impl_->next_check_ms = 0;
  Status st = impl_->reload_if_changed();
  int changed = 0;
  std::vector<CollectionAccess> named;
  for (const auto& [_, a] : impl_->cache) {
    const auto in = [&](const std::vector<std::string>& l) { return std::find(l.begin(), l.end(), principal) != l.end(); };
    if (a.owner == principal || in(a.readers) || in(a.writers)) named.push_back(a);
  }
  for (CollectionAccess& a : named) {
    if (!st) break;
    if (a.owner == principal) a.owner = pseudonym;
    std::erase(a.readers, principal);
    std::erase(a.writers, principal);
    st = impl_->write(a);
    ++changed;
  }
  if (!st) {
    (void)impl_->exec("ROLLBACK", "roll back");
    impl_->next_check_ms = 0;
    impl_->data_version = -1;  // the cache may hold rows that were rolled back
    return st.error();
  }
  HEARTH_TRY(impl_->exec("COMMIT", "commit"));
  return changed;
}

}  // namespace hearth::auth
