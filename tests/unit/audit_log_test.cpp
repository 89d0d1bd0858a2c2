#include "audit/audit_log.h"
#include "temp_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::audit {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kT0 = 1'800'000'000'000;  // unix ms
const std::string kSecret = "0123456789abcdef0123456789abcdef";

using test_util::TempDir;

AuditRecord make(int i, const std::string& principal = "hk-AAAAAAAAAA", std::int64_t time_ms = 0) {
  AuditRecord r;
  r.time_ms = time_ms ? time_ms : kT0 + i;
  r.principal = principal;
  r.role = "user";
  r.client_ip = "203.0.113." + std::to_string(i % 250);
  r.request_id = "req-" + std::to_string(i);
  r.method = "POST";
  r.route = "/v1/chat/completions";
  r.model = "qwen3-8b";
  r.action = "chat";
  r.decision = "allow";
  r.status = 200;
  r.outcome = "ok";
  if (i % 7 == 0) r.filter_hits = {"output:cn_mobile:mask"};
  r.prompt_tokens = i;
  r.completion_tokens = 2 * i;
  r.content = "secret message " + std::to_string(i);
  return r;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_sqlite_audit(db());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }

  std::string db() const { return (dir_.path() / "audit.sqlite").string(); }

  void append_n(int n, const std::string& principal = "hk-AAAAAAAAAA", int first = 1) {
    std::vector<AuditRecord> batch;
    for (int i = first; i < first + n; ++i) batch.push_back(make(i, principal));
    auto st = store_->append_batch(batch);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // Runs SQL on a connection of its own, as someone editing the file would.
  void sql(const std::string& statement) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(raw, statement.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << statement << ": " << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(raw);
  }

  // Every column of every row, as text: what is physically left in the file's table.
  std::string dump_table() {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, "SELECT * FROM audit_log", -1, &s, nullptr), SQLITE_OK);
    std::string out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
        out += t ? t : "NULL";
        out += '|';
      }
      out += '\n';
    }
    sqlite3_finalize(s);
    sqlite3_close(raw);
    return out;
  }

  void expect_broken(const std::string& why) {
    auto r = store_->verify();
    ASSERT_FALSE(r.ok()) << "verified " << *r << " records; expected: " << why;
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
    EXPECT_THAT(r.error().message, HasSubstr(why));
  }

  std::int64_t verified() {
    auto r = store_->verify();
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : -1;
  }

  TempDir dir_;
  std::unique_ptr<AuditStore> store_;
};

TEST_F(AuditLogTest, AppendsAndVerifiesAThousandRecords) {
  AuditRecord first = make(0);
  ASSERT_TRUE(store_->append(first).ok());
  EXPECT_EQ(first.seq, 1);
  EXPECT_EQ(first.prev_hash, std::string(64, '0'));
  EXPECT_EQ(first.hash.size(), 64u);
  for (int b = 0; b < 9; ++b) append_n(111, "hk-AAAAAAAAAA", 1 + 111 * b);
  EXPECT_EQ(verified(), 1000);

  auto all = store_->records_of("hk-AAAAAAAAAA");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1000u);
  for (std::size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].seq, static_cast<std::int64_t>(i + 1));
    if (i > 0) {
      EXPECT_EQ((*all)[i].prev_hash, (*all)[i - 1].hash);
    }
  }
  EXPECT_EQ((*all)[7].filter_hits, std::vector<std::string>{"output:cn_mobile:mask"});
  EXPECT_EQ((*all)[0].hash, first.hash);
}

TEST_F(AuditLogTest, ChangedFieldIsDetected) {
  append_n(50);
  sql("UPDATE audit_log SET model = 'other-model' WHERE seq = 17");
  expect_broken("record 17: hash mismatch (contents changed)");
}

TEST_F(AuditLogTest, ChangedPersonalFieldOrHashIsDetected) {
  append_n(50);
  sql("UPDATE audit_log SET client_ip = '198.51.100.1' WHERE seq = 30");
  expect_broken("record 30: hash mismatch (contents changed)");
  sql("UPDATE audit_log SET hash = '" + std::string(64, 'a') + "' WHERE seq = 12");
  expect_broken("record 12: hash mismatch");
}

