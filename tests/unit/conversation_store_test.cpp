#include "conversations/store.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hearth::conversations {
namespace {

using test_util::TempDir;

constexpr std::int64_t kNow = 1'800'000'000;

bool id_shaped(const std::string& id, const std::string& prefix) {
  auto base62 = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (id.size() != prefix.size() + 24 || !id.starts_with(prefix)) return false;
  return std::all_of(id.begin() + static_cast<std::ptrdiff_t>(prefix.size()), id.end(), base62);
}

NewItem msg(const std::string& role, const std::string& text) {
  return {role, text, R"({"type":"message","role":")" + role + R"(","content":[{"type":"input_text","text":"x"}]})"};
}

std::vector<std::string> ids(const Page<Conversation>& p) {
  std::vector<std::string> out;
  for (const auto& c : p.data) out.push_back(c.id);
  return out;
}

std::vector<std::int64_t> seqs(const std::vector<Item>& items) {
  std::vector<std::int64_t> out;
  for (const auto& i : items) out.push_back(i.seq);
  return out;
}

class ConversationStoreTest : public ::testing::Test {
 protected:
  std::string db() const { return (dir_.path() / "conv" / "conversations.sqlite").string(); }

  void SetUp() override { reopen(); }

  void reopen() {
    store_.reset();
    auto s = open_sqlite_store(db());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }

  Conversation make(const std::string& owner, const std::string& metadata = "{}", std::vector<NewItem> items = {},
                    std::int64_t now = kNow) {
    auto c = store_->create(owner, metadata, items, now);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? *c : Conversation{};
  }

  std::vector<std::string> search(const std::string& owner, const std::string& q) {
    auto p = store_->list(owner, q, 100, "");
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? ids(*p) : std::vector<std::string>{};
  }

  std::vector<Item> all_items(const std::string& owner, const std::string& id) {
    auto p = store_->items(owner, id, 100, "", Order::kAsc);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? p->data : std::vector<Item>{};
  }

  // A count straight from the file, past the store.
  std::int64_t raw_count(const std::string& sql) {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    std::int64_t n = -1;
    if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(raw);
    return n;
  }

