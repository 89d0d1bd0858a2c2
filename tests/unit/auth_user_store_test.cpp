#include "auth/user_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/key_store.h"
#include "temp_dir.h"

namespace hearth::auth {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kPassword = "correct horse battery";

using test_util::TempDir;

// hs-<16 base62>.<43 base62> (no std::regex: g++ 12 warns inside it under ASan).
bool token_shaped(const std::string& t) {
  auto base62 = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  return t.size() == 63 && t.starts_with("hs-") && t[19] == '.' && std::all_of(t.begin() + 3, t.begin() + 19, base62) &&
         std::all_of(t.begin() + 20, t.end(), base62);
}

bool eventually(const std::function<bool()>& cond, double seconds = 3.0) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// One SQL query's first column of every row, read through a connection of its own.
std::vector<std::string> query(const std::string& db, const std::string& sql) {
  sqlite3* raw = nullptr;
  std::vector<std::string> out;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(raw, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    out.emplace_back(p ? p : "");
  }
  sqlite3_finalize(s);
  sqlite3_close(raw);
  return out;
}

class UserStoreTest : public ::testing::Test {
 protected:
  std::string db() const { return (dir_.path() / "auth.sqlite").string(); }
  std::string secret() const { return (dir_.path() / "auth.secret").string(); }

  std::unique_ptr<UserStore> open_store(PasswordCost cost = PasswordCost::for_tests(), SessionPolicy policy = {}) {
    auto s = UserStore::open(db(), secret(), cost, policy);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(*s) : nullptr;
  }

  static UserSpec spec(const std::string& name, const std::string& password = kPassword) {
    UserSpec s;
    s.name = name;
    s.role = "user";
    s.password = password;
    return s;
  }

  static UserRecord make(UserStore& store, const std::string& name) {
    auto u = store.create(spec(name), kNow);
    EXPECT_TRUE(u.ok()) << (u.ok() ? "" : u.error().message);
    return u.ok() ? *u : UserRecord{};
  }

  static NewSession sign_in(UserStore& store, const std::string& name, std::int64_t now = kNow,
                            std::int64_t ttl_s = 0) {
    auto s = store.login(name, kPassword, now, ttl_s, "192.0.2.7", "Mozilla/5.0 (test)");
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? *s : NewSession{};
  }

  // Expects the token to fail with kUnauthenticated and a message holding `why`.
  static void expect_refused(UserStore& store, const std::string& token, std::int64_t now, const std::string& why) {
    auto r = store.verify_session(token, now);
    ASSERT_FALSE(r.ok()) << "expected: " << why;
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_THAT(r.error().message, HasSubstr(why));
    if (token.size() > 20) {
      EXPECT_THAT(r.error().message, Not(HasSubstr(token.substr(20))));  // the secret is never echoed
    }
  }

  TempDir dir_;
};

TEST_F(UserStoreTest, CreateListGet) {
  auto store = open_store();
  ASSERT_TRUE(store);
  UserSpec s = spec("alice");
  s.role = "admin";
  s.models = {"llama-3"};
  s.collections = {"handbook"};
  s.rpm = 60;
  s.tpm = 1000;
  auto a = store->create(s, kNow);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->id.size(), 12u);
  EXPECT_TRUE(a->id.starts_with("u-"));
  EXPECT_EQ(a->name, "alice");
  EXPECT_EQ(a->role, "admin");
  EXPECT_EQ(a->models, std::vector<std::string>{"llama-3"});
  EXPECT_EQ(a->collections, std::vector<std::string>{"handbook"});
  EXPECT_EQ(a->rpm, 60);
  EXPECT_EQ(a->tpm, 1000);
  EXPECT_EQ(a->created_at, kNow);
  EXPECT_FALSE(a->disabled_at || a->last_login_at || a->password_changed_at);
  make(*store, "bob");

  auto all = store->list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alice");
  EXPECT_EQ((*all)[1].name, "bob");

  for (const std::string& key : {a->id, std::string("alice"), std::string("ALICE"), std::string("ａｌｉｃｅ")}) {
    auto g = store->get(key);
    ASSERT_TRUE(g.ok()) << key;
    EXPECT_EQ(g->id, a->id);
  }
  auto missing = store->get("carol");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto dup = store->create(spec("Alice"), kNow);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().param, "name");
  EXPECT_THAT(dup.error().message, HasSubstr("already exists"));

  auto role = store->set_role("bob", "admin");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(role->role, "admin");
  EXPECT_FALSE(store->set_role("bob", "").ok());
}

