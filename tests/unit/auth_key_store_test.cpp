#include "auth/key_store.h"
#include "temp_dir.h"

#include <algorithm>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hearth::auth {
namespace {

// hk-<10 base62>.<40 base62> (std::regex is avoided: g++ 12 warns inside it under ASan, and
// warnings are errors).
bool key_shaped(const std::string& k) {
  auto base62 = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  return k.size() == 54 && k.starts_with("hk-") && k[13] == '.' && std::all_of(k.begin() + 3, k.begin() + 13, base62) &&
         std::all_of(k.begin() + 14, k.end(), base62);
}


namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kNow = 1'800'000'000;

using test_util::TempDir;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class KeyStoreTest : public ::testing::Test {
 protected:
  std::string db() const { return (dir_.path() / "auth.sqlite").string(); }
  std::string secret() const { return (dir_.path() / "auth.secret").string(); }

  std::unique_ptr<KeyStore> open_store(const std::string& secret_path = {}) {
    auto s = KeyStore::open(db(), secret_path.empty() ? secret() : secret_path);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(*s) : nullptr;
  }

  static NewKey make(KeyStore& store, const std::string& name, std::optional<std::int64_t> expires = {}) {
    KeySpec spec;
    spec.name = name;
    spec.role = "user";
    spec.expires_at = expires;
    auto k = store.create(spec, kNow);
    EXPECT_TRUE(k.ok()) << (k.ok() ? "" : k.error().message);
    return k.ok() ? std::move(*k) : NewKey{};
  }

  static void expect_unauthenticated(KeyStore& store, const std::string& key, const std::string& why,
                                     std::int64_t now = kNow) {
    auto r = store.verify(key, now);
    ASSERT_FALSE(r.ok()) << "accepted '" << key << "'";
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_THAT(r.error().message, HasSubstr(why));
    if (key.size() > 14) {
      EXPECT_THAT(r.error().message, Not(HasSubstr(key.substr(14))));
    }
  }

  TempDir dir_;
};

TEST_F(KeyStoreTest, CreateThenVerifyRoundTrip) {
  auto store = open_store();
  ASSERT_TRUE(store);
  KeySpec spec{"ci bot", "user", {"qwen", "llama"}, {"docs"}, 60, 10000, kNow + 3600};
  auto k = store->create(spec, kNow);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_TRUE(key_shaped(k->key)) << k->key;
  EXPECT_EQ(k->record.id, k->key.substr(0, 13));
  EXPECT_EQ(key_id_of(k->key), k->record.id);

  auto r = store->verify(k->key, kNow + 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, k->record.id);
  EXPECT_EQ(r->name, "ci bot");
  EXPECT_EQ(r->role, "user");
  EXPECT_EQ(r->models, (std::vector<std::string>{"qwen", "llama"}));
  EXPECT_EQ(r->collections, std::vector<std::string>{"docs"});
  EXPECT_EQ(r->rpm, 60);
  EXPECT_EQ(r->tpm, 10000);
  EXPECT_EQ(r->created_at, kNow);
  EXPECT_EQ(r->expires_at, kNow + 3600);
  EXPECT_FALSE(r->revoked_at);

  auto again = open_store();  // read back from the file
  ASSERT_TRUE(again);
  auto listed = again->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].models, r->models);
  EXPECT_TRUE(again->verify(k->key, kNow).ok());
}

TEST_F(KeyStoreTest, StoresOnlyAnHmacNeverTheKey) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const NewKey k = make(*store, "a");
  const std::string tail = k.key.substr(14);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db().c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT hash FROM api_keys WHERE id = ?1", -1, &s, nullptr), SQLITE_OK);
  sqlite3_bind_text(s, 1, k.record.id.c_str(), -1, SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  const std::string hash(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
  sqlite3_finalize(s);
  sqlite3_close(raw);
  EXPECT_TRUE(hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
              })) << hash;
  EXPECT_THAT(hash, Not(HasSubstr(tail)));

  store.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string bytes = read_bytes(db() + suffix);
    EXPECT_EQ(bytes.find(tail), std::string::npos) << "the key's secret part is in " << db() << suffix;
  }
}

