#include "privacy/registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "auth/collection_access.h"
#include "auth/key_store.h"
#include "auth/user_store.h"
#include "temp_dir.h"

namespace hearth::privacy {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kNow = 1'800'000'000;
constexpr const char* kPassword = "correct horse battery";
const std::string kAuditSecret(32, 's');

using test_util::TempDir;

template <typename T>
std::string msg(const Result<T>& r) {
  return r.ok() ? std::string() : r.error().message;
}

std::vector<std::string> jsons(const std::vector<audit::AuditRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(audit::to_json(r));
  return out;
}

class PrivacyRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string db = (dir_.path() / "auth.sqlite").string();
    const std::string secret = (dir_.path() / "auth.secret").string();

    auto audit = audit::open_sqlite_audit((dir_.path() / "audit.sqlite").string());
    ASSERT_TRUE(audit.ok()) << msg(audit);
    audit_ = std::move(*audit);
    auto keys = auth::KeyStore::open(db, secret);
    ASSERT_TRUE(keys.ok()) << msg(keys);
    keys_ = std::move(*keys);
    auto users = auth::UserStore::open(db, secret, auth::PasswordCost::for_tests());
    ASSERT_TRUE(users.ok()) << msg(users);
    users_ = std::move(*users);
    auto acl = auth::CollectionAccessStore::open(db);
    ASSERT_TRUE(acl.ok()) << msg(acl);
    acl_ = std::move(*acl);

    registry_.add(audit_log_store(*audit_, [] { return Result<std::string>(kAuditSecret); }));
    registry_.add(api_key_store(*keys_));
    registry_.add(user_store(*users_));
    registry_.add(collection_access_store(*acl_));

    // alice: a user with one session.
    auth::UserSpec spec;
    spec.name = "alice";
    spec.role = "user";
    spec.password = kPassword;
    auto alice = users_->create(spec, kNow);
    ASSERT_TRUE(alice.ok()) << msg(alice);
    alice_id_ = alice->id;
    auto session = users_->login("alice", kPassword, kNow, 0, "192.0.2.7", "Mozilla/5.0 (test)");
    ASSERT_TRUE(session.ok()) << msg(session);
    session_id_ = session->session.session_id;

    // An API key.
    auth::KeySpec key_spec;
    key_spec.name = "ci";
    key_spec.role = "user";
    auto key = keys_->create(key_spec, kNow);
    ASSERT_TRUE(key.ok()) << msg(key);
    key_ = key->key;
    key_id_ = key->record.id;
    ASSERT_TRUE(key_id_.starts_with("hk-")) << key_id_;

    // Audit records of alice, the key and bob.
    append("user:alice", "chat", "198.51.100.1", "alice's question");
    append(key_id_, "embeddings", "198.51.100.2", "");
    append("user:bob", "chat", "198.51.100.3", "bob's question");
    append("user:alice", "knowledge.search", "198.51.100.1", "");
    append("user:bob", "models", "198.51.100.3", "");

    // A collection alice owns and bob reads.
    auth::CollectionAccess a;
    a.collection = "alice-notes";
    a.owner = "user:alice";
    a.readers = {"user:bob"};
    a.updated_at = kNow;
    auto put = acl_->put(a);
    ASSERT_TRUE(put.ok()) << msg(put);
  }

  void append(const std::string& principal, const std::string& action, const std::string& ip,
              const std::string& content) {
    audit::AuditRecord r;
    r.principal = principal;
    r.role = "user";
    r.client_ip = ip;
    r.action = action;
    r.decision = "allow";
    r.status = 200;
    r.outcome = "ok";
    r.content = content;
    auto st = audit_->append(r);
    ASSERT_TRUE(st.ok()) << msg(st);
  }

  nlohmann::json export_of(const std::string& name) {
    auto e = registry_.export_subject(name, kNow + 5);
    EXPECT_TRUE(e.ok()) << msg(e);
    return e.ok() ? *e : nlohmann::json();
  }

  nlohmann::json erase(const std::string& name) {
    auto e = registry_.erase_subject(name);
    EXPECT_TRUE(e.ok()) << msg(e);
    return e.ok() ? *e : nlohmann::json();
  }

  std::vector<audit::AuditRecord> records_of(const std::string& principal) {
    auto r = audit_->records_of(principal);
    EXPECT_TRUE(r.ok()) << msg(r);
    return r.ok() ? *r : std::vector<audit::AuditRecord>{};
  }

  TempDir dir_;
  std::unique_ptr<audit::AuditStore> audit_;
  std::unique_ptr<auth::KeyStore> keys_;
  std::unique_ptr<auth::UserStore> users_;
  std::unique_ptr<auth::CollectionAccessStore> acl_;
  Registry registry_;
  std::string alice_id_, session_id_, key_, key_id_;
};

