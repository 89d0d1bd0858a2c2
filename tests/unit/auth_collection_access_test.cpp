#include "auth/collection_access.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace hearth::auth {
namespace {

namespace fs = std::filesystem;

using test_util::TempDir;

// Polls `cond` with short sleeps until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool has(const std::vector<std::string>& list, const std::string& e) {
  return std::find(list.begin(), list.end(), e) != list.end();
}

class CollectionAccessTest : public ::testing::Test {
 protected:
  std::string db() const { return (dir_.path() / "auth.sqlite").string(); }

  std::unique_ptr<CollectionAccessStore> open_store() {
    auto s = CollectionAccessStore::open(db());
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(*s) : nullptr;
  }

  static CollectionAccess acl(const std::string& collection, const std::string& owner,
                              std::vector<std::string> readers = {}, std::vector<std::string> writers = {}) {
    CollectionAccess a;
    a.collection = collection;
    a.owner = owner;
    a.readers = std::move(readers);
    a.writers = std::move(writers);
    a.updated_at = 1'800'000'000;
    return a;
  }

  static void put_ok(CollectionAccessStore& store, const CollectionAccess& a) {
    auto st = store.put(a);
    ASSERT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
  }

  TempDir dir_;
};

constexpr auto kRead = CollectionRight::kRead;
constexpr auto kWrite = CollectionRight::kWrite;
constexpr auto kManage = CollectionRight::kManage;

TEST_F(CollectionAccessTest, NoEntryAllowsEverything) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->get("docs").has_value());
  for (auto right : {kRead, kWrite, kManage}) {
    EXPECT_TRUE(store->allows("docs", "hk-Anybody123", "user", right));
    EXPECT_TRUE(store->allows("docs", "", "", right));
  }
}

TEST_F(CollectionAccessTest, OwnerReaderWriterRights) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  put_ok(*store, acl("docs", "user:alice", {"user:bob"}, {"user:carol"}));

  EXPECT_TRUE(store->allows("docs", "user:alice", "user", kRead));
  EXPECT_TRUE(store->allows("docs", "user:alice", "user", kWrite));
  EXPECT_TRUE(store->allows("docs", "user:alice", "user", kManage));

  EXPECT_TRUE(store->allows("docs", "user:bob", "user", kRead));
  EXPECT_FALSE(store->allows("docs", "user:bob", "user", kWrite));
  EXPECT_FALSE(store->allows("docs", "user:bob", "user", kManage));

  EXPECT_TRUE(store->allows("docs", "user:carol", "user", kRead));
  EXPECT_TRUE(store->allows("docs", "user:carol", "user", kWrite));
  EXPECT_FALSE(store->allows("docs", "user:carol", "user", kManage));

  for (auto right : {kRead, kWrite, kManage}) {
    EXPECT_FALSE(store->allows("docs", "user:mallory", "user", right));
    EXPECT_FALSE(store->allows("docs", "", "", right));
  }
  // Other collections are unaffected.
  EXPECT_TRUE(store->allows("other", "user:mallory", "user", kManage));
}

TEST_F(CollectionAccessTest, RoleEntries) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  put_ok(*store, acl("docs", "user:alice", {"role:viewer"}, {"role:editor"}));

  EXPECT_TRUE(store->allows("docs", "hk-Someone123", "viewer", kRead));
  EXPECT_FALSE(store->allows("docs", "hk-Someone123", "viewer", kWrite));
  EXPECT_FALSE(store->allows("docs", "hk-Someone123", "viewer", kManage));

  EXPECT_TRUE(store->allows("docs", "user:dave", "editor", kRead));
  EXPECT_TRUE(store->allows("docs", "user:dave", "editor", kWrite));
  EXPECT_FALSE(store->allows("docs", "user:dave", "editor", kManage));

  EXPECT_FALSE(store->allows("docs", "user:dave", "admin", kRead));
  // "role:viewer" names a role, not a principal called "viewer".
  EXPECT_FALSE(store->allows("docs", "viewer", "user", kRead));
}

TEST_F(CollectionAccessTest, StarEntries) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  put_ok(*store, acl("public", "user:alice", {"*"}));
  put_ok(*store, acl("wiki", "user:alice", {}, {"*"}));

  EXPECT_TRUE(store->allows("public", "user:anyone", "user", kRead));
  EXPECT_FALSE(store->allows("public", "user:anyone", "user", kWrite));
  EXPECT_FALSE(store->allows("public", "user:anyone", "user", kManage));

  EXPECT_TRUE(store->allows("wiki", "hk-Anyone1234", "viewer", kRead));
  EXPECT_TRUE(store->allows("wiki", "hk-Anyone1234", "viewer", kWrite));
  EXPECT_FALSE(store->allows("wiki", "hk-Anyone1234", "viewer", kManage));
  EXPECT_TRUE(store->allows("wiki", "user:alice", "user", kManage));
}

