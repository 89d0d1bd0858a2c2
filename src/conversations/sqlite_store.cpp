#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>

#include "auth/credential_util.h"
#include "conversations/store.h"
#include "core/sqlite_file.h"

namespace hearth::conversations {
namespace {

using auth::detail::DbClose;
using auth::detail::random_base62;
using auth::detail::Stmt;

constexpr int kSchemaVersion = 1;
constexpr std::size_t kIdChars = 24;
constexpr std::size_t kMaxLimit = 100;
constexpr int kIdAttempts = 4;  // a taken id (1 in 62^24) draws again

// Items cascade with their conversation (PRAGMA foreign_keys is on for the connection).
// UNIQUE (conversation_id, seq) is the index that keeps paging, max(seq) and the cascade fast.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS conversations (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  title TEXT NOT NULL,
  item_count INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, updated_at);
CREATE TABLE IF NOT EXISTS conversation_items (
  id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  role TEXT NOT NULL,
  text TEXT NOT NULL,
  body TEXT NOT NULL,
  UNIQUE (conversation_id, seq)
) STRICT;
)sql";

constexpr const char* kConvColumns = "id, owner, created_at, updated_at, metadata, item_count";
constexpr const char* kItemColumns = "id, conversation_id, seq, created_at, role, text, body";
// metadata.title when it is a string, else "" (?N is the metadata parameter).
constexpr const char* kTitleOf = "coalesce(CASE WHEN json_type(?{0}, '$.title') = 'text' "
                                 "THEN json_extract(?{0}, '$.title') END, '')";

Error db_error(sqlite3* db, std::string_view what) {
  const int code = sqlite3_errcode(db);
  std::string msg = fmt::format("conversation store: {}: {}", what, sqlite3_errmsg(db));
  if (code == SQLITE_FULL || code == SQLITE_NOMEM) return resource_exhausted(std::move(msg));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return unavailable(std::move(msg));
  return internal_error(std::move(msg));
}

// A step's `rc` that failed on the primary key (an id already taken), not another constraint.
bool id_taken(sqlite3* db, int rc) {
  return rc == SQLITE_CONSTRAINT && sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY;
}

Error no_conversation(const std::string& id) { return not_found(fmt::format("no conversation '{}'", id)); }
Error no_item(const std::string& id) { return not_found(fmt::format("no item '{}'", id)); }

std::int64_t clamp_limit(std::size_t limit) {
  return static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, kMaxLimit));
}

// A row of SELECT kConvColumns.
Conversation read_conversation(Stmt& s) {
  Conversation c;
  c.id = s.text(0);
  c.owner = s.text(1);
  c.created_at = s.i64(2);
  c.updated_at = s.i64(3);
  c.metadata_json = s.text(4);
  c.item_count = s.i64(5);
  return c;
}

// A row of SELECT kItemColumns.
Item read_item(Stmt& s) {
  Item i;
  i.id = s.text(0);
  i.conversation_id = s.text(1);
  i.seq = s.i64(2);
  i.created_at = s.i64(3);
  i.role = s.text(4);
  i.text = s.text(5);
  i.body_json = s.text(6);
  return i;
}

// Every row of a prepared, bound statement, read with `read`.
template <class T, class Read>
Result<std::vector<T>> collect(sqlite3* db, Stmt& s, Read read, std::string_view what) {
  std::vector<T> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read(s));
  if (rc != SQLITE_DONE) return db_error(db, what);
  return out;
}

// "%<search>%" for LIKE ... ESCAPE '\': ASCII letters lowered (matched against lower(column),
// which lowers ASCII only), and %, _ and \ escaped so that they match themselves. Other bytes
// (UTF-8: CJK and the rest) match exactly.
std::string like_pattern(std::string_view search) {
  std::string p = "%";
  p.reserve(search.size() * 2 + 2);
  for (const char ch : search) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  }
  p += '%';
  return p;
}