TEST_F(AuditLogTest, DeletedRowsAreDetected) {
  append_n(50);
  sql("DELETE FROM audit_log WHERE seq = 20");
  expect_broken("record 20 missing");
  sql("DELETE FROM audit_log WHERE seq BETWEEN 5 AND 7");
  expect_broken("records 5..7 missing");
}

TEST_F(AuditLogTest, ForgedRowIsDetected) {
  append_n(50);
  // A copy of a real record (valid hash of its own) placed at the end of the chain.
  sql("INSERT INTO audit_log SELECT 51, time_ms, principal, role, client_ip, request_id, method, route, model, "
      "collection, action, decision, status, outcome, filter_hits, prompt_tokens, completion_tokens, content, "
      "prev_hash, hash, salt, sealed_hash, erased_by FROM audit_log WHERE seq = 10");
  expect_broken("record 51: prev_hash does not match record 50");
  // Linked to the real last record, but its hash made up.
  sql("UPDATE audit_log SET prev_hash = (SELECT hash FROM audit_log WHERE seq = 50) WHERE seq = 51");
  expect_broken("record 51: hash mismatch (contents changed)");
}

TEST_F(AuditLogTest, ReorderedRowsAreDetected) {
  append_n(50);
  sql("UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; "
      "UPDATE audit_log SET seq = 4 WHERE seq = -1");
  expect_broken("record 3: prev_hash does not match record 2");
}

TEST_F(AuditLogTest, RetentionDeletesOldRecordsAndTheRestVerifies) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(make(i, "hk-AAAAAAAAAA", kT0 + i * 1000));
  ASSERT_TRUE(store_->append_batch(batch).ok());
  auto deleted = store_->apply_retention(kT0 + 40 * 1000);
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_EQ(*deleted, 40);
  EXPECT_EQ(verified(), 60);
  auto again = store_->apply_retention(kT0 + 40 * 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);

  AuditRecord more = make(1000);
  ASSERT_TRUE(store_->append(more).ok());
  EXPECT_EQ(more.seq, 101);
  EXPECT_EQ(verified(), 61);

  // The first remaining record still anchors the chain: losing it is seen.
  sql("DELETE FROM audit_log WHERE seq = 41");
  expect_broken("record 41 missing");
}

TEST_F(AuditLogTest, RetentionOfEverythingKeepsTheChainGoing) {
  append_n(10);
  auto last = store_->records_of("hk-AAAAAAAAAA");
  ASSERT_TRUE(last.ok());
  auto deleted = store_->apply_retention(kT0 + 1'000'000);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 10);
  EXPECT_EQ(verified(), 0);
  AuditRecord r = make(11);
  ASSERT_TRUE(store_->append(r).ok());
  EXPECT_EQ(r.seq, 11);
  EXPECT_EQ(r.prev_hash, last->back().hash);
  EXPECT_EQ(verified(), 1);
  sql("UPDATE audit_log SET prev_hash = '" + std::string(64, '0') + "' WHERE seq = 11");
  expect_broken("record 11: prev_hash does not match the retention anchor (record 10)");
}