TEST_F(CollectionAccessTest, PutGetRoundTripAndReplace) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const CollectionAccess in = acl("docs", "oidc:sub-42", {"user:bob", "role:viewer"}, {"hk-Writer1234", "*"});
  put_ok(*store, in);

  auto out = store->get("docs");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->collection, "docs");
  EXPECT_EQ(out->owner, "oidc:sub-42");
  EXPECT_EQ(out->readers, in.readers);
  EXPECT_EQ(out->writers, in.writers);
  EXPECT_EQ(out->updated_at, in.updated_at);

  // Survives reopening (read back from the database, not the cache).
  store.reset();
  store = open_store();
  ASSERT_NE(store, nullptr);
  out = store->get("docs");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->owner, "oidc:sub-42");
  EXPECT_EQ(out->readers, in.readers);
  EXPECT_EQ(out->writers, in.writers);
  EXPECT_EQ(out->updated_at, in.updated_at);

  // put replaces.
  put_ok(*store, acl("docs", "user:alice"));
  out = store->get("docs");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->owner, "user:alice");
  EXPECT_TRUE(out->readers.empty());
  EXPECT_TRUE(out->writers.empty());
}

TEST_F(CollectionAccessTest, Remove) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  put_ok(*store, acl("docs", "user:alice"));
  put_ok(*store, acl("keep", "user:alice"));
  EXPECT_FALSE(store->allows("docs", "user:bob", "user", kRead));

  ASSERT_TRUE(store->remove("docs").ok());
  EXPECT_FALSE(store->get("docs").has_value());
  EXPECT_TRUE(store->allows("docs", "user:bob", "user", kRead));
  EXPECT_TRUE(store->get("keep").has_value());
  EXPECT_TRUE(store->remove("never-there").ok());

  store.reset();
  store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->get("docs").has_value());
  EXPECT_TRUE(store->get("keep").has_value());
}

TEST(CheckAccessListsTest, Table) {
  struct Case {
    const char* what;
    std::vector<std::string> readers, writers;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"empty lists", {}, {}, true},
      {"ordinary entries", {"user:bob", "role:viewer", "*"}, {"hk-AbCdEf1234"}, true},
      {"256 bytes", {std::string(256, 'a')}, {}, true},
      {"1000 entries", std::vector<std::string>(1000, "user:bob"), {}, true},
      {"non-ASCII", {"user:\xc3\xa9lodie"}, {}, true},
      {"empty reader", {""}, {}, false},
      {"empty writer", {}, {"user:bob", ""}, false},
      {"newline", {"user:bob\n"}, {}, false},
      {"tab in writer", {}, {"user:\tbob"}, false},
      {"NUL", {std::string("user:b\0b", 8)}, {}, false},
      {"257 bytes", {std::string(257, 'a')}, {}, false},
      {"257 bytes writer", {}, {std::string(257, 'w')}, false},
      {"1001 readers", std::vector<std::string>(1001, "user:bob"), {}, false},
      {"1001 writers", {}, std::vector<std::string>(1001, "user:bob"), false},
  };
  for (const Case& c : cases) {
    CollectionAccess a;
    a.collection = "docs";
    a.owner = "user:alice";
    a.readers = c.readers;
    a.writers = c.writers;
    const Status st = check_access_lists(a);
    EXPECT_EQ(st.ok(), c.ok) << c.what;
    if (!st.ok()) {
      EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << c.what;
    }
  }
}