// The distinct owners, in their first order.
std::vector<std::string> distinct(const std::vector<std::string>& owners) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const std::string& o : owners) {
    if (seen.insert(o).second) out.push_back(o);
  }
  return out;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}

  Status init();

  Result<Conversation> create(const std::string& owner, const std::string& metadata_json,
                              const std::vector<NewItem>& items, std::int64_t now) override;
  Result<Conversation> get(const std::string& owner, const std::string& id) override;
  Result<Conversation> set_metadata(const std::string& owner, const std::string& id, const std::string& metadata_json,
                                    std::int64_t now) override;
  Status remove(const std::string& owner, const std::string& id) override;
  Result<Page<Conversation>> list(const std::string& owner, const std::string& search, std::size_t limit,
                                  const std::string& after) override;
  Result<std::vector<Item>> add_items(const std::string& owner, const std::string& id,
                                      const std::vector<NewItem>& items, std::int64_t now) override;
  Result<Page<Item>> items(const std::string& owner, const std::string& id, std::size_t limit,
                           const std::string& after, Order order) override;
  Result<Item> item(const std::string& owner, const std::string& id, const std::string& item_id) override;
  Result<Conversation> delete_item(const std::string& owner, const std::string& id, const std::string& item_id,
                                   bool and_after, std::int64_t now) override;
  Result<std::vector<std::pair<Conversation, std::vector<Item>>>> export_owners(
      const std::vector<std::string>& owners) override;
  Result<std::int64_t> erase_owners(const std::vector<std::string>& owners) override;

 private:
  Status exec(const char* sql, std::string_view what);
  Result<std::int64_t> pragma_int(const char* name);
  Status migrate_in_transaction();

  // Runs `body` (returning a Result) in a transaction begun with `begin`; rolls back on failure.
  template <class F>
  auto transaction(const char* begin, F&& body) -> decltype(body()) {
    if (auto st = exec(begin, "begin a transaction"); !st) return st.take_error();
    auto r = body();
    if (!r) {
      (void)exec("ROLLBACK", "roll back");
      return r;
    }
    if (auto st = exec("COMMIT", "commit"); !st) {
      (void)exec("ROLLBACK", "roll back");
      return st.take_error();
    }
    return r;
  }

  // The helpers below run with mu_ held.
  Result<Conversation> load(const std::string& owner, const std::string& id);
  Status check_metadata(const std::string& metadata_json);
  Result<std::string> insert_conversation(const std::string& owner, const std::string& metadata_json,
                                          std::int64_t now);
  Result<std::vector<Item>> insert_items(const std::string& id, const std::vector<NewItem>& items, std::int64_t now);
  Result<bool> insert_item(Item& item);
  Status touch(const std::string& id, std::int64_t now);
  Result<std::int64_t> item_seq(const std::string& id, const std::string& item_id);
  Result<std::vector<Item>> items_of(const std::string& id);

  std::mutex mu_;
  std::unique_ptr<sqlite3, DbClose> db_;
};

Status SqliteStore::exec(const char* sql, std::string_view what) {
  char* err = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Error e = db_error(db_.get(), what);
    sqlite3_free(err);
    return e;
  }
  return {};
}

Result<std::int64_t> SqliteStore::pragma_int(const char* name) {
  Stmt s(db_.get(), fmt::format("PRAGMA {}", name));
  if (!s.ok() || s.step() != SQLITE_ROW) return db_error(db_.get(), name);
  return s.i64(0);
}

// Creates the tables (IF NOT EXISTS: the file may be shared with another store); refuses a file
// from a newer Hearth. In one write transaction, as two processes may open a new file at once.
Status SqliteStore::migrate_in_transaction() {
  auto version = pragma_int("user_version");
  if (!version) return version.take_error();
  if (*version > kSchemaVersion) {
    return unavailable(fmt::format("the conversation store has schema version {}; this Hearth knows up to {} "
                                   "(upgrade Hearth, or point it at another file)",
                                   *version, kSchemaVersion));
  }
  HEARTH_TRY(exec(kSchema, "create the schema"));
  if (*version == kSchemaVersion) return {};
  return exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str(), "set the schema version");
}