TEST_F(UserStoreTest, NameValidation) {
  auto store = open_store();
  ASSERT_TRUE(store);
  struct Case {
    std::string name;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"alice", true},
      {"bob.smith@example.com", true},
      {"user_1-x", true},
      {"张伟", true},
      {"José", true},
      {"Ολγα", true},
      {std::string(64, 'a'), true},
      {"", false},
      {"has space", false},
      {std::string(65, 'b'), false},
      {"tab\there", false},
      {std::string("nul\0x", 5), false},
      {"slash/name", false},
      {"zero\u200bwidth", false},
      {"ideographic\u3000space", false},
      {"\xff\xfe", false},
      {"\u0301accent-first", false},
      {"u-ABCDEFGHIJ", false},  // shaped like a user id
      {"emoji\U0001F600", false},
  };
  for (const Case& c : cases) {
    auto r = store->create(spec(c.name), kNow);
    EXPECT_EQ(r.ok(), c.ok) << "name: " << c.name;
    if (!c.ok && !r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
      EXPECT_EQ(r.error().param, "name");
    }
  }
  // Stored in NFC: a decomposed é is the same user as a composed one.
  auto nfd = store->create(spec("Rene\u0301"), kNow);
  ASSERT_TRUE(nfd.ok());
  EXPECT_EQ(nfd->name, "René");
  EXPECT_TRUE(store->get("RENÉ").ok());
  EXPECT_FALSE(store->create(spec("rené"), kNow).ok());
}

TEST_F(UserStoreTest, PasswordPolicy) {
  auto store = open_store();
  ASSERT_TRUE(store);
  struct Case {
    std::string name, password;
    bool ok;
    std::string rule;
  };
  const std::vector<Case> cases = {
      {"p1", "123456789", false, "10..1024 bytes"},
      {"p2", "1234567890", true, ""},
      {"p3", std::string(1024, 'x'), true, ""},
      {"p4", std::string(1025, 'x'), false, "10..1024 bytes"},
      {"longusername", "longusername", false, "must not be the user name"},
      {"longername1", "LONGERNAME1", false, "must not be the user name"},
      {"p5", "", false, "10..1024 bytes"},
  };
  for (const Case& c : cases) {
    auto r = store->create(spec(c.name, c.password), kNow);
    EXPECT_EQ(r.ok(), c.ok) << c.name;
    if (!c.ok && !r.ok()) {
      EXPECT_EQ(r.error().param, "password");
      EXPECT_THAT(r.error().message, HasSubstr(c.rule));
      if (c.password.size() > 3) {
        EXPECT_THAT(r.error().message, Not(HasSubstr(c.password)));
      }
    }
  }
  auto weak = store->set_password("p2", "short", kNow);
  ASSERT_FALSE(weak.ok());
  EXPECT_THAT(weak.error().message, HasSubstr("10..1024"));
}

TEST_F(UserStoreTest, LoginAndVerify) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const UserRecord alice = make(*store, "alice");
  const NewSession s = sign_in(*store, "Alice", kNow, 3600);
  EXPECT_TRUE(token_shaped(s.token)) << s.token;
  EXPECT_EQ(session_id_of(s.token), s.session.session_id);
  EXPECT_EQ(s.session.user.id, alice.id);
  EXPECT_EQ(s.session.expires_at, kNow + 3600);
  EXPECT_EQ(s.session.user.last_login_at, kNow);

  auto v = store->verify_session(s.token, kNow + 5);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->session_id, s.session.session_id);
  EXPECT_EQ(v->user.name, "alice");
  EXPECT_EQ(v->created_at, kNow);
  EXPECT_EQ(v->expires_at, kNow + 3600);
  EXPECT_EQ(v->client_ip, "192.0.2.7");
  EXPECT_EQ(v->user_agent, "Mozilla/5.0 (test)");
  EXPECT_EQ(store->get("alice")->last_login_at, kNow);

  // Only the HMAC is stored: neither the token nor its secret part is in the file.
  for (const std::string& h : query(db(), "SELECT hash FROM sessions")) {
    EXPECT_EQ(h.size(), 64u);
    EXPECT_THAT(h, Not(HasSubstr(s.token.substr(20))));
  }
  expect_refused(*store, "hs-short", kNow, "malformed");
  std::string forged = s.token;
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  expect_refused(*store, forged, kNow, "unknown session");
  expect_refused(*store, "hs-0000000000000000." + std::string(43, 'A'), kNow, "unknown session");
  auto bad_ttl = store->login("alice", kPassword, kNow, 31 * 86400, "", "");
  ASSERT_FALSE(bad_ttl.ok());
  EXPECT_EQ(bad_ttl.error().param, "ttl_s");
  EXPECT_EQ(sign_in(*store, "alice").session.expires_at, kNow + 12 * 3600);  // the default
}