  void raw_exec(const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(raw);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ConversationStoreTest, CreateAndGet) {
  const Conversation c = make("user:alice", R"({"title":"Boiler"})", {msg("user", "hi"), msg("assistant", "hello")});
  EXPECT_TRUE(id_shaped(c.id, "conv_")) << c.id;
  EXPECT_EQ(c.owner, "user:alice");
  EXPECT_EQ(c.created_at, kNow);
  EXPECT_EQ(c.updated_at, kNow);
  EXPECT_EQ(c.metadata_json, R"({"title":"Boiler"})");
  EXPECT_EQ(c.item_count, 2);

  auto got = store_->get("user:alice", c.id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->id, c.id);
  EXPECT_EQ(got->metadata_json, c.metadata_json);
  EXPECT_EQ(got->item_count, 2);

  const auto items = all_items("user:alice", c.id);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(seqs(items), (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(id_shaped(items[0].id, "msg_")) << items[0].id;
  EXPECT_NE(items[0].id, items[1].id);
  EXPECT_EQ(items[0].conversation_id, c.id);
  EXPECT_EQ(items[0].role, "user");
  EXPECT_EQ(items[0].text, "hi");
  EXPECT_EQ(items[0].body_json, msg("user", "hi").body_json);
  EXPECT_EQ(items[1].created_at, kNow);

  EXPECT_NE(make("user:alice").id, c.id);
}

TEST_F(ConversationStoreTest, MetadataMustBeAJsonObject) {
  for (const char* bad : {"[1]", "not json", "\"title\"", "{\"a\":", "42"}) {
    auto c = store_->create("u", bad, {}, kNow);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(raw_count("SELECT count(*) FROM conversations"), 0);
  const Conversation c = make("u", "");
  EXPECT_EQ(c.metadata_json, "{}");
  auto set = store_->set_metadata("u", c.id, "[]", kNow + 1);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ConversationStoreTest, ListNewestUpdatedFirstWithCursorPaging) {
  std::vector<std::string> made;
  for (int i = 0; i < 5; ++i) made.push_back(make("u", "{}", {}, kNow + i).id);
  make("other", "{}", {}, kNow + 100);

  auto p1 = store_->list("u", "", 2, "");
  ASSERT_TRUE(p1.ok()) << p1.error().message;
  EXPECT_EQ(ids(*p1), (std::vector<std::string>{made[4], made[3]}));
  EXPECT_TRUE(p1->has_more);
  auto p2 = store_->list("u", "", 2, made[3]);
  ASSERT_TRUE(p2.ok()) << p2.error().message;
  EXPECT_EQ(ids(*p2), (std::vector<std::string>{made[2], made[1]}));
  EXPECT_TRUE(p2->has_more);
  auto p3 = store_->list("u", "", 2, made[1]);
  ASSERT_TRUE(p3.ok()) << p3.error().message;
  EXPECT_EQ(ids(*p3), (std::vector<std::string>{made[0]}));
  EXPECT_FALSE(p3->has_more);

  // An item added to the oldest makes it the newest updated.
  ASSERT_TRUE(store_->add_items("u", made[0], {msg("user", "x")}, kNow + 50).ok());
  auto p4 = store_->list("u", "", 1, "");
  ASSERT_TRUE(p4.ok());
  EXPECT_EQ(ids(*p4), (std::vector<std::string>{made[0]}));
  EXPECT_TRUE(p4->has_more);
}

TEST_F(ConversationStoreTest, EqualUpdatedAtPagesStablyByRowid) {
  std::vector<std::string> made;
  for (int i = 0; i < 4; ++i) made.push_back(make("u").id);  // all at kNow
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto p = store_->list("u", "", 1, after);
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_EQ(p->data.size(), 1u);
    seen.push_back(p->data[0].id);
    after = p->data[0].id;
    if (!p->has_more) break;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{made[3], made[2], made[1], made[0]}));
}

TEST_F(ConversationStoreTest, UnknownCursorIsInvalidArgument) {
  const Conversation theirs = make("bob");
  make("u");
  for (const std::string& after : {std::string("conv_nope"), theirs.id}) {
    auto p = store_->list("u", "", 10, after);
    ASSERT_FALSE(p.ok()) << after;
    EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(p.error().message.find(after), std::string::npos) << p.error().message;
    EXPECT_EQ(p.error().param, "after");
  }
  const Conversation c = make("u", "{}", {msg("user", "a")});
  auto items = store_->items("u", c.id, 10, "msg_nope", Order::kAsc);
  ASSERT_FALSE(items.ok());
  EXPECT_EQ(items.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(items.error().message.find("msg_nope"), std::string::npos) << items.error().message;
}

TEST_F(ConversationStoreTest, SearchEnglishIsCaseInsensitive) {
  const auto a = make("u", R"({"title":"Boiler Pressure Check"})").id;
  const auto b = make("u", "{}", {msg("user", "hello"), msg("assistant", "The Quick Brown FOX jumps")}).id;
  make("u", R"({"title":"Unrelated"})", {msg("user", "nothing here")});
  EXPECT_EQ(search("u", "boiler"), (std::vector<std::string>{a}));
  EXPECT_EQ(search("u", "PRESSURE check"), (std::vector<std::string>{a}));
  EXPECT_EQ(search("u", "quick brown fox"), (std::vector<std::string>{b}));
  EXPECT_EQ(search("u", "qUiCk"), (std::vector<std::string>{b}));
  EXPECT_TRUE(search("u", "zebra").empty());
  EXPECT_EQ(search("u", "").size(), 3u);
}

TEST_F(ConversationStoreTest, SearchChineseMatchesExactly) {
  const auto a = make("u", R"({"title":"锅炉压力报告"})").id;
  const auto b = make("u", "{}", {msg("user", "请检查锅炉压力是否正常")}).id;
  make("u", R"({"title":"锅炉温度"})", {msg("user", "压力表读数")});
  const auto found = search("u", "锅炉压力");
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()), (std::set<std::string>{a, b}));
  EXPECT_TRUE(search("u", "锅炉压力表").empty());
}

TEST_F(ConversationStoreTest, SearchTreatsWildcardsLiterally) {
  const auto pct = make("u", "{}", {msg("user", "I am 100% sure")}).id;
  make("u", "{}", {msg("user", "I am 100 percent sure")});
  const auto under = make("u", R"({"title":"snake_case names"})").id;
  make("u", R"({"title":"snakeXcase names"})");
  const auto slash = make("u", "{}", {msg("user", R"(C:\path\to)")}).id;
  make("u", "{}", {msg("user", "C:/path/to")});
  EXPECT_EQ(search("u", "%"), (std::vector<std::string>{pct}));
  EXPECT_EQ(search("u", "100%"), (std::vector<std::string>{pct}));
  EXPECT_EQ(search("u", "0% s"), (std::vector<std::string>{pct}));
  EXPECT_EQ(search("u", "_"), (std::vector<std::string>{under}));
  EXPECT_EQ(search("u", "e_c"), (std::vector<std::string>{under}));
  EXPECT_EQ(search("u", R"(\p)"), (std::vector<std::string>{slash}));
  EXPECT_EQ(search("u", R"(\)"), (std::vector<std::string>{slash}));
}

TEST_F(ConversationStoreTest, SearchIsPerOwnerAndPages) {
  make("bob", R"({"title":"report"})");
  std::vector<std::string> made;
  for (int i = 0; i < 3; ++i) made.push_back(make("u", R"({"title":"report"})", {}, kNow + i).id);
  make("u", R"({"title":"other"})", {}, kNow + 10);
  auto p1 = store_->list("u", "REPORT", 2, "");
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(ids(*p1), (std::vector<std::string>{made[2], made[1]}));
  EXPECT_TRUE(p1->has_more);
  auto p2 = store_->list("u", "REPORT", 2, made[1]);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(ids(*p2), (std::vector<std::string>{made[0]}));
  EXPECT_FALSE(p2->has_more);

  auto huge = store_->list("u", std::string(Store::kMaxSearchBytes + 1, 'a'), 10, "");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ConversationStoreTest, AnotherOwnerSeesNotFoundEverywhere) {
  const Conversation c = make("user:alice", R"({"title":"secret"})", {msg("user", "private text")});
  const std::string item_id = all_items("user:alice", c.id).at(0).id;
  const std::string expected = "no conversation '" + c.id + "'";
  auto is_not_found = [&](const Error& e) {
    EXPECT_EQ(e.code, ErrorCode::kNotFound);
    EXPECT_EQ(e.message, expected);
  };
  const std::string bob = "user:bob";
  auto g = store_->get(bob, c.id);
  ASSERT_FALSE(g.ok());
  is_not_found(g.error());
  auto m = store_->set_metadata(bob, c.id, R"({"title":"pwned"})", kNow + 1);
  ASSERT_FALSE(m.ok());
  is_not_found(m.error());
  auto r = store_->remove(bob, c.id);
  ASSERT_FALSE(r.ok());
  is_not_found(r.error());
  auto a = store_->add_items(bob, c.id, {msg("user", "x")}, kNow + 1);
  ASSERT_FALSE(a.ok());
  is_not_found(a.error());
  auto its = store_->items(bob, c.id, 10, "", Order::kAsc);
  ASSERT_FALSE(its.ok());
  is_not_found(its.error());
  auto it = store_->item(bob, c.id, item_id);
  ASSERT_FALSE(it.ok());
  is_not_found(it.error());
  auto d = store_->delete_item(bob, c.id, item_id, true, kNow + 1);
  ASSERT_FALSE(d.ok());
  is_not_found(d.error());
  EXPECT_TRUE(search(bob, "").empty());
  EXPECT_TRUE(search(bob, "private").empty());
  auto ex = store_->export_owners({bob});
  ASSERT_TRUE(ex.ok());
  EXPECT_TRUE(ex->empty());

  // A conversation that does not exist reads the same.
  auto none = store_->get("user:alice", "conv_doesnotexist");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(none.error().message, "no conversation 'conv_doesnotexist'");

  // Nothing changed for alice.
  auto mine = store_->get("user:alice", c.id);
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine->metadata_json, R"({"title":"secret"})");
  EXPECT_EQ(mine->updated_at, kNow);
  EXPECT_EQ(mine->item_count, 1);
  EXPECT_EQ(all_items("user:alice", c.id).size(), 1u);
}

TEST_F(ConversationStoreTest, UnknownItemIsNotFoundNamingIt) {
  const Conversation c = make("u", "{}", {msg("user", "a")});
  const Conversation other = make("u", "{}", {msg("user", "b")});
  const std::string others_item = all_items("u", other.id).at(0).id;
  for (const std::string& item_id : {std::string("msg_nope"), others_item}) {
    auto it = store_->item("u", c.id, item_id);
    ASSERT_FALSE(it.ok());
    EXPECT_EQ(it.error().code, ErrorCode::kNotFound);
    EXPECT_NE(it.error().message.find(item_id), std::string::npos) << it.error().message;
    auto d = store_->delete_item("u", c.id, item_id, false, kNow + 1);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kNotFound);
    EXPECT_NE(d.error().message.find(item_id), std::string::npos) << d.error().message;
  }
  EXPECT_EQ(all_items("u", other.id).size(), 1u);
  auto got = store_->get("u", c.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->updated_at, kNow);
}