Status SqliteStore::init() {
  HEARTH_TRY(exec("PRAGMA journal_mode = WAL", "enable WAL"));
  HEARTH_TRY(exec("PRAGMA synchronous = NORMAL", "set synchronous"));
  HEARTH_TRY(exec("PRAGMA foreign_keys = ON", "enable foreign keys"));
  auto fk = pragma_int("foreign_keys");
  if (!fk) return fk.take_error();
  if (*fk != 1) return internal_error("conversation store: SQLite refused to enforce foreign keys");
  return transaction("BEGIN IMMEDIATE", [&] { return migrate_in_transaction(); });
}

Result<Conversation> SqliteStore::load(const std::string& owner, const std::string& id) {
  Stmt s(db_.get(), fmt::format("SELECT {} FROM conversations WHERE id = ?1 AND owner = ?2", kConvColumns));
  if (!s.ok()) return db_error(db_.get(), "read a conversation");
  s.bind(1, id).bind(2, owner);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return no_conversation(id);
  if (rc != SQLITE_ROW) return db_error(db_.get(), "read a conversation");
  return read_conversation(s);
}

Status SqliteStore::check_metadata(const std::string& metadata_json) {
  Stmt s(db_.get(), "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END");
  if (!s.ok()) return db_error(db_.get(), "check metadata");
  s.bind(1, metadata_json);
  if (s.step() != SQLITE_ROW) return db_error(db_.get(), "check metadata");
  if (s.text(0) != "object") return invalid_argument("metadata must be a JSON object", "metadata");
  return {};
}

Result<std::string> SqliteStore::insert_conversation(const std::string& owner, const std::string& metadata_json,
                                                     std::int64_t now) {
  const std::string sql = fmt::format(
      "INSERT INTO conversations (id, owner, created_at, updated_at, metadata, title, item_count) "
      "VALUES (?1, ?2, ?3, ?3, ?4, {}, 0)",
      fmt::format(kTitleOf, 4));
  for (int attempt = 0; attempt < kIdAttempts; ++attempt) {
    auto tail = random_base62(kIdChars);
    if (!tail) return tail.take_error();
    std::string id = "conv_" + *tail;
    Stmt s(db_.get(), sql);
    if (!s.ok()) return db_error(db_.get(), "create a conversation");
    s.bind(1, id).bind(2, owner).bind(3, now).bind(4, metadata_json);
    const int rc = s.step();
    if (rc == SQLITE_DONE) return id;
    if (!id_taken(db_.get(), rc)) return db_error(db_.get(), "create a conversation");
  }
  return internal_error("conversation store: could not draw an unused conversation id");
}