TEST_F(PrivacyRegistryTest, ExportOfUser) {
  const nlohmann::json e = export_of("alice");
  EXPECT_EQ(e["subject"], "alice");
  EXPECT_EQ(e["generated_at"], kNow + 5);
  const nlohmann::json& stores = e["stores"];
  ASSERT_TRUE(stores.is_object());
  EXPECT_TRUE(stores.contains("users"));
  EXPECT_TRUE(stores.contains("audit_log"));
  EXPECT_TRUE(stores.contains("collection_access"));
  EXPECT_FALSE(stores.contains("api_keys"));  // the key is not alice's

  // Users: the record and the session, never the password hash.
  const std::string dump = e.dump();
  EXPECT_EQ(dump.find("argon2"), std::string::npos) << dump;
  EXPECT_EQ(dump.find(kPassword), std::string::npos);
  ASSERT_TRUE(stores["users"].is_array());
  ASSERT_EQ(stores["users"].size(), 1u);
  const nlohmann::json& user = stores["users"][0];
  EXPECT_EQ(user["user"]["name"], "alice");
  EXPECT_EQ(user["user"]["id"], alice_id_);
  ASSERT_EQ(user["sessions"].size(), 1u);
  EXPECT_EQ(user["sessions"][0]["id"], session_id_);
  EXPECT_EQ(user["sessions"][0]["client_ip"], "192.0.2.7");

  // Audit: alice's two records, not bob's nor the key's.
  const nlohmann::json& records = stores["audit_log"];
  ASSERT_TRUE(records.is_array());
  ASSERT_EQ(records.size(), 2u) << records.dump();
  for (const auto& r : records) EXPECT_EQ(r["principal"], "user:alice") << r.dump();
  EXPECT_EQ(records[0]["content"], "alice's question");
  EXPECT_EQ(records[1]["action"], "knowledge.search");
  EXPECT_EQ(dump.find("bob's question"), std::string::npos);
  EXPECT_EQ(dump.find(key_id_), std::string::npos);

  // Collections: the one she owns.
  const nlohmann::json& acl = stores["collection_access"];
  ASSERT_TRUE(acl.is_array());
  ASSERT_EQ(acl.size(), 1u);
  EXPECT_EQ(acl[0]["collection"], "alice-notes");
  EXPECT_EQ(acl[0]["owner"], true);
  EXPECT_EQ(acl[0]["reader"], false);
  EXPECT_EQ(acl[0]["writer"], false);
}

TEST_F(PrivacyRegistryTest, ExportOfReaderAndOfKey) {
  const nlohmann::json bob = export_of("bob")["stores"];
  EXPECT_FALSE(bob.contains("users"));  // bob has audit records and a list entry, no account
  ASSERT_TRUE(bob.contains("collection_access"));
  EXPECT_EQ(bob["collection_access"][0]["reader"], true);
  EXPECT_EQ(bob["collection_access"][0]["owner"], false);
  EXPECT_EQ(bob["audit_log"].size(), 2u);

  const nlohmann::json e = export_of(key_id_);
  const nlohmann::json& stores = e["stores"];
  ASSERT_TRUE(stores.contains("api_keys")) << e.dump();
  ASSERT_EQ(stores["api_keys"].size(), 1u);
  EXPECT_EQ(stores["api_keys"][0]["id"], key_id_);
  EXPECT_EQ(stores["api_keys"][0]["name"], "ci");
  EXPECT_EQ(stores["api_keys"][0]["role"], "user");
  ASSERT_TRUE(stores.contains("audit_log"));
  ASSERT_EQ(stores["audit_log"].size(), 1u);
  EXPECT_EQ(stores["audit_log"][0]["principal"], key_id_);
  EXPECT_EQ(stores["audit_log"][0]["action"], "embeddings");
  EXPECT_FALSE(stores.contains("users"));
  EXPECT_FALSE(stores.contains("collection_access"));
  // Never the key's secret part.
  EXPECT_EQ(e.dump().find(key_), std::string::npos);
}