TEST_F(CollectionAccessTest, PutRejectsBadLists) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto st = store->put(acl("docs", "user:alice", {""}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(store->get("docs").has_value());
}

TEST_F(CollectionAccessTest, Mentioning) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  put_ok(*store, acl("a-owned", "user:bob"));
  put_ok(*store, acl("b-reads", "user:alice", {"user:bob"}));
  put_ok(*store, acl("c-writes", "user:alice", {}, {"user:bob"}));
  put_ok(*store, acl("d-other", "user:alice", {"user:carol", "*", "role:user"}));

  auto names = [](const std::vector<CollectionAccess>& v) {
    std::vector<std::string> out;
    for (const auto& a : v) out.push_back(a.collection);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(names(store->mentioning("user:bob")), (std::vector<std::string>{"a-owned", "b-reads", "c-writes"}));
  EXPECT_EQ(names(store->mentioning("user:alice")), (std::vector<std::string>{"b-reads", "c-writes", "d-other"}));
  EXPECT_EQ(names(store->mentioning("user:carol")), (std::vector<std::string>{"d-other"}));
  EXPECT_TRUE(store->mentioning("user:nobody").empty());
  // Only exact entries count, not prefixes.
  EXPECT_TRUE(store->mentioning("user:bo").empty());
}

TEST_F(CollectionAccessTest, Forget) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  put_ok(*store, acl("owned", "user:bob", {"user:carol"}, {"user:dave"}));
  put_ok(*store, acl("reads", "user:alice", {"user:bob", "user:carol"}, {"user:dave"}));
  put_ok(*store, acl("writes", "user:alice", {"role:viewer"}, {"user:bob", "user:dave"}));
  put_ok(*store, acl("untouched", "user:alice", {"user:carol"}));

  auto n = store->forget("user:bob", "erased:0123456789abcdef");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 3);

  auto owned = store->get("owned");
  ASSERT_TRUE(owned.has_value());
  EXPECT_EQ(owned->owner, "erased:0123456789abcdef");
  EXPECT_EQ(owned->readers, (std::vector<std::string>{"user:carol"}));
  EXPECT_EQ(owned->writers, (std::vector<std::string>{"user:dave"}));
  // Still private: the readers keep reading, strangers stay out, nobody manages.
  EXPECT_TRUE(store->allows("owned", "user:carol", "user", kRead));
  EXPECT_FALSE(store->allows("owned", "user:bob", "user", kRead));
  EXPECT_FALSE(store->allows("owned", "user:mallory", "user", kRead));

  auto reads = store->get("reads");
  ASSERT_TRUE(reads.has_value());
  EXPECT_EQ(reads->owner, "user:alice");
  EXPECT_EQ(reads->readers, (std::vector<std::string>{"user:carol"}));
  EXPECT_EQ(reads->writers, (std::vector<std::string>{"user:dave"}));

  auto writes = store->get("writes");
  ASSERT_TRUE(writes.has_value());
  EXPECT_EQ(writes->readers, (std::vector<std::string>{"role:viewer"}));
  EXPECT_EQ(writes->writers, (std::vector<std::string>{"user:dave"}));

  auto untouched = store->get("untouched");
  ASSERT_TRUE(untouched.has_value());
  EXPECT_EQ(untouched->readers, (std::vector<std::string>{"user:carol"}));

  EXPECT_TRUE(store->mentioning("user:bob").empty());
  auto again = store->forget("user:bob", "erased:0123456789abcdef");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);

  // Persisted.
  store.reset();
  store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->mentioning("user:bob").empty());
  ASSERT_TRUE(store->get("owned").has_value());
  EXPECT_EQ(store->get("owned")->owner, "erased:0123456789abcdef");
}

TEST_F(CollectionAccessTest, TwoStoresOnOneFileSeeEachOthersChanges) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  put_ok(*a, acl("docs", "user:alice", {"user:bob"}));
  EXPECT_TRUE(eventually([&] {
    auto got = b->get("docs");
    return got.has_value() && got->owner == "user:alice" && has(got->readers, "user:bob");
  })) << "b never saw a's put";
  EXPECT_TRUE(eventually([&] { return !b->allows("docs", "user:mallory", "user", kRead); }));

  put_ok(*b, acl("docs", "user:alice", {}, {"user:bob"}));
  EXPECT_TRUE(eventually([&] {
    auto got = a->get("docs");
    return got.has_value() && got->readers.empty() && has(got->writers, "user:bob");
  })) << "a never saw b's replacement";
  EXPECT_TRUE(eventually([&] { return a->allows("docs", "user:bob", "user", kWrite); }));

  ASSERT_TRUE(a->remove("docs").ok());
  EXPECT_TRUE(eventually([&] { return !b->get("docs").has_value(); })) << "b never saw a's remove";

  put_ok(*a, acl("owned", "user:carol", {"user:dave"}));
  ASSERT_TRUE(eventually([&] { return b->get("owned").has_value(); }));
  auto n = b->forget("user:carol", "erased");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_TRUE(eventually([&] {
    auto got = a->get("owned");
    return got.has_value() && got->owner == "erased";
  })) << "a never saw b's forget";
  EXPECT_TRUE(eventually([&] { return a->mentioning("user:carol").empty(); }));
}

}  // namespace
}  // namespace hearth::auth

namespace hearth::auth {
namespace {

// Erasure reads the current rows, not the cache (which may be half a second old): a reader added
// through another connection just before is removed, and a row deleted there is not written back.
TEST_F(CollectionAccessTest, ForgetSeesChangesMadeElsewhereAtOnce) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a->put({"docs", "user:alice", {}, {}, 1}).ok());
  ASSERT_TRUE(a->put({"gone", "user:bob", {}, {}, 1}).ok());
  (void)b->get("docs");  // b's cache now holds both rows
  ASSERT_TRUE(a->put({"docs", "user:alice", {"user:bob"}, {}, 2}).ok());
  ASSERT_TRUE(a->remove("gone").ok());
  auto n = b->forget("user:bob", "erased");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 1);
  auto fresh = open_store();
  EXPECT_FALSE(fresh->get("gone").has_value());
  ASSERT_TRUE(fresh->get("docs").has_value());
  EXPECT_TRUE(fresh->get("docs")->readers.empty());
}

}  // namespace
}  // namespace hearth::auth