// Inserts `item` (its id drawn here); false when the id was taken.
Result<bool> SqliteStore::insert_item(Item& item) {
  auto tail = random_base62(kIdChars);
  if (!tail) return tail.take_error();
  item.id = "msg_" + *tail;
  Stmt s(db_.get(), fmt::format("INSERT INTO conversation_items ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                kItemColumns));
  if (!s.ok()) return db_error(db_.get(), "add an item");
  s.bind(1, item.id).bind(2, item.conversation_id).bind(3, item.seq).bind(4, item.created_at);
  s.bind(5, item.role).bind(6, item.text).bind(7, item.body_json);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return true;
  if (id_taken(db_.get(), rc)) return false;
  return db_error(db_.get(), "add an item");
}

// Appends `items` after the last seq of conversation `id`; the caller bumps it (touch).
Result<std::vector<Item>> SqliteStore::insert_items(const std::string& id, const std::vector<NewItem>& items,
                                                    std::int64_t now) {
  Stmt last(db_.get(), "SELECT coalesce(max(seq), 0) FROM conversation_items WHERE conversation_id = ?1");
  if (!last.ok()) return db_error(db_.get(), "read the last item");
  last.bind(1, id);
  if (last.step() != SQLITE_ROW) return db_error(db_.get(), "read the last item");
  std::int64_t seq = last.i64(0);
  std::vector<Item> out;
  out.reserve(items.size());
  for (const NewItem& n : items) {
    Item item{{}, id, ++seq, now, n.role, n.text, n.body_json};
    bool inserted = false;
    for (int attempt = 0; attempt < kIdAttempts && !inserted; ++attempt) {
      auto r = insert_item(item);
      if (!r) return r.take_error();
      inserted = *r;
    }
    if (!inserted) return internal_error("conversation store: could not draw an unused item id");
    out.push_back(std::move(item));
  }
  return out;
}

// Bumps updated_at (never backwards) and recounts the items.
Status SqliteStore::touch(const std::string& id, std::int64_t now) {
  Stmt s(db_.get(),
         "UPDATE conversations SET updated_at = max(updated_at, ?2), "
         "item_count = (SELECT count(*) FROM conversation_items WHERE conversation_id = ?1) WHERE id = ?1");
  if (!s.ok()) return db_error(db_.get(), "update a conversation");
  s.bind(1, id).bind(2, now);
  if (s.step() != SQLITE_DONE) return db_error(db_.get(), "update a conversation");
  return {};
}

// The seq of item `item_id` of conversation `id`, or kNotFound naming the item.
Result<std::int64_t> SqliteStore::item_seq(const std::string& id, const std::string& item_id) {
  Stmt s(db_.get(), "SELECT seq FROM conversation_items WHERE id = ?1 AND conversation_id = ?2");
  if (!s.ok()) return db_error(db_.get(), "read an item");
  s.bind(1, item_id).bind(2, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return no_item(item_id);
  if (rc != SQLITE_ROW) return db_error(db_.get(), "read an item");
  return s.i64(0);
}

Result<std::vector<Item>> SqliteStore::items_of(const std::string& id) {
  Stmt s(db_.get(),
         fmt::format("SELECT {} FROM conversation_items WHERE conversation_id = ?1 ORDER BY seq", kItemColumns));
  if (!s.ok()) return db_error(db_.get(), "read items");
  s.bind(1, id);
  return collect<Item>(db_.get(), s, read_item, "read items");
}

Result<Conversation> SqliteStore::create(const std::string& owner, const std::string& metadata_json,
                                         const std::vector<NewItem>& items, std::int64_t now) {
  const std::string metadata = metadata_json.empty() ? "{}" : metadata_json;
  std::lock_guard lock(mu_);
  HEARTH_TRY(check_metadata(metadata));
  return transaction("BEGIN IMMEDIATE", [&]() -> Result<Conversation> {
    auto id = insert_conversation(owner, metadata, now);
    if (!id) return id.take_error();
    if (!items.empty()) {
      auto added = insert_items(*id, items, now);
      if (!added) return added.take_error();
      HEARTH_TRY(touch(*id, now));
    }
    return load(owner, *id);
  });
}

Result<Conversation> SqliteStore::get(const std::string& owner, const std::string& id) {
  std::lock_guard lock(mu_);
  return load(owner, id);
}

Result<Conversation> SqliteStore::set_metadata(const std::string& owner, const std::string& id,
                                               const std::string& metadata_json, std::int64_t now) {
  const std::string metadata = metadata_json.empty() ? "{}" : metadata_json;
  std::lock_guard lock(mu_);
  HEARTH_TRY(check_metadata(metadata));
  return transaction("BEGIN IMMEDIATE", [&]() -> Result<Conversation> {
    Stmt s(db_.get(), fmt::format("UPDATE conversations SET metadata = ?3, title = {}, "
                                  "updated_at = max(updated_at, ?4) WHERE id = ?1 AND owner = ?2",
                                  fmt::format(kTitleOf, 3)));
    if (!s.ok()) return db_error(db_.get(), "update metadata");
    s.bind(1, id).bind(2, owner).bind(3, metadata).bind(4, now);
    if (s.step() != SQLITE_DONE) return db_error(db_.get(), "update metadata");
    if (sqlite3_changes(db_.get()) == 0) return no_conversation(id);
    return load(owner, id);
  });
}

Status SqliteStore::remove(const std::string& owner, const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(db_.get(), "DELETE FROM conversations WHERE id = ?1 AND owner = ?2");
  if (!s.ok()) return db_error(db_.get(), "delete a conversation");
  s.bind(1, id).bind(2, owner);
  if (s.step() != SQLITE_DONE) return db_error(db_.get(), "delete a conversation");
  if (sqlite3_changes(db_.get()) == 0) return no_conversation(id);
  return {};
}

Result<Page<Conversation>> SqliteStore::list(const std::string& owner, const std::string& search,
                                             std::size_t limit, const std::string& after) {
  if (search.size() > kMaxSearchBytes) {
    return invalid_argument(fmt::format("search must be at most {} bytes", kMaxSearchBytes), "search");
  }
  std::lock_guard lock(mu_);
  std::string sql = fmt::format("SELECT {} FROM conversations c WHERE owner = ?1", kConvColumns);
  std::int64_t cursor_updated = 0, cursor_rowid = 0;
  if (!after.empty()) {
    Stmt c(db_.get(), "SELECT updated_at, rowid FROM conversations WHERE id = ?1 AND owner = ?2");
    if (!c.ok()) return db_error(db_.get(), "read the cursor");
    c.bind(1, after).bind(2, owner);
    const int rc = c.step();
    if (rc == SQLITE_DONE) return invalid_argument(fmt::format("'after': no conversation '{}'", after), "after");
    if (rc != SQLITE_ROW) return db_error(db_.get(), "read the cursor");
    cursor_updated = c.i64(0);
    cursor_rowid = c.i64(1);
    sql += " AND (updated_at < ?2 OR (updated_at = ?2 AND rowid < ?3))";
  }
  if (!search.empty()) {
    sql += " AND (lower(title) LIKE ?4 ESCAPE '\\' OR EXISTS (SELECT 1 FROM conversation_items i "
           "WHERE i.conversation_id = c.id AND lower(i.text) LIKE ?4 ESCAPE '\\'))";
  }
  sql += " ORDER BY updated_at DESC, rowid DESC LIMIT ?5";
  Stmt s(db_.get(), sql);
  if (!s.ok()) return db_error(db_.get(), "list conversations");
  const std::int64_t n = clamp_limit(limit);
  s.bind(1, owner).bind(2, cursor_updated).bind(3, cursor_rowid).bind(4, like_pattern(search)).bind(5, n + 1);
  auto rows = collect<Conversation>(db_.get(), s, read_conversation, "list conversations");
  if (!rows) return rows.take_error();
  Page<Conversation> page;
  page.has_more = static_cast<std::int64_t>(rows->size()) > n;
  if (page.has_more) rows->pop_back();
  page.data = std::move(*rows);
  return page;
}

Result<std::vector<Item>> SqliteStore::add_items(const std::string& owner, const std::string& id,
                                                 const std::vector<NewItem>& items, std::int64_t now) {
  std::lock_guard lock(mu_);
  return transaction("BEGIN IMMEDIATE", [&]() -> Result<std::vector<Item>> {
    auto conversation = load(owner, id);
    if (!conversation) return conversation.take_error();
    if (items.empty()) return std::vector<Item>{};
    auto added = insert_items(id, items, now);
    if (!added) return added.take_error();
    HEARTH_TRY(touch(id, now));
    return added;
  });
}

Result<Page<Item>> SqliteStore::items(const std::string& owner, const std::string& id, std::size_t limit,
                                      const std::string& after, Order order) {
  std::lock_guard lock(mu_);
  auto conversation = load(owner, id);
  if (!conversation) return conversation.take_error();
  const bool asc = order == Order::kAsc;
  std::string sql = fmt::format("SELECT {} FROM conversation_items WHERE conversation_id = ?1", kItemColumns);
  std::int64_t cursor = 0;
  if (!after.empty()) {
    auto seq = item_seq(id, after);
    if (!seq) {
      if (seq.error().code != ErrorCode::kNotFound) return seq.take_error();
      return invalid_argument(fmt::format("'after': no item '{}' in conversation '{}'", after, id), "after");
    }
    cursor = *seq;
    sql += asc ? " AND seq > ?2" : " AND seq < ?2";
  }
  sql += asc ? " ORDER BY seq ASC LIMIT ?3" : " ORDER BY seq DESC LIMIT ?3";
  Stmt s(db_.get(), sql);
  if (!s.ok()) return db_error(db_.get(), "list items");
  const std::int64_t n = clamp_limit(limit);
  s.bind(1, id).bind(2, cursor).bind(3, n + 1);
  auto rows = collect<Item>(db_.get(), s, read_item, "list items");
  if (!rows) return rows.take_error();
  Page<Item> page;
  page.has_more = static_cast<std::int64_t>(rows->size()) > n;
  if (page.has_more) rows->pop_back();
  page.data = std::move(*rows);
  return page;
}

Result<Item> SqliteStore::item(const std::string& owner, const std::string& id, const std::string& item_id) {
  std::lock_guard lock(mu_);
  auto conversation = load(owner, id);
  if (!conversation) return conversation.take_error();
  Stmt s(db_.get(),
         fmt::format("SELECT {} FROM conversation_items WHERE id = ?1 AND conversation_id = ?2", kItemColumns));
  if (!s.ok()) return db_error(db_.get(), "read an item");
  s.bind(1, item_id).bind(2, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return no_item(item_id);
  if (rc != SQLITE_ROW) return db_error(db_.get(), "read an item");
  return read_item(s);
}

Result<Conversation> SqliteStore::delete_item(const std::string& owner, const std::string& id,
                                              const std::string& item_id, bool and_after, std::int64_t now) {
  std::lock_guard lock(mu_);
  return transaction("BEGIN IMMEDIATE", [&]() -> Result<Conversation> {
    auto conversation = load(owner, id);
    if (!conversation) return conversation.take_error();
    auto seq = item_seq(id, item_id);
    if (!seq) return seq.take_error();
    Stmt s(db_.get(), and_after ? "DELETE FROM conversation_items WHERE conversation_id = ?1 AND seq >= ?2"
                                : "DELETE FROM conversation_items WHERE conversation_id = ?1 AND seq = ?2");
    if (!s.ok()) return db_error(db_.get(), "delete an item");
    s.bind(1, id).bind(2, *seq);
    if (s.step() != SQLITE_DONE) return db_error(db_.get(), "delete an item");
    HEARTH_TRY(touch(id, now));
    return load(owner, id);
  });
}

Result<std::vector<std::pair<Conversation, std::vector<Item>>>> SqliteStore::export_owners(
    const std::vector<std::string>& owners) {
  using Export = std::vector<std::pair<Conversation, std::vector<Item>>>;
  std::lock_guard lock(mu_);
  return transaction("BEGIN", [&]() -> Result<Export> {  // one snapshot of the file
    Export out;
    for (const std::string& owner : distinct(owners)) {
      Stmt s(db_.get(), fmt::format("SELECT {} FROM conversations WHERE owner = ?1 ORDER BY created_at, rowid",
                                    kConvColumns));
      if (!s.ok()) return db_error(db_.get(), "export conversations");
      s.bind(1, owner);
      auto conversations = collect<Conversation>(db_.get(), s, read_conversation, "export conversations");
      if (!conversations) return conversations.take_error();
      for (Conversation& c : *conversations) {
        auto items = items_of(c.id);
        if (!items) return items.take_error();
        out.emplace_back(std::move(c), std::move(*items));
      }
    }
    return out;
  });
}

Result<std::int64_t> SqliteStore::erase_owners(const std::vector<std::string>& owners) {
  std::lock_guard lock(mu_);
  return transaction("BEGIN IMMEDIATE", [&]() -> Result<std::int64_t> {
    std::int64_t erased = 0;
    for (const std::string& owner : distinct(owners)) {
      Stmt s(db_.get(), "DELETE FROM conversations WHERE owner = ?1");  // items cascade
      if (!s.ok()) return db_error(db_.get(), "erase conversations");
      s.bind(1, owner);
      if (s.step() != SQLITE_DONE) return db_error(db_.get(), "erase conversations");
      erased += sqlite3_changes(db_.get());  // the conversations only, not the cascaded items
    }
    return erased;
  });
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  auto opened = open_private_sqlite(path, "the conversation store");
  if (!opened) return opened.take_error();
  auto store = std::make_unique<SqliteStore>(*opened);
  HEARTH_TRY(store->init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace hearth::conversations