TEST_F(KeyStoreTest, AnotherSecretFileFailsVerification) {
  const NewKey k = make(*open_store(), "a");
  const std::string other = (dir_.path() / "other.secret").string();
  auto store = open_store(other);
  ASSERT_TRUE(store);
  expect_unauthenticated(*store, k.key, "unknown");
}

TEST_F(KeyStoreTest, MalformedAndWrongKeysAreUnauthenticated) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const NewKey k = make(*store, "a");
  ASSERT_TRUE(store->verify(k.key, kNow).ok());
  std::string bad_char = k.key, no_dot = k.key, wrong_prefix = k.key, wrong_tail = k.key;
  bad_char[20] = '!';
  no_dot[13] = '_';
  wrong_prefix[0] = 'x';
  wrong_tail.back() = wrong_tail.back() == 'a' ? 'b' : 'a';
  for (const std::string& key : {std::string(), std::string("hk-"), k.key.substr(0, 53), k.key + "A", bad_char,
                                 no_dot, wrong_prefix, " " + k.key.substr(1)}) {
    SCOPED_TRACE(key);
    expect_unauthenticated(*store, key, "malformed");
  }
  expect_unauthenticated(*store, wrong_tail, "unknown");
  EXPECT_FALSE(key_id_of(bad_char));
}

TEST_F(KeyStoreTest, RevokedKeysFailAndUnknownIdsAreNotFound) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const NewKey k = make(*store, "a");
  const NewKey other = make(*store, "b");
  auto r = store->revoke(k.record.id, kNow + 5);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->revoked_at, kNow + 5);
  expect_unauthenticated(*store, k.key, "revoked");
  EXPECT_TRUE(store->verify(other.key, kNow).ok());
  auto again = store->revoke(k.record.id, kNow + 9);  // keeps the first time
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->revoked_at, kNow + 5);
  auto missing = store->revoke("hk-0000000000", kNow);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(KeyStoreTest, ExpiredKeysFail) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const NewKey k = make(*store, "a", kNow + 100);
  EXPECT_TRUE(store->verify(k.key, kNow + 99).ok());
  expect_unauthenticated(*store, k.key, "expired", kNow + 100);
}

TEST_F(KeyStoreTest, RejectsBadSpecs) {
  auto store = open_store();
  ASSERT_TRUE(store);
  KeySpec ok{"n", "user"};
  for (auto [spec, param] : std::vector<std::pair<KeySpec, std::string>>{
           {KeySpec{"", "user"}, "name"},
           {KeySpec{std::string(65, 'x'), "user"}, "name"},
           {KeySpec{"a\nb", "user"}, "name"},
           {KeySpec{"n", ""}, "role"},
           {KeySpec{"n", "user", {""}}, "models"},
           {KeySpec{"n", "user", {}, {}, -1}, "rpm"},
           {KeySpec{"n", "user", {}, {}, 0, -5}, "tpm"},
           {KeySpec{"n", "user", {}, {}, 0, 0, kNow}, "expires_at"}}) {
    auto r = store->create(spec, kNow);
    ASSERT_FALSE(r.ok()) << param;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().param, param);
  }
  EXPECT_TRUE(store->create(ok, kNow).ok());
}

// Polls `cond` until it holds or `seconds` pass.
template <typename F>
bool eventually(F cond, double seconds = 5) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

TEST_F(KeyStoreTest, SeesKeysCreatedAndRevokedByAnotherInstance) {
  auto server = open_store();
  auto cli = open_store();
  ASSERT_TRUE(server && cli);
  const NewKey k = make(*cli, "from the cli");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return server->verify(k.key, kNow).ok(); }));
  ASSERT_TRUE(cli->revoke(k.record.id, kNow).ok());
  EXPECT_TRUE(eventually([&] {
    auto r = server->verify(k.key, kNow);
    return !r.ok() && r.error().message.find("revoked") != std::string::npos;
  }));
  // Twice the reload interval, with room for a slow machine.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

std::optional<std::int64_t> last_used_in_file(KeyStore& fresh, const std::string& id) {
  auto keys = fresh.list();
  EXPECT_TRUE(keys.ok());
  for (const KeyRecord& r : *keys) {
    if (r.id == id) return r.last_used_at;
  }
  return std::nullopt;
}