TEST_F(AuditLogTest, PseudonymiseErasesAPrincipalAndTheChainStillVerifies) {
  std::vector<AuditRecord> batch;
  for (int i = 1; i <= 60; ++i) {
    AuditRecord r = make(i, i % 3 == 0 ? "alice" : "bob");
    if (i % 3 == 0) r.client_ip = "192.0.2.77";
    batch.push_back(std::move(r));
  }
  ASSERT_TRUE(store_->append_batch(batch).ok());
  auto bob_before = store_->records_of("bob");
  ASSERT_TRUE(bob_before.ok());

  auto changed = store_->pseudonymise("alice", kSecret);
  ASSERT_TRUE(changed.ok()) << changed.error().message;
  EXPECT_EQ(*changed, 20);
  EXPECT_EQ(verified(), 61);  // and the erasure's own record

  auto alice = store_->records_of("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_TRUE(alice->empty());
  const std::string table = dump_table();
  EXPECT_THAT(table, Not(HasSubstr("alice")));
  EXPECT_THAT(table, Not(HasSubstr("192.0.2.77")));

  auto bob = store_->records_of("bob");
  ASSERT_TRUE(bob.ok());
  ASSERT_EQ(bob->size(), bob_before->size());
  for (std::size_t i = 0; i < bob->size(); ++i) EXPECT_EQ(to_json((*bob)[i]), to_json((*bob_before)[i]));

  // The erasure is recorded under the pseudonym at the end of the chain.
  std::stringstream out;
  ASSERT_TRUE(store_->export_jsonl(0, kT0 * 2, "", out).ok());
  std::string pseudonym, line, last_line;
  while (std::getline(out, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["seq"] == 3) pseudonym = j["principal"].get<std::string>();
    last_line = line;
  }
  ASSERT_EQ(pseudonym.rfind("erased:", 0), 0u) << pseudonym;
  EXPECT_EQ(pseudonym.size(), 7u + 16u);
  auto mine = store_->records_of(pseudonym);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 21u);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_TRUE((*mine)[i].pseudonymised);
    EXPECT_EQ((*mine)[i].client_ip, "");
    EXPECT_EQ((*mine)[i].content, "");
    EXPECT_EQ((*mine)[i].model, "qwen3-8b");
  }
  EXPECT_EQ(mine->back().action, kPseudonymiseAction);
  EXPECT_EQ(mine->back().seq, 61);
  EXPECT_FALSE(mine->back().pseudonymised);
  EXPECT_EQ(nlohmann::json::parse(last_line)["action"], kPseudonymiseAction);

  auto twice = store_->pseudonymise("alice", kSecret);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(*twice, 0);
  EXPECT_EQ(verified(), 61);
}

TEST_F(AuditLogTest, TamperingWithAPseudonymisedRecordIsStillDetected) {
  std::vector<AuditRecord> batch;
  for (int i = 1; i <= 30; ++i) batch.push_back(make(i, i % 2 ? "alice" : "bob"));
  ASSERT_TRUE(store_->append_batch(batch).ok());
  auto changed = store_->pseudonymise("alice", kSecret);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, 15);
  EXPECT_EQ(verified(), 31);

  sql("UPDATE audit_log SET model = 'other-model' WHERE seq = 5");
  expect_broken("record 5: hash mismatch (contents changed)");
  sql("UPDATE audit_log SET model = 'qwen3-8b' WHERE seq = 5");
  EXPECT_EQ(verified(), 31);

  // Putting personal data back into an erased record.
  sql("UPDATE audit_log SET client_ip = '203.0.113.9' WHERE seq = 7");
  expect_broken("record 7: marked pseudonymised but still holds personal data");
  sql("UPDATE audit_log SET client_ip = '' WHERE seq = 7");

  // Marking a record erased without an erasure record behind it.
  sql("UPDATE audit_log SET erased_by = NULL WHERE seq = 9");
  expect_broken("record 9: marked pseudonymised, but no privacy.pseudonymise record");
  sql("UPDATE audit_log SET erased_by = 31 WHERE seq = 9");

  // The seal itself is covered by the chain.
  sql("UPDATE audit_log SET sealed_hash = '" + std::string(64, 'b') + "' WHERE seq = 11");
  expect_broken("record 11: hash mismatch (contents changed)");
}

TEST_F(AuditLogTest, PseudonymiseRejectsBadArguments) {
  append_n(3);
  EXPECT_EQ(store_->pseudonymise("", kSecret).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->pseudonymise("hk-AAAAAAAAAA", "").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->pseudonymise("erased:0123456789abcdef", kSecret).error().code, ErrorCode::kInvalidArgument);
  auto none = store_->pseudonymise("nobody", kSecret);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  EXPECT_EQ(verified(), 3);  // nothing erased, nothing recorded
}