TEST_F(ConversationStoreTest, AddAndDeleteItems) {
  const Conversation c = make("u");
  EXPECT_EQ(c.item_count, 0);
  auto added = store_->add_items("u", c.id, {msg("user", "1"), msg("assistant", "2"), msg("user", "3")}, kNow + 1);
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(seqs(*added), (std::vector<std::int64_t>{1, 2, 3}));
  auto more = store_->add_items("u", c.id, {msg("assistant", "4"), msg("user", "5")}, kNow + 2);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(seqs(*more), (std::vector<std::int64_t>{4, 5}));
  auto one = store_->item("u", c.id, (*more)[0].id);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->text, "4");
  EXPECT_EQ(one->seq, 4);
  auto got = store_->get("u", c.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->item_count, 5);
  EXPECT_EQ(got->updated_at, kNow + 2);

  // One item: the rest stay, in order.
  auto d1 = store_->delete_item("u", c.id, (*added)[1].id, false, kNow + 3);
  ASSERT_TRUE(d1.ok()) << d1.error().message;
  EXPECT_EQ(d1->item_count, 4);
  EXPECT_EQ(d1->updated_at, kNow + 3);
  EXPECT_EQ(seqs(all_items("u", c.id)), (std::vector<std::int64_t>{1, 3, 4, 5}));
  auto gone = store_->item("u", c.id, (*added)[1].id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);

  // And after: item 3 and every later one (edit-and-resend).
  auto d2 = store_->delete_item("u", c.id, (*added)[2].id, true, kNow + 4);
  ASSERT_TRUE(d2.ok()) << d2.error().message;
  EXPECT_EQ(d2->item_count, 1);
  EXPECT_EQ(d2->updated_at, kNow + 4);
  const auto left = all_items("u", c.id);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].text, "1");

  // seq continues after the last one left.
  auto again = store_->add_items("u", c.id, {msg("user", "3b")}, kNow + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(seqs(*again), (std::vector<std::int64_t>{2}));
  auto more2 = store_->add_items("u", c.id, {msg("user", "4b")}, kNow + 6);
  ASSERT_TRUE(more2.ok());
  EXPECT_EQ(seqs(*more2), (std::vector<std::int64_t>{3}));
  ASSERT_TRUE(store_->delete_item("u", c.id, left[0].id, false, kNow + 7).ok());
  auto after_gap = store_->add_items("u", c.id, {msg("user", "5b")}, kNow + 8);
  ASSERT_TRUE(after_gap.ok());
  EXPECT_EQ(seqs(*after_gap), (std::vector<std::int64_t>{4}));
  auto final_state = store_->get("u", c.id);
  ASSERT_TRUE(final_state.ok());
  EXPECT_EQ(final_state->item_count, 3);
  EXPECT_EQ(raw_count("SELECT count(*) FROM conversation_items WHERE conversation_id = '" + c.id + "'"), 3);
}

