// Conversations: each principal's chat history, for the web app and the OpenAI-shaped
// /v1/conversations API. A conversation ("conv_" + 24 base62) belongs to one owner (a principal id:
// "user:alice", "hk-Ab12", "anonymous") and holds items ("msg_" + 24 base62) in `seq` order.
// Ownership is part of every lookup: another owner's conversation is "not found", exactly as one
// that does not exist, so that ids do not reveal existence. The store keeps what it is given
// verbatim (metadata and item bodies as JSON text); the API layer validates roles and bodies.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace hearth::conversations {

struct Conversation {
  std::string id;     // "conv_" + 24 random base62
  std::string owner;  // principal id
  std::int64_t created_at = 0, updated_at = 0;  // unix seconds; updated_at bumps on any change, items included
  std::string metadata_json = "{}";  // a JSON object as text; the title is metadata.title
  std::int64_t item_count = 0;
};

struct Item {
  std::string id;  // "msg_" + 24 random base62
  std::string conversation_id;
  std::int64_t seq = 0;  // 1, 2, 3... within the conversation, assigned by the store (max(seq) + 1)
  std::int64_t created_at = 0;
  std::string role;       // "user", "assistant", "system", "developer"
  std::string text;       // the item's plain text (what search matches)
  std::string body_json;  // the whole item as JSON text, stored and returned verbatim
};

template <class T>
struct Page {
  std::vector<T> data;
  bool has_more = false;
};

struct NewItem {
  std::string role, text, body_json;
};

enum class Order { kAsc, kDesc };

// Errors: kNotFound "no conversation 'conv_…'" (missing or another owner's) or "no item 'msg_…'";
// kInvalidArgument for metadata that is not a JSON object, an unknown `after` cursor or a search
// over kMaxSearchBytes; kUnavailable / kResourceExhausted / kInternal from the database.
// `limit` is 1..100 (the caller clamps it; the store clamps it again).
class Store {
 public:
  static constexpr std::size_t kMaxSearchBytes = 1024;

  virtual ~Store() = default;

  // `metadata_json` "" is taken as "{}". The items, if any, are added in the same transaction.
  virtual Result<Conversation> create(const std::string& owner, const std::string& metadata_json,
                                      const std::vector<NewItem>& items, std::int64_t now) = 0;
  virtual Result<Conversation> get(const std::string& owner, const std::string& id) = 0;
  // Replaces the metadata (and with it the title; "" is taken as "{}"); bumps updated_at.
  virtual Result<Conversation> set_metadata(const std::string& owner, const std::string& id,
                                            const std::string& metadata_json, std::int64_t now) = 0;
  // Deletes the conversation and all its items.
  virtual Status remove(const std::string& owner, const std::string& id) = 0;
  // Newest updated first (ties: newest created row first). `search` (may be empty: everything)
  // matches, case-insensitively for ASCII and exactly otherwise (CJK), a substring of the title
  // or of any item's text; % and _ are literal. `after`: the last conversation id of the previous page.
  virtual Result<Page<Conversation>> list(const std::string& owner, const std::string& search, std::size_t limit,
                                          const std::string& after) = 0;
  // Appends the items atomically (all or none); returns them with their ids and seqs.
  virtual Result<std::vector<Item>> add_items(const std::string& owner, const std::string& id,
                                              const std::vector<NewItem>& items, std::int64_t now) = 0;
  // `after`: the last item id of the previous page (in the same order).
  virtual Result<Page<Item>> items(const std::string& owner, const std::string& id, std::size_t limit,
                                   const std::string& after, Order order) = 0;
  virtual Result<Item> item(const std::string& owner, const std::string& id, const std::string& item_id) = 0;
  // Deletes the item, and with `and_after` every later item too (edit-and-resend, regenerate);
  // returns the conversation after the deletion.
  virtual Result<Conversation> delete_item(const std::string& owner, const std::string& id,
                                           const std::string& item_id, bool and_after, std::int64_t now) = 0;
  // Data-subject rights: every conversation of any of `owners` (oldest first) with all its items
  // (in seq order); erase_owners deletes them and returns how many conversations it deleted.
  virtual Result<std::vector<std::pair<Conversation, std::vector<Item>>>> export_owners(
      const std::vector<std::string>& owners) = 0;
  virtual Result<std::int64_t> erase_owners(const std::vector<std::string>& owners) = 0;
};

// A SQLite store at `path` (WAL, foreign keys, a busy timeout), created owner-only (0600) with
// open_private_sqlite. One connection behind a mutex. The title (metadata.title when it is a
// string, else "") is kept in a column of its own, extracted with SQLite's json_extract.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace hearth::conversations