TEST_F(AuditLogTest, ExportFiltersByTimeAndPrincipal) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 40; ++i) batch.push_back(make(i, i % 4 == 0 ? "carol" : "dave", kT0 + i * 100));
  batch[5].content = "quotes \" and \\ and\nnewline and \x01 and \xff\xfe bad bytes and 中文";
  ASSERT_TRUE(store_->append_batch(batch).ok());
  EXPECT_EQ(verified(), 40);

  auto lines = [&](std::int64_t from, std::int64_t to, const std::string& who) {
    std::stringstream out;
    auto st = store_->export_jsonl(from, to, who, out);
    EXPECT_TRUE(st.ok()) << st.error().message;
    std::vector<nlohmann::json> parsed;
    std::string line;
    while (std::getline(out, line)) parsed.push_back(nlohmann::json::parse(line));  // throws if not JSON
    return parsed;
  };
  const auto all = lines(0, kT0 * 2, "");
  ASSERT_EQ(all.size(), 40u);
  for (const char* key : {"seq", "time_ms", "principal", "role", "client_ip", "request_id", "method", "route",
                          "model", "collection", "action", "decision", "status", "outcome", "filter_hits",
                          "prompt_tokens", "completion_tokens", "content", "prev_hash", "hash"}) {
    EXPECT_TRUE(all[0].contains(key)) << key;
  }
  EXPECT_THAT(all[5]["content"].get<std::string>(), HasSubstr("中文"));

  const auto window = lines(kT0 + 1000, kT0 + 2000, "");  // i = 10..19
  ASSERT_EQ(window.size(), 10u);
  EXPECT_EQ(window.front()["seq"], 11);
  EXPECT_EQ(window.back()["seq"], 20);

  const auto carol = lines(kT0 + 1000, kT0 + 2000, "carol");  // i = 12, 16
  ASSERT_EQ(carol.size(), 2u);
  for (const auto& j : carol) EXPECT_EQ(j["principal"], "carol");
  EXPECT_TRUE(lines(kT0 + 2000, kT0 + 1000, "").empty());
}

TEST_F(AuditLogTest, UsageSumsPerBucketAndGroup) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 20; ++i) batch.push_back(make(i, i % 2 ? "carol" : "dave", kT0 + i * 100));  // 2 s
  batch[3].status = 429;
  batch[4].model = "";  // not a model request: left out
  batch[6].model = "qwen2";
  ASSERT_TRUE(store_->append_batch(batch).ok());
  auto rows = store_->usage(kT0, kT0 + 2000, 1000, UsageGroup::kPrincipal);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 4u);  // 2 buckets x 2 principals
  const UsageRow& carol0 = (*rows)[0];
  EXPECT_EQ(carol0.bucket_ms, kT0);
  EXPECT_EQ(carol0.group, "carol");  // i = 1, 3, 5, 7, 9
  EXPECT_EQ(carol0.requests, 5);
  EXPECT_EQ(carol0.errors, 1);
  EXPECT_EQ(carol0.prompt_tokens, 1 + 3 + 5 + 7 + 9);
  EXPECT_EQ(carol0.completion_tokens, 2 * (1 + 3 + 5 + 7 + 9));
  EXPECT_EQ((*rows)[1].group, "dave");
  EXPECT_EQ((*rows)[1].requests, 4);  // i = 0, 2, 6, 8 (4 has no model)
  EXPECT_EQ((*rows)[2].bucket_ms, kT0 + 1000);
  auto models = store_->usage(kT0, kT0 + 1000, 60'000, UsageGroup::kModel);
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[0].group, "qwen2");
  EXPECT_EQ((*models)[0].requests, 1);
  EXPECT_EQ((*models)[1].group, "qwen3-8b");
  EXPECT_EQ((*models)[1].requests, 8);
  EXPECT_FALSE(store_->usage(kT0, kT0 + 1, 0, UsageGroup::kModel).ok());
}