TEST_F(PrivacyRegistryTest, EraseUser) {
  const auto bob_before = jsons(records_of("user:bob"));
  ASSERT_EQ(bob_before.size(), 2u);

  const nlohmann::json summary = erase("alice");
  EXPECT_EQ(summary["subject"], "alice");
  EXPECT_EQ(summary["stores"]["audit_log"]["pseudonymised"], 2) << summary.dump();
  EXPECT_EQ(summary["stores"]["users"]["removed"], 2) << summary.dump();  // the user and her session
  EXPECT_EQ(summary["stores"]["api_keys"]["removed"], 0) << summary.dump();
  EXPECT_EQ(summary["stores"]["collection_access"]["changed"], 1) << summary.dump();

  const nlohmann::json after = export_of("alice");
  ASSERT_TRUE(after["stores"].is_object());
  EXPECT_TRUE(after["stores"].empty()) << after.dump();

  // The chain still verifies, and bob's records are untouched.
  auto verified = audit_->verify();
  ASSERT_TRUE(verified.ok()) << msg(verified);
  EXPECT_GE(*verified, 6);  // five records and the erasure's own
  EXPECT_EQ(jsons(records_of("user:bob")), bob_before);
  EXPECT_TRUE(records_of("user:alice").empty());
  EXPECT_EQ(records_of(key_id_).size(), 1u);

  // The user and her session are gone.
  EXPECT_FALSE(users_->get("alice").ok());
  auto login = users_->login("alice", kPassword, kNow + 10, 0, "", "");
  EXPECT_FALSE(login.ok());

  // Her collection stays private, owned by "erased", and bob still reads it.
  auto acl = acl_->get("alice-notes");
  ASSERT_TRUE(acl.has_value());
  EXPECT_EQ(acl->owner, "erased");
  EXPECT_EQ(acl->readers, (std::vector<std::string>{"user:bob"}));
  EXPECT_TRUE(acl_->allows("alice-notes", "user:bob", "user", auth::CollectionRight::kRead));
  EXPECT_FALSE(acl_->allows("alice-notes", "user:alice", "user", auth::CollectionRight::kRead));
  EXPECT_FALSE(acl_->allows("alice-notes", "user:bob", "user", auth::CollectionRight::kManage));

  // The key is not alice's and survives.
  EXPECT_TRUE(keys_->verify(key_, kNow + 10).ok());

  // Erasing again finds nothing more and still succeeds.
  const nlohmann::json again = erase("alice");
  EXPECT_EQ(again["stores"]["audit_log"]["pseudonymised"], 0) << again.dump();
  EXPECT_EQ(again["stores"]["users"]["removed"], 0) << again.dump();
  EXPECT_EQ(again["stores"]["collection_access"]["changed"], 0) << again.dump();
  EXPECT_TRUE(audit_->verify().ok());
}

TEST_F(PrivacyRegistryTest, EraseKey) {
  ASSERT_TRUE(keys_->verify(key_, kNow + 10).ok());
  const auto bob_before = jsons(records_of("user:bob"));
  const auto alice_before = jsons(records_of("user:alice"));

  const nlohmann::json summary = erase(key_id_);
  EXPECT_EQ(summary["stores"]["api_keys"]["removed"], 1) << summary.dump();
  EXPECT_EQ(summary["stores"]["audit_log"]["pseudonymised"], 1) << summary.dump();
  EXPECT_EQ(summary["stores"]["users"]["removed"], 0) << summary.dump();

  auto v = keys_->verify(key_, kNow + 10);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, ErrorCode::kUnauthenticated);
  auto list = keys_->list();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());

  EXPECT_TRUE(export_of(key_id_)["stores"].empty());
  EXPECT_TRUE(records_of(key_id_).empty());
  ASSERT_TRUE(audit_->verify().ok());
  EXPECT_EQ(jsons(records_of("user:bob")), bob_before);
  EXPECT_EQ(jsons(records_of("user:alice")), alice_before);
  EXPECT_TRUE(users_->get("alice").ok());
}

TEST_F(PrivacyRegistryTest, InvalidNamesAreRefused) {
  for (const std::string& bad : {std::string(), std::string("al\nice"), std::string(257, 'a')}) {
    auto e = registry_.export_subject(bad, kNow);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
    auto d = registry_.erase_subject(bad);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
  }
  // Nothing was erased.
  EXPECT_TRUE(users_->get("alice").ok());
  EXPECT_EQ(records_of("user:alice").size(), 2u);
}

TEST(SubjectForTest, InvalidNames) {
  const std::vector<std::string> bad = {"",
                                        "al\nice",
                                        std::string("a\0b", 3),
                                        "tab\there",
                                        "del\x7f",
                                        std::string(257, 'a')};
  for (const std::string& name : bad) {
    auto s = subject_for(name);
    ASSERT_FALSE(s.ok()) << name.size();
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(subject_for(std::string(256, 'a')).ok());
}

TEST(SubjectForTest, UserNameExpands) {
  auto s = subject_for("alice");
  ASSERT_TRUE(s.ok()) << msg(s);
  EXPECT_EQ(s->name, "alice");
  EXPECT_EQ(s->principals, (std::vector<std::string>{"alice", "user:alice", "oidc:alice"}));
}

TEST(SubjectForTest, KeyIdAndPrincipalIdsDoNotExpand) {
  auto k = subject_for("hk-AbCdEf1234");
  ASSERT_TRUE(k.ok()) << msg(k);
  EXPECT_EQ(k->principals, (std::vector<std::string>{"hk-AbCdEf1234"}));
  auto u = subject_for("user:alice");
  ASSERT_TRUE(u.ok()) << msg(u);
  EXPECT_EQ(u->principals, (std::vector<std::string>{"user:alice"}));
}

}  // namespace
}  // namespace hearth::privacy