TEST_F(UserStoreTest, WrongPasswordAndUnknownUserLookAlike) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  auto wrong = store->login("alice", "not the password", kNow, 0, "", "");
  auto unknown = store->login("mallory", kPassword, kNow, 0, "", "");
  ASSERT_FALSE(wrong.ok());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(unknown.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong.error().message, "invalid user name or password");
  EXPECT_EQ(unknown.error().message, wrong.error().message);
  auto junk = store->login("", kPassword, kNow, 0, "", "");
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().message, wrong.error().message);
}

// An unknown name costs an Argon2id verification too (against a dummy hash), so that timing does
// not tell which names exist. Coarse: at a cost of some milliseconds, not far below a wrong password.
TEST_F(UserStoreTest, UnknownNameTakesAsLongAsAWrongPassword) {
  PasswordCost cost = PasswordCost::for_tests();
  cost.ops = 2;
  cost.mem = 8u << 20;
  auto store = open_store(cost);
  ASSERT_TRUE(store);
  make(*store, "alice");
  auto seconds = [&](const std::string& name, std::int64_t now) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(store->login(name, "not the password", now, 0, "", "").ok());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  (void)seconds("warm-up", kNow);  // makes the dummy hash
  std::vector<double> known, unknown;
  for (int i = 0; i < 3; ++i) {
    known.push_back(seconds("alice", kNow + 1000 * i));
    unknown.push_back(seconds("nobody" + std::to_string(i), kNow));
  }
  std::sort(known.begin(), known.end());
  std::sort(unknown.begin(), unknown.end());
  EXPECT_GT(unknown[1], 0.3 * known[1]) << "unknown " << unknown[1] << " s, known " << known[1] << " s";
}

TEST_F(UserStoreTest, DisabledUserCannotSignInAndItsSessionsEnd) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  const NewSession s = sign_in(*store, "alice");
  auto d = store->disable("alice", kNow + 10);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->disabled_at, kNow + 10);
  EXPECT_EQ(store->disable("alice", kNow + 20)->disabled_at, kNow + 10);  // keeps the first
  expect_refused(*store, s.token, kNow + 30, "user disabled");

  auto right = store->login("alice", kPassword, kNow + 40, 0, "", "");
  ASSERT_FALSE(right.ok());
  EXPECT_EQ(right.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(right.error().message, HasSubstr("disabled"));
  auto wrong = store->login("alice", "not the password", kNow + 40, 0, "", "");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "invalid user name or password");  // no hint without the password

  ASSERT_TRUE(store->enable("alice").ok());
  const NewSession again = sign_in(*store, "alice", kNow + 50);
  EXPECT_TRUE(store->verify_session(again.token, kNow + 51).ok());
  expect_refused(*store, s.token, kNow + 51, "revoked");  // the old one stays ended
}

TEST_F(UserStoreTest, LoginRehashesAtAChangedCost) {
  {
    auto weak = open_store(PasswordCost::for_tests());
    ASSERT_TRUE(weak);
    make(*weak, "alice");
    EXPECT_FALSE(*weak->password_needs_rehash("alice"));
  }
  PasswordCost stronger = PasswordCost::for_tests();
  stronger.ops = 2;
  stronger.mem = 16384;
  auto store = open_store(stronger);
  ASSERT_TRUE(store);
  const std::string before = query(db(), "SELECT password_hash FROM users")[0];
  EXPECT_TRUE(*store->password_needs_rehash("alice"));
  sign_in(*store, "alice");
  EXPECT_FALSE(*store->password_needs_rehash("alice"));
  const std::string after = query(db(), "SELECT password_hash FROM users")[0];
  EXPECT_NE(before, after);
  EXPECT_THAT(after, HasSubstr("$argon2id$"));
  EXPECT_THAT(after, HasSubstr("m=16,t=2"));
  sign_in(*store, "alice", kNow + 1);  // the new hash verifies
  EXPECT_TRUE(*open_store(PasswordCost::for_tests())->password_needs_rehash("alice"));
}