TEST_F(ConversationStoreTest, ItemsPageBothWays) {
  std::vector<NewItem> batch;
  for (int i = 1; i <= 5; ++i) batch.push_back(msg("user", std::to_string(i)));
  const Conversation c = make("u", "{}", batch);
  auto a1 = store_->items("u", c.id, 2, "", Order::kAsc);
  ASSERT_TRUE(a1.ok());
  EXPECT_EQ(seqs(a1->data), (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(a1->has_more);
  auto a2 = store_->items("u", c.id, 2, a1->data.back().id, Order::kAsc);
  ASSERT_TRUE(a2.ok());
  EXPECT_EQ(seqs(a2->data), (std::vector<std::int64_t>{3, 4}));
  EXPECT_TRUE(a2->has_more);
  auto a3 = store_->items("u", c.id, 2, a2->data.back().id, Order::kAsc);
  ASSERT_TRUE(a3.ok());
  EXPECT_EQ(seqs(a3->data), (std::vector<std::int64_t>{5}));
  EXPECT_FALSE(a3->has_more);

  auto d1 = store_->items("u", c.id, 3, "", Order::kDesc);
  ASSERT_TRUE(d1.ok());
  EXPECT_EQ(seqs(d1->data), (std::vector<std::int64_t>{5, 4, 3}));
  EXPECT_TRUE(d1->has_more);
  auto d2 = store_->items("u", c.id, 3, d1->data.back().id, Order::kDesc);
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(seqs(d2->data), (std::vector<std::int64_t>{2, 1}));
  EXPECT_FALSE(d2->has_more);

  auto exact = store_->items("u", c.id, 5, "", Order::kAsc);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->data.size(), 5u);
  EXPECT_FALSE(exact->has_more);
}

TEST_F(ConversationStoreTest, MetadataUpdateBumpsUpdatedAtAndTitle) {
  const Conversation c = make("u", R"({"title":"Old name"})");
  const Conversation newer = make("u", "{}", {}, kNow + 5);
  EXPECT_EQ(search("u", "old name"), (std::vector<std::string>{c.id}));
  auto m = store_->set_metadata("u", c.id, R"({"title":"Fresh 标题","topic":"x"})", kNow + 10);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->updated_at, kNow + 10);
  EXPECT_EQ(m->created_at, kNow);
  EXPECT_EQ(m->metadata_json, R"({"title":"Fresh 标题","topic":"x"})");
  EXPECT_TRUE(search("u", "old name").empty());
  EXPECT_EQ(search("u", "fresh"), (std::vector<std::string>{c.id}));
  EXPECT_EQ(search("u", "标题"), (std::vector<std::string>{c.id}));
  EXPECT_EQ(search("u", ""), (std::vector<std::string>{c.id, newer.id}));  // now the newest updated

  // A title that is not a string is no title; "topic" is not searched.
  ASSERT_TRUE(store_->set_metadata("u", c.id, R"({"title":12345,"topic":"boiler"})", kNow + 11).ok());
  EXPECT_TRUE(search("u", "12345").empty());
  EXPECT_TRUE(search("u", "boiler").empty());
  EXPECT_TRUE(search("u", "fresh").empty());
}