// A store whose writes wait until released: the writer's queue fills behind it.
class GatedStore final : public AuditStore {
 public:
  Status append(AuditRecord& r) override {
    std::vector<AuditRecord> one{r};
    return append_batch(one);
  }
  Status append_batch(std::vector<AuditRecord>& records) override {
    std::unique_lock lock(mu_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    written_ += records.size();
    return {};
  }
  Result<std::int64_t> verify() override { return std::int64_t{0}; }
  Status export_jsonl(std::int64_t, std::int64_t, const std::string&, std::ostream&) override { return {}; }
  Result<std::int64_t> apply_retention(std::int64_t) override { return std::int64_t{0}; }
  Result<std::int64_t> pseudonymise(const std::string&, const std::string&) override { return std::int64_t{0}; }
  Result<std::vector<AuditRecord>> records_of(const std::string&) override { return std::vector<AuditRecord>{}; }
  Result<std::vector<UsageRow>> usage(std::int64_t, std::int64_t, std::int64_t, UsageGroup) override {
    return std::vector<UsageRow>{};
  }

  void wait_entered() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return entered_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    changed_.notify_all();
  }
  std::size_t written() {
    std::lock_guard lock(mu_);
    return written_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool entered_ = false, open_ = false;
  std::size_t written_ = 0;
};

TEST_F(AuditLogTest, WriterFromFourThreadsWritesEveryRecordInOneChain) {
  {
    AuditWriter writer(*store_);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < 2500; ++i) writer.submit(make(t * 2500 + i, "hk-Thread000" + std::to_string(t)));
      });
    }
    for (auto& th : threads) th.join();
    writer.flush();
    EXPECT_EQ(writer.dropped(), 0u);
    EXPECT_EQ(verified(), 10000);
    for (int i = 0; i < 5; ++i) writer.submit(make(i));
  }  // the destructor flushes
  EXPECT_EQ(verified(), 10005);
  auto one = store_->records_of("hk-Thread0002");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 2500u);
}

TEST_F(AuditLogTest, WriterDropsAndCountsWhenItsQueueIsFullWithoutBlocking) {
  GatedStore gated;
  AuditWriter writer(gated, 10);
  writer.submit(make(0));
  gated.wait_entered();  // the writer holds that one record and waits on the store
  for (int i = 1; i <= 15; ++i) writer.submit(make(i));
  EXPECT_EQ(writer.dropped(), 5u);
  gated.open();
  writer.flush();
  EXPECT_EQ(gated.written(), 11u);
  EXPECT_EQ(writer.dropped(), 5u);
}

TEST(AuditLogOpenTest, UnwritablePathGivesAClearError) {
  // /proc takes no new files, even for root.
  const std::string path = "/proc/hearth-audit-test/audit.sqlite";
  auto s = open_sqlite_audit(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(s.error().message, HasSubstr("cannot open the audit log '" + path + "'"));

  EXPECT_EQ(open_sqlite_audit("").error().code, ErrorCode::kInvalidArgument);

  TempDir dir;
  auto is_dir = open_sqlite_audit(dir.path().string());
  ASSERT_FALSE(is_dir.ok());
  EXPECT_THAT(is_dir.error().message, HasSubstr(dir.path().string()));

  const std::string junk = (dir.path() / "junk.sqlite").string();
  std::ofstream(junk) << std::string(4096, 'x');
  auto not_db = open_sqlite_audit(junk);
  ASSERT_FALSE(not_db.ok());
  EXPECT_THAT(not_db.error().message, HasSubstr(junk));
  EXPECT_THAT(not_db.error().message, HasSubstr("not a database"));
}

TEST(AuditLogOpenTest, FileFromANewerHearthIsRefused) {
  TempDir dir;
  const std::string path = (dir.path() / "audit.sqlite").string();
  { ASSERT_TRUE(open_sqlite_audit(path).ok()); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto s = open_sqlite_audit(path);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("schema version 99"));
}

TEST(AuditLogOpenTest, ReopenedLogContinuesTheChain) {
  TempDir dir;
  const std::string path = (dir.path() / "audit.sqlite").string();
  std::string last_hash;
  {
    auto s = open_sqlite_audit(path);
    ASSERT_TRUE(s.ok());
    AuditRecord r = make(1);
    ASSERT_TRUE((*s)->append(r).ok());
    last_hash = r.hash;
  }
  auto s = open_sqlite_audit(path);
  ASSERT_TRUE(s.ok());
  AuditRecord r = make(2);
  ASSERT_TRUE((*s)->append(r).ok());
  EXPECT_EQ(r.seq, 2);
  EXPECT_EQ(r.prev_hash, last_hash);
  auto n = (*s)->verify();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(fs::status(path).permissions() & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

}  // namespace
}  // namespace hearth::audit