TEST_F(UserStoreTest, AbsoluteExpiry) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  const NewSession s = sign_in(*store, "alice", kNow, 100);
  EXPECT_TRUE(store->verify_session(s.token, kNow + 99).ok());
  expect_refused(*store, s.token, kNow + 100, "expired");
}

TEST_F(UserStoreTest, IdleTimeout) {
  SessionPolicy policy;
  policy.idle_timeout_s = 600;
  auto store = open_store(PasswordCost::for_tests(), policy);
  ASSERT_TRUE(store);
  make(*store, "alice");
  const NewSession s = sign_in(*store, "alice");
  EXPECT_TRUE(store->verify_session(s.token, kNow + 500).ok());
  EXPECT_TRUE(store->verify_session(s.token, kNow + 1000).ok());  // 500 s after the last use
  auto other = open_store(PasswordCost::for_tests(), policy);    // sees the use written at kNow + 1000
  EXPECT_TRUE(other->verify_session(s.token, kNow + 1050).ok());  // and writes its own
  expect_refused(*store, s.token, kNow + 1700, "without use");
  auto listed = store->sessions_of("alice", kNow + 1700);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(UserStoreTest, Logout) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  const NewSession a = sign_in(*store, "alice");
  const NewSession b = sign_in(*store, "alice");
  const NewSession c = sign_in(*store, "alice");
  std::string forged = a.token;
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  auto f = store->logout(forged, kNow);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(store->verify_session(a.token, kNow).ok());

  ASSERT_TRUE(store->logout(a.token, kNow + 1).ok());
  ASSERT_TRUE(store->logout(a.token, kNow + 2).ok());  // again: fine
  expect_refused(*store, a.token, kNow + 3, "signed out");
  ASSERT_TRUE(store->logout(b.session.session_id, kNow + 4).ok());
  expect_refused(*store, b.token, kNow + 5, "revoked");
  EXPECT_TRUE(store->verify_session(c.token, kNow + 5).ok());

  auto unknown = store->logout("hs-0000000000000000", kNow);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->logout("nonsense", kNow).error().code, ErrorCode::kInvalidArgument);

  auto all = store->sessions_of("alice");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  auto active = store->sessions_of("alice", kNow + 5);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].session_id, c.session.session_id);
  const auto revoked = std::find_if(all->begin(), all->end(), [&](const SessionInfo& i) {
    return i.session_id == a.session.session_id;
  });
  ASSERT_NE(revoked, all->end());
  EXPECT_EQ(revoked->revoked_at, kNow + 1);  // the first sign-out
  EXPECT_EQ(revoked->revoked_reason, "signed out");
}

TEST_F(UserStoreTest, SetPasswordRevokesSessions) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  make(*store, "bob");
  const NewSession a1 = sign_in(*store, "alice");
  const NewSession a2 = sign_in(*store, "alice");
  const NewSession b = sign_in(*store, "bob");
  auto changed = store->set_password("alice", "a brand new password", kNow + 10);
  ASSERT_TRUE(changed.ok()) << changed.error().message;
  EXPECT_EQ(changed->password_changed_at, kNow + 10);
  expect_refused(*store, a1.token, kNow + 11, "password changed");
  expect_refused(*store, a2.token, kNow + 11, "password changed");
  EXPECT_TRUE(store->verify_session(b.token, kNow + 11).ok());  // other users untouched
  EXPECT_FALSE(store->login("alice", kPassword, kNow + 12, 0, "", "").ok());
  EXPECT_TRUE(store->login("alice", "a brand new password", kNow + 12, 0, "", "").ok());
  EXPECT_EQ(store->set_password("nobody", "a brand new password", kNow).error().code, ErrorCode::kNotFound);
}