TEST_F(ConversationStoreTest, RemoveDeletesItsItems) {
  const Conversation c = make("u", "{}", {msg("user", "a"), msg("assistant", "b")});
  const Conversation keep = make("u", "{}", {msg("user", "c")});
  ASSERT_TRUE(store_->remove("u", c.id).ok());
  auto g = store_->get("u", c.id);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kNotFound);
  auto again = store_->remove("u", c.id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(raw_count("SELECT count(*) FROM conversation_items WHERE conversation_id = '" + c.id + "'"), 0);
  EXPECT_EQ(raw_count("SELECT count(*) FROM conversation_items"), 1);
  EXPECT_EQ(search("u", ""), (std::vector<std::string>{keep.id}));
}

TEST_F(ConversationStoreTest, AddItemsIsAtomic) {
  const Conversation c = make("u", "{}", {msg("user", "first")});
  // A trigger past the store makes the second insert of a batch fail.
  raw_exec("CREATE TRIGGER boom BEFORE INSERT ON conversation_items WHEN NEW.text = 'boom' "
           "BEGIN SELECT RAISE(ABORT, 'boom'); END");
  auto added = store_->add_items("u", c.id, {msg("user", "ok"), msg("user", "boom")}, kNow + 1);
  ASSERT_FALSE(added.ok());
  const auto items = all_items("u", c.id);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].text, "first");
  auto got = store_->get("u", c.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->item_count, 1);
  EXPECT_EQ(got->updated_at, kNow);

  auto created = store_->create("u", "{}", {msg("user", "ok"), msg("user", "boom")}, kNow + 2);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(search("u", ""), (std::vector<std::string>{c.id}));
  // The store still works after the rollbacks.
  auto fine = store_->add_items("u", c.id, {msg("user", "second")}, kNow + 3);
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_EQ(seqs(*fine), (std::vector<std::int64_t>{2}));
}