TEST_F(KeyStoreTest, TouchWritesLastUseAtMostOnceAMinute) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const NewKey k = make(*store, "a");
  const std::string& id = k.record.id;
  EXPECT_FALSE(last_used_in_file(*open_store(), id));
  store->touch(id, kNow + 10);
  EXPECT_EQ(last_used_in_file(*open_store(), id), kNow + 10);
  store->touch(id, kNow + 40);
  EXPECT_EQ(last_used_in_file(*open_store(), id), kNow + 10);  // not written yet
  EXPECT_EQ(last_used_in_file(*store, id), kNow + 40);         // but known in memory
  store->touch(id, kNow + 70);
  EXPECT_EQ(last_used_in_file(*open_store(), id), kNow + 70);
  store->touch("hk-0000000000", kNow);  // unknown ids are ignored
}

TEST_F(KeyStoreTest, SecretFileIsOwnerOnlyAndChecked) {
  ASSERT_TRUE(open_store());
  struct stat st {};
  ASSERT_EQ(::stat(secret().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  const std::string before = read_bytes(secret());
  ASSERT_TRUE(open_store());
  EXPECT_EQ(read_bytes(secret()), before);  // opened again, not replaced

  ASSERT_EQ(::chmod(secret().c_str(), 0644), 0);
  auto r = KeyStore::open(db(), secret());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr(secret()));
  EXPECT_THAT(r.error().message, HasSubstr("chmod 600"));

  const std::string short_secret = (dir_.path() / "short.secret").string();
  std::ofstream(short_secret) << "too short";
  ASSERT_EQ(::chmod(short_secret.c_str(), 0600), 0);
  auto s = KeyStore::open(db(), short_secret);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr(short_secret));
  EXPECT_THAT(s.error().message, HasSubstr("not 32"));
}

TEST_F(KeyStoreTest, SchemaVersionAndWal) {
  ASSERT_TRUE(open_store());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db().c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  auto pragma = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, sql, -1, &s, nullptr), SQLITE_OK);
    std::string out = sqlite3_step(s) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(s, 0)) : "";
    sqlite3_finalize(s);
    return out;
  };
  EXPECT_EQ(pragma("PRAGMA user_version"), "1");
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  pragma("PRAGMA user_version = 99");
  sqlite3_close(raw);
  auto r = KeyStore::open(db(), secret());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("schema version 99"));
}

TEST_F(KeyStoreTest, ConcurrentVerifyWhileKeysChange) {
  auto store = open_store();
  ASSERT_TRUE(store);
  std::vector<NewKey> stable;
  for (int i = 0; i < 8; ++i) stable.push_back(make(*store, "stable " + std::to_string(i)));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, verified{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); !stop.load(); ++i) {
        const NewKey& k = stable[i % stable.size()];
        auto r = store->verify(k.key, kNow);
        if (!r.ok() || r->id != k.record.id) failures.fetch_add(1);
        store->touch(k.record.id, kNow + static_cast<std::int64_t>(i % 200));
        verified.fetch_add(1);
      }
    });
  }
  auto other = open_store();  // changes from another connection make the readers reload
  for (int i = 0; i < 40; ++i) {
    KeyStore& writer = i % 2 ? *store : *other;
    const NewKey k = make(writer, "churn " + std::to_string(i));
    ASSERT_TRUE(writer.revoke(k.record.id, kNow).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(i % 5 == 0 ? 120 : 2));
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(verified.load(), 0);
  auto all = store->list();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 48u);
}

// A loose bound, for regressions only: a warm verify is a few microseconds.
TEST_F(KeyStoreTest, TenThousandWarmVerifiesAreFast) {
  auto store = open_store();
  ASSERT_TRUE(store);
  std::vector<NewKey> keys;
  for (int i = 0; i < 100; ++i) keys.push_back(make(*store, std::to_string(i) + " key"));
  ASSERT_TRUE(store->verify(keys[0].key, kNow).ok());
  const auto t0 = std::chrono::steady_clock::now();
  int ok = 0;
  for (int i = 0; i < 10000; ++i) ok += store->verify(keys[static_cast<std::size_t>(i) % keys.size()].key, kNow).ok();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(ok, 10000);
  EXPECT_LT(elapsed, std::chrono::milliseconds(500))
      << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() / 10000.0 << " us per verify";
}

}  // namespace
}  // namespace hearth::auth