TEST_F(UserStoreTest, RemoveDeletesUserAndSessions) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  make(*store, "bob");
  const NewSession a1 = sign_in(*store, "alice");
  sign_in(*store, "alice");
  const NewSession b = sign_in(*store, "bob");
  auto removed = store->remove("alice");
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, 3);  // the user and its two sessions
  EXPECT_EQ(store->get("alice").error().code, ErrorCode::kNotFound);
  expect_refused(*store, a1.token, kNow, "unknown session");
  EXPECT_EQ(query(db(), "SELECT count(*) FROM sessions")[0], "1");
  EXPECT_EQ(query(db(), "SELECT count(*) FROM users WHERE name = 'alice'")[0], "0");
  EXPECT_TRUE(store->verify_session(b.token, kNow).ok());
  EXPECT_EQ(store->remove("alice").error().code, ErrorCode::kNotFound);
  make(*store, "alice");  // the name is free again
}

TEST_F(UserStoreTest, SecondInstanceSeesChanges) {
  auto server = open_store();
  auto cli = open_store();
  ASSERT_TRUE(server && cli);
  make(*cli, "alice");
  const NewSession s = sign_in(*cli, "alice");  // signed in through one, used through the other
  auto v = server->verify_session(s.token, kNow + 1);
  ASSERT_TRUE(v.ok()) << v.error().message;  // found at once: an unknown id checks for changes
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(cli->logout(s.session.session_id, kNow + 2).ok());
  EXPECT_TRUE(eventually([&] {
    auto r = server->verify_session(s.token, kNow + 3);
    return !r.ok() && r.error().message.find("revoked") != std::string::npos;
  }));
  const NewSession s2 = sign_in(*server, "alice", kNow + 4);
  ASSERT_TRUE(cli->verify_session(s2.token, kNow + 5).ok());
  ASSERT_TRUE(server->disable("alice", kNow + 6).ok());
  EXPECT_TRUE(eventually([&] { return !cli->verify_session(s2.token, kNow + 7).ok(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}

TEST_F(UserStoreTest, ThrottlesFailedSignIns) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  make(*store, "bob");
  for (int i = 0; i < 5; ++i) {
    auto r = store->login(i % 2 ? "ALICE" : "alice", "wrong password", kNow + i, 0, "", "");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated) << i;
  }
  auto locked = store->login("alice", kPassword, kNow + 10, 0, "", "");  // even the right password
  ASSERT_FALSE(locked.ok());
  EXPECT_EQ(locked.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(locked.error().retry_after_s, 15 * 60 - 10);
  EXPECT_TRUE(store->login("bob", kPassword, kNow + 10, 0, "", "").ok());  // per name
  auto still = store->login("alice", kPassword, kNow + 899, 0, "", "");
  ASSERT_FALSE(still.ok());
  EXPECT_EQ(still.error().retry_after_s, 1);
  EXPECT_TRUE(store->login("alice", kPassword, kNow + 900, 0, "", "").ok());  // the first failure aged out
  EXPECT_TRUE(store->login("alice", kPassword, kNow + 901, 0, "", "").ok());  // success cleared the rest

  for (int i = 0; i < 5; ++i) EXPECT_FALSE(store->login("nobody", kPassword, kNow, 0, "", "").ok());
  auto unknown = store->login("nobody", kPassword, kNow, 0, "", "");  // unknown names look alike
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kResourceExhausted);
}

TEST_F(UserStoreTest, ExportHoldsEverythingButSecrets) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  const NewSession s = sign_in(*store, "alice");
  ASSERT_TRUE(store->logout(sign_in(*store, "alice", kNow + 5).token, kNow + 6).ok());
  (void)store->login("alice", "wrong password", kNow + 7, 0, "", "");
  auto e = store->export_user("alice");
  ASSERT_TRUE(e.ok()) << e.error().message;
  const nlohmann::json& j = *e;
  EXPECT_EQ(j["user"]["name"], "alice");
  EXPECT_EQ(j["user"]["last_login_at"], kNow + 5);
  ASSERT_EQ(j["sessions"].size(), 2u);
  EXPECT_EQ(j["sessions"][0]["id"], s.session.session_id);
  EXPECT_EQ(j["sessions"][0]["client_ip"], "192.0.2.7");
  EXPECT_EQ(j["sessions"][0]["user_agent"], "Mozilla/5.0 (test)");
  EXPECT_EQ(j["sessions"][1]["revoked_reason"], "signed out");
  EXPECT_EQ(j["recent_failed_sign_ins"], nlohmann::json::array({kNow + 7}));
  const std::string text = j.dump();
  EXPECT_THAT(text, Not(HasSubstr("argon2")));
  EXPECT_THAT(text, Not(HasSubstr("hash")));
  EXPECT_THAT(text, Not(HasSubstr(s.token.substr(20))));
  const std::string stored_hmac = query(db(), "SELECT hash FROM sessions LIMIT 1")[0];
  EXPECT_THAT(text, Not(HasSubstr(stored_hmac)));
  EXPECT_EQ(store->export_user("nobody").error().code, ErrorCode::kNotFound);
}

TEST_F(UserStoreTest, SharesAFileWithTheKeyStore) {
  auto keys = KeyStore::open(db(), secret());
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  auto users = open_store();
  ASSERT_TRUE(users);
  KeySpec ks;
  ks.name = "ci";
  ks.role = "user";
  auto key = (*keys)->create(ks, kNow);
  ASSERT_TRUE(key.ok());
  make(*users, "alice");
  const NewSession s = sign_in(*users, "alice");
  EXPECT_TRUE((*keys)->verify(key->key, kNow).ok());
  EXPECT_TRUE(users->verify_session(s.token, kNow).ok());

  users.reset();
  keys = KeyStore::open(db(), secret());  // reopened, either order
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  users = open_store();
  ASSERT_TRUE(users);
  EXPECT_TRUE((*keys)->verify(key->key, kNow).ok());
  EXPECT_TRUE(users->verify_session(s.token, kNow).ok());
  EXPECT_EQ(query(db(), "PRAGMA user_version")[0], "1");  // the key store's
  EXPECT_EQ(query(db(), "SELECT value FROM users_meta WHERE key = 'schema_version'")[0], "1");
  EXPECT_EQ(query(db(), "PRAGMA journal_mode")[0], "wal");
}

TEST_F(UserStoreTest, UserStoreFirstThenKeyStore) {
  auto users = open_store();
  ASSERT_TRUE(users);
  make(*users, "alice");
  auto keys = KeyStore::open(db(), secret());
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  EXPECT_TRUE(users->get("alice").ok());
}

TEST_F(UserStoreTest, RefusesANewerSchemaAndBadOptions) {
  ASSERT_TRUE(open_store());
  query(db(), "UPDATE users_meta SET value = '99' WHERE key = 'schema_version'");
  auto r = UserStore::open(db(), secret(), PasswordCost::for_tests());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("schema version 99"));

  TempDir other;
  const std::string db2 = (other.path() / "a.sqlite").string(), secret2 = (other.path() / "s").string();
  PasswordCost cost = PasswordCost::for_tests();
  cost.mem = 1;
  EXPECT_EQ(UserStore::open(db2, secret2, cost).error().code, ErrorCode::kInvalidArgument);
  SessionPolicy policy;
  policy.max_ttl_s = 10;
  EXPECT_EQ(UserStore::open(db2, secret2, PasswordCost::for_tests(), policy).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(PasswordCost{}.ops, 2u);  // interactive
  EXPECT_EQ(PasswordCost{}.mem, 64u << 20);
}

TEST_F(UserStoreTest, PrunesLongEndedSessions) {
  SessionPolicy policy;
  policy.retain_ended_s = 86400;
  auto store = open_store(PasswordCost::for_tests(), policy);
  ASSERT_TRUE(store);
  make(*store, "alice");
  const NewSession old = sign_in(*store, "alice", kNow, 100);
  sign_in(*store, "alice", kNow + 2 * 86400);  // the next hourly pruning: the old one ended > 1 day ago
  EXPECT_EQ(query(db(), "SELECT count(*) FROM sessions")[0], "1");
  expect_refused(*store, old.token, kNow + 2 * 86400, "unknown session");
}

TEST_F(UserStoreTest, ConcurrentVerifyWhileSessionsChange) {
  auto store = open_store();
  ASSERT_TRUE(store);
  make(*store, "alice");
  make(*store, "bob");
  const NewSession stable = sign_in(*store, "bob");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, verified{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (std::int64_t i = 0; !stop.load(); ++i) {
        if (store->verify_session(stable.token, kNow + i % 50).ok()) ++verified;
        else ++failures;
        if (t == 0) (void)store->sessions_of("alice");
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    const NewSession s = sign_in(*store, "alice", kNow + i);
    EXPECT_TRUE(store->verify_session(s.token, kNow + i).ok());
    EXPECT_TRUE(store->logout(s.token, kNow + i).ok());
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(verified.load(), 0);
}

}  // namespace
}  // namespace hearth::auth