TEST_F(ConversationStoreTest, ExportAndEraseByOwners) {
  const Conversation a1 = make("user:alice", R"({"title":"one"})", {msg("user", "a"), msg("assistant", "b")}, kNow);
  const Conversation a2 = make("hk-Ab12", "{}", {msg("user", "c")}, kNow + 1);
  const Conversation b1 = make("user:bob", "{}", {msg("user", "d")}, kNow + 2);
  const Conversation keep = make("user:carol", "{}", {msg("user", "e")}, kNow + 3);

  auto ex = store_->export_owners({"user:alice", "hk-Ab12", "user:bob", "user:alice"});
  ASSERT_TRUE(ex.ok()) << ex.error().message;
  ASSERT_EQ(ex->size(), 3u);
  std::set<std::string> exported;
  for (const auto& [conv, items] : *ex) {
    exported.insert(conv.id);
    EXPECT_EQ(static_cast<std::int64_t>(items.size()), conv.item_count);
    for (const auto& i : items) EXPECT_EQ(i.conversation_id, conv.id);
  }
  EXPECT_EQ(exported, (std::set<std::string>{a1.id, a2.id, b1.id}));
  EXPECT_EQ((*ex)[0].first.id, a1.id);
  ASSERT_EQ((*ex)[0].second.size(), 2u);
  EXPECT_EQ((*ex)[0].second[0].text, "a");
  EXPECT_EQ((*ex)[0].second[1].text, "b");
  EXPECT_EQ((*ex)[0].first.metadata_json, R"({"title":"one"})");

  auto none = store_->export_owners({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto erased = store_->erase_owners({"user:alice", "hk-Ab12", "user:bob", "user:alice", "nobody"});
  ASSERT_TRUE(erased.ok()) << erased.error().message;
  EXPECT_EQ(*erased, 3);
  EXPECT_TRUE(search("user:alice", "").empty());
  EXPECT_TRUE(search("hk-Ab12", "").empty());
  EXPECT_TRUE(search("user:bob", "").empty());
  EXPECT_EQ(search("user:carol", ""), (std::vector<std::string>{keep.id}));
  EXPECT_EQ(raw_count("SELECT count(*) FROM conversation_items"), 1);
  auto after = store_->export_owners({"user:alice"});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
  auto zero = store_->erase_owners({"user:alice"});
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0);
}

TEST_F(ConversationStoreTest, DataPersistsAcrossReopen) {
  const Conversation c = make("u", R"({"title":"Kept"})", {msg("user", "remember me")});
  ASSERT_TRUE(store_->add_items("u", c.id, {msg("assistant", "ok")}, kNow + 1).ok());
  reopen();
  auto got = store_->get("u", c.id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->metadata_json, R"({"title":"Kept"})");
  EXPECT_EQ(got->item_count, 2);
  EXPECT_EQ(got->updated_at, kNow + 1);
  EXPECT_EQ(seqs(all_items("u", c.id)), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(search("u", "kept"), (std::vector<std::string>{c.id}));
  EXPECT_EQ(search("u", "REMEMBER"), (std::vector<std::string>{c.id}));
  auto more = store_->add_items("u", c.id, {msg("user", "again")}, kNow + 2);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(seqs(*more), (std::vector<std::int64_t>{3}));

  struct stat st {};
  ASSERT_EQ(::stat(db().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ConversationStoreTest, RefusesANewerSchema) {
  store_.reset();
  raw_exec("PRAGMA user_version = 99");
  auto s = open_sqlite_store(db());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
}

TEST_F(ConversationStoreTest, ConcurrentAddsToDistinctConversations) {
  constexpr int kPerThread = 200;
  const Conversation a = make("u"), b = make("v");
  std::atomic<int> failures{0};
  auto work = [&](const std::string& owner, const std::string& id) {
    for (int i = 0; i < kPerThread; ++i) {
      if (!store_->add_items(owner, id, {msg("user", std::to_string(i))}, kNow + i).ok()) ++failures;
      if (i % 50 == 0 && !store_->list(owner, "1", 10, "").ok()) ++failures;
    }
  };
  std::thread t1(work, "u", a.id), t2(work, "v", b.id);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  for (const auto& [owner, id] : {std::pair{"u", a.id}, std::pair{"v", b.id}}) {
    auto got = store_->get(owner, id);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->item_count, kPerThread);
    std::vector<std::int64_t> all;
    std::string after;
    while (true) {
      auto p = store_->items(owner, id, 100, after, Order::kAsc);
      ASSERT_TRUE(p.ok());
      for (const auto& i : p->data) all.push_back(i.seq);
      if (!p->has_more) break;
      after = p->data.back().id;
    }
    ASSERT_EQ(all.size(), static_cast<std::size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(all[i], i + 1);
  }
}

TEST_F(ConversationStoreTest, AThousandItemsStayFast) {
  constexpr int kItems = 1000;
  const Conversation c = make("u");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kItems; ++i) {
    auto r = store_->add_items("u", c.id, {msg(i % 2 ? "assistant" : "user", "turn " + std::to_string(i))}, kNow + i);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  for (const Order order : {Order::kAsc, Order::kDesc}) {
    std::vector<std::int64_t> all;
    std::string after;
    int pages = 0;
    while (true) {
      auto p = store_->items("u", c.id, 100, after, order);
      ASSERT_TRUE(p.ok()) << p.error().message;
      ++pages;
      for (const auto& i : p->data) all.push_back(i.seq);
      if (!p->has_more) break;
      after = p->data.back().id;
    }
    EXPECT_EQ(pages, 10);
    ASSERT_EQ(all.size(), static_cast<std::size_t>(kItems));
    for (int i = 0; i < kItems; ++i) EXPECT_EQ(all[i], order == Order::kAsc ? i + 1 : kItems - i);
  }
  auto found = store_->list("u", "TURN 999", 10, "");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->data.size(), 1u);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2))
      << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms";
  auto got = store_->get("u", c.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->item_count, kItems);
}

}  // namespace
}  // namespace hearth::conversations
