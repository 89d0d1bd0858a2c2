// The SQLite AuditStore: one table of records (one column per field, so that the chain can be
// checked field by field), and audit_meta holding the retention anchor.
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "audit/audit_log.h"
#include "core/sqlite_file.h"
#include "audit/audit_record_internal.h"
#include "core/openssl_error.h"

namespace hearth::audit {
namespace {

constexpr int kSchemaVersion = 1;
constexpr int kBusyTimeoutMs = 5000;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kPseudonymHexChars = 16;
constexpr std::string_view kErasedPrefix = "erased:";

// salt is NULL once erased; sealed_hash and erased_by are NULL until then (see audit_log.h).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  principal TEXT NOT NULL,
  role TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  request_id TEXT NOT NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  model TEXT NOT NULL,
  collection TEXT NOT NULL,
  action TEXT NOT NULL,
  decision TEXT NOT NULL,
  status INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  filter_hits TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  content TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  salt TEXT,
  sealed_hash TEXT,
  erased_by INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time_ms);
CREATE INDEX IF NOT EXISTS audit_log_principal ON audit_log (principal);
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
)sql";

constexpr const char* kColumns =
    "seq, time_ms, principal, role, client_ip, request_id, method, route, model, collection, action, decision, "
    "status, outcome, filter_hits, prompt_tokens, completion_tokens, content, prev_hash, hash, salt, sealed_hash, "
    "erased_by";

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

// A prepared statement with positional binding.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) stmt_.reset(s);
  }
  bool ok() const { return stmt_ != nullptr; }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_.get(), i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return sqlite3_step(stmt_.get()); }  // SQLITE_ROW, SQLITE_DONE, or an error code
  void reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }
  bool is_null(int col) { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::int64_t i64(int col) { return sqlite3_column_int64(stmt_.get(), col); }
  std::string text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col))) : std::string();
  }
  std::optional<std::string> opt_text(int col) {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }

 private:
  std::unique_ptr<sqlite3_stmt, StmtFinalize> stmt_;
};

// A record as stored, with what verify() needs beside it.
struct StoredRow {
  AuditRecord r;
  std::optional<std::string> salt, sealed_hash;
  std::optional<std::int64_t> erased_by;
  bool filter_hits_ok = true;
};

bool parse_hits(const std::string& text, std::vector<std::string>& out) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return false;
  for (const auto& item : j) {
    if (!item.is_string()) return false;
    out.push_back(item.get<std::string>());
  }
  return true;
}

StoredRow read_row(Stmt& s) {  // a row of SELECT kColumns
  StoredRow row;
  AuditRecord& r = row.r;
  r.seq = s.i64(0);
  r.time_ms = s.i64(1);
  r.principal = s.text(2);
  r.role = s.text(3);
  r.client_ip = s.text(4);
  r.request_id = s.text(5);
  r.method = s.text(6);
  r.route = s.text(7);
  r.model = s.text(8);
  r.collection = s.text(9);
  r.action = s.text(10);
  r.decision = s.text(11);
  r.status = static_cast<int>(s.i64(12));
  r.outcome = s.text(13);
  row.filter_hits_ok = parse_hits(s.text(14), r.filter_hits);
  r.prompt_tokens = s.i64(15);
  r.completion_tokens = s.i64(16);
  r.content = s.text(17);
  r.prev_hash = s.text(18);
  r.hash = s.text(19);
  row.salt = s.opt_text(20);
  row.sealed_hash = s.opt_text(21);
  if (!s.is_null(22)) row.erased_by = s.i64(22);
  r.pseudonymised = row.sealed_hash.has_value();
  return row;
}

std::string to_hex(const unsigned char* p, std::size_t n) {
  std::string hex;
  hex.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) hex += fmt::format("{:02x}", p[i]);
  return hex;
}

Result<std::string> random_hex(std::size_t n) {
  std::vector<unsigned char> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) {
    return internal_error("audit log: RAND_bytes failed: " + openssl_errors());
  }
  return to_hex(bytes.data(), n);
}

Result<std::string> pseudonym_of(const std::string& principal, const std::string& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(principal.data()), principal.size(), mac, &len)) {
    return internal_error("audit log: HMAC-SHA256 failed: " + openssl_errors());
  }
  return std::string(kErasedPrefix) + to_hex(mac, len).substr(0, kPseudonymHexChars);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// For insert(): a new record has no seal and no erasure.
std::string insert_sql() {
  return fmt::format("INSERT INTO audit_log ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                     "?15, ?16, ?17, ?18, ?19, ?20, ?21, NULL, NULL)",
                     kColumns);
}

Error broken(std::string msg) { return internal_error("audit log chain broken: " + std::move(msg)); }

// Where the chain continues: the last record, or the retention anchor when none is left.
struct Link {
  std::int64_t seq = 0;
  std::string hash;
};

class SqliteAuditStore final : public AuditStore {
 public:
  SqliteAuditStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

  Status init();
  Status append(AuditRecord& record) override;
  Status append_batch(std::vector<AuditRecord>& records) override;
  Result<std::int64_t> verify() override;
  Status export_jsonl(std::int64_t from_ms, std::int64_t to_ms, const std::string& principal,
                      std::ostream& out) override;
  Result<std::int64_t> apply_retention(std::int64_t before_ms) override;
  Result<std::int64_t> pseudonymise(const std::string& principal, const std::string& secret) override;
  Result<std::vector<AuditRecord>> records_of(const std::string& principal) override;
  Result<std::vector<UsageRow>> usage(std::int64_t from_ms, std::int64_t to_ms, std::int64_t bucket_ms,
                                      UsageGroup group) override;

 private:
  Error db_error(std::string_view what) {
    const int code = sqlite3_errcode(db_.get());
    std::string msg = fmt::format("audit log '{}': {}: {}", path_, what, sqlite3_errmsg(db_.get()));
    if (code == SQLITE_FULL || code == SQLITE_NOMEM) return resource_exhausted(std::move(msg));
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return unavailable(std::move(msg));
    return internal_error(std::move(msg));
  }

  Status exec(const std::string& sql, std::string_view what) {
    if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(what);
    return {};
  }

  // Runs body() in a write transaction (BEGIN IMMEDIATE: other processes wait on busy_timeout
  // rather than failing part-way), rolled back when it fails.
  template <typename F>
  Status transaction(F&& body) {
    HEARTH_TRY(exec("BEGIN IMMEDIATE", "begin a transaction"));
    Status st = body();
    if (st) st = exec("COMMIT", "commit");
    if (!st) (void)exec("ROLLBACK", "roll back");
    return st;
  }

  Status migrate();
  Result<Link> anchor();
  Result<Link> last_link();
  Status insert(Stmt& ins, AuditRecord& r, Link& last);
  struct Seal {
    std::int64_t seq = 0;
    std::string digest;  // the record's personal digest, kept as sealed_hash
  };
  Result<std::vector<Seal>> seals_of(const std::string& principal);
  Status erase(const std::vector<Seal>& seals, const std::string& pseudonym);
  Status check_link(const StoredRow& row, const Link& expect, const Link& anchor);
  Status check_contents(const StoredRow& row, Stmt& erasure);
  Status select(const std::string& where, const std::vector<std::string>& texts,
                const std::vector<std::int64_t>& ints, const std::function<Status(AuditRecord&&)>& each);

  std::string path_;
  std::unique_ptr<sqlite3, DbClose> db_;
  std::mutex mu_;  // the connection
};

Status SqliteAuditStore::init() {
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  {
    // journal_mode answers with the mode in force: a file that cannot be written stays in another.
    Stmt s(db_.get(), "PRAGMA journal_mode = WAL");
    if (!s.ok() || s.step() != SQLITE_ROW) return db_error("enable WAL");
    if (s.text(0) != "wal") {
      return unavailable(fmt::format("audit log '{}': cannot use WAL (journal mode is '{}'); is the file writable?",
                                     path_, s.text(0)));
    }
  }
  HEARTH_TRY(exec("PRAGMA synchronous = FULL", "set synchronous"));
  return transaction([this] { return migrate(); });
}

// Creates the tables in a fresh file; refuses a file from a newer Hearth.
Status SqliteAuditStore::migrate() {
  Stmt s(db_.get(), "PRAGMA user_version");
  if (!s.ok() || s.step() != SQLITE_ROW) return db_error("read the schema version");
  const std::int64_t version = s.i64(0);
  if (version > kSchemaVersion) {
    return unavailable(fmt::format("audit log '{}' has schema version {}; this Hearth knows up to {} (upgrade Hearth, "
                                   "or point the audit log at another file)",
                                   path_, version, kSchemaVersion));
  }
  if (version == kSchemaVersion) return {};
  HEARTH_TRY(exec(kSchema, "create the schema"));
  HEARTH_TRY(exec(fmt::format("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('anchor_seq', '0'), "
                              "('anchor_hash', '{}')",
                              kGenesisHash),
                  "write the chain's start"));
  return exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion), "set the schema version");
}

Result<Link> SqliteAuditStore::anchor() {
  Stmt s(db_.get(), "SELECT key, value FROM audit_meta WHERE key IN ('anchor_seq', 'anchor_hash')");
  if (!s.ok()) return db_error("read the retention anchor");
  Link a;
  bool have_seq = false, have_hash = false;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    const std::string key = s.text(0), value = s.text(1);
    if (key == "anchor_hash") {
      a.hash = value;
      have_hash = true;
    } else {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), a.seq);
      have_seq = ec == std::errc() && end == value.data() + value.size() && a.seq >= 0;
    }
  }
  if (rc != SQLITE_DONE) return db_error("read the retention anchor");
  if (!have_seq || !have_hash) return broken("the retention anchor in audit_meta is missing or damaged");
  return a;
}

Result<Link> SqliteAuditStore::last_link() {
  Stmt s(db_.get(), "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (!s.ok()) return db_error("read the last record");
  const int rc = s.step();
  if (rc == SQLITE_ROW) return Link{s.i64(0), s.text(1)};
  if (rc != SQLITE_DONE) return db_error("read the last record");
  return anchor();
}

// Fills in the record's place in the chain after `last`, writes it, and moves `last` on to it.
Status SqliteAuditStore::insert(Stmt& ins, AuditRecord& r, Link& last) {
  sanitize(r);
  r.pseudonymised = false;
  if (r.time_ms == 0) r.time_ms = now_ms();
  r.seq = last.seq + 1;
  r.prev_hash = last.hash;
  auto salt = random_hex(kSaltBytes);
  if (!salt) return salt.take_error();
  const auto personal = personal_digest(*salt, r);
  const auto hash = personal ? chain_hash(r, *personal) : std::nullopt;
  if (!hash) return internal_error("audit log: a sanitised record has no canonical form");  // a bug
  r.hash = *hash;
  ins.reset();
  ins.bind(1, r.seq).bind(2, r.time_ms).bind(3, r.principal).bind(4, r.role).bind(5, r.client_ip);
  ins.bind(6, r.request_id).bind(7, r.method).bind(8, r.route).bind(9, r.model).bind(10, r.collection);
  ins.bind(11, r.action).bind(12, r.decision).bind(13, std::int64_t{r.status}).bind(14, r.outcome);
  ins.bind(15, nlohmann::json(r.filter_hits).dump()).bind(16, r.prompt_tokens).bind(17, r.completion_tokens);
  ins.bind(18, r.content).bind(19, r.prev_hash).bind(20, r.hash).bind(21, *salt);
  if (ins.step() != SQLITE_DONE) return db_error("append a record");
  last = {r.seq, r.hash};
  return {};
}

Status SqliteAuditStore::append(AuditRecord& record) {
  std::vector<AuditRecord> one(1, std::move(record));
  Status st = append_batch(one);
  record = std::move(one.front());
  return st;
}

Status SqliteAuditStore::append_batch(std::vector<AuditRecord>& records) {
  if (records.empty()) return {};
  std::lock_guard lock(mu_);
  return transaction([&]() -> Status {
    auto last = last_link();
    if (!last) return last.take_error();
    Stmt ins(db_.get(), insert_sql());
    if (!ins.ok()) return db_error("append a record");
    for (AuditRecord& r : records) HEARTH_TRY(insert(ins, r, *last));
    return {};
  });
}

// The record's place: the seq and prev_hash the chain expects next.
Status SqliteAuditStore::check_link(const StoredRow& row, const Link& expect, const Link& anchor) {
  const std::int64_t seq = row.r.seq;
  if (seq < expect.seq) {  // only the first row can be here: ORDER BY seq on a primary key
    return broken(fmt::format("record {} comes before the retention anchor (record {})", seq, anchor.seq));
  }
  if (seq == expect.seq + 1) return broken(fmt::format("record {} missing", expect.seq));
  if (seq > expect.seq) return broken(fmt::format("records {}..{} missing", expect.seq, seq - 1));
  if (row.r.prev_hash == expect.hash) return {};
  if (seq == 1) return broken("record 1: prev_hash is not the start of the chain");
  if (seq == anchor.seq + 1) {
    return broken(fmt::format("record {}: prev_hash does not match the retention anchor (record {})", seq, anchor.seq));
  }
  return broken(fmt::format("record {}: prev_hash does not match record {}", seq, seq - 1));
}

// The record's hash, and for an erased record, that it was erased as pseudonymise() does.
Status SqliteAuditStore::check_contents(const StoredRow& row, Stmt& erasure) {
  const AuditRecord& r = row.r;
  std::optional<std::string> personal;
  if (row.sealed_hash) {
    if (!r.principal.starts_with(kErasedPrefix) || !r.client_ip.empty() || !r.content.empty() || row.salt) {
      return broken(fmt::format("record {}: marked pseudonymised but still holds personal data", r.seq));
    }
    bool recorded = false;
    if (row.erased_by && *row.erased_by > r.seq) {
      erasure.reset();
      erasure.bind(1, *row.erased_by);
      recorded = erasure.step() == SQLITE_ROW && erasure.text(0) == kPseudonymiseAction && erasure.text(1) == r.principal;
    }
    if (!recorded) {
      return broken(fmt::format("record {}: marked pseudonymised, but no {} record of {} follows it", r.seq,
                                kPseudonymiseAction, r.principal));
    }
    personal = row.sealed_hash;
  } else if (row.salt) {
    personal = personal_digest(*row.salt, r);
  }
  if (!personal || !row.filter_hits_ok) return broken(fmt::format("record {}: hash mismatch (damaged)", r.seq));
  if (chain_hash(r, *personal) != r.hash) {
    return broken(fmt::format("record {}: hash mismatch (contents changed)", r.seq));
  }
  return {};
}

Result<std::int64_t> SqliteAuditStore::verify() {
  std::lock_guard lock(mu_);
  // One read transaction: a consistent snapshot while writers go on in WAL.
  HEARTH_TRY(exec("BEGIN", "begin a read transaction"));
  auto walk = [&]() -> Result<std::int64_t> {
    auto a = anchor();
    if (!a) return a.take_error();
    Stmt rows(db_.get(), fmt::format("SELECT {} FROM audit_log ORDER BY seq", kColumns));
    Stmt erasure(db_.get(), "SELECT action, principal FROM audit_log WHERE seq = ?1");
    if (!rows.ok() || !erasure.ok()) return db_error("read records");
    Link expect{a->seq + 1, a->hash};
    std::int64_t checked = 0;
    int rc;
    while ((rc = rows.step()) == SQLITE_ROW) {
      const StoredRow row = read_row(rows);
      HEARTH_TRY(check_link(row, expect, *a));
      HEARTH_TRY(check_contents(row, erasure));
      expect = {row.r.seq + 1, row.r.hash};
      ++checked;
    }
    if (rc != SQLITE_DONE) return db_error("read records");
    return checked;
  };
  auto result = walk();
  (void)exec("COMMIT", "end a read transaction");
  return result;
}

// Calls each() with the records of SELECT ... `where`, oldest first, one at a time (an export
// of a long log need not fit in memory); stops at its first error. Caller holds mu_.
Status SqliteAuditStore::select(const std::string& where, const std::vector<std::string>& texts,
                                const std::vector<std::int64_t>& ints,
                                const std::function<Status(AuditRecord&&)>& each) {
  Stmt s(db_.get(), fmt::format("SELECT {} FROM audit_log {} ORDER BY seq", kColumns, where));
  if (!s.ok()) return db_error("read records");
  int i = 1;
  for (const std::string& t : texts) s.bind(i++, t);
  for (std::int64_t v : ints) s.bind(i++, v);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    StoredRow row = read_row(s);
    if (!row.filter_hits_ok) {
      return internal_error(fmt::format("audit log '{}': record {} has a damaged filter_hits list", path_, row.r.seq));
    }
    HEARTH_TRY(each(std::move(row.r)));
  }
  if (rc != SQLITE_DONE) return db_error("read records");
  return {};
}

Status SqliteAuditStore::export_jsonl(std::int64_t from_ms, std::int64_t to_ms, const std::string& principal,
                                      std::ostream& out) {
  std::lock_guard lock(mu_);
  return select("WHERE (?1 = '' OR principal = ?1) AND time_ms >= ?2 AND time_ms < ?3", {principal},
                {from_ms, to_ms}, [&](AuditRecord&& r) -> Status {
                  out << to_json(r) << '\n';
                  if (!out) return internal_error(fmt::format("audit log '{}': writing the export failed", path_));
                  return {};
                });
}

Result<std::vector<AuditRecord>> SqliteAuditStore::records_of(const std::string& principal) {
  std::lock_guard lock(mu_);
  std::vector<AuditRecord> out;
  HEARTH_TRY(select("WHERE principal = ?1", {principal}, {}, [&](AuditRecord&& r) -> Status {
    out.push_back(std::move(r));
    return {};
  }));
  return out;
}

Result<std::vector<UsageRow>> SqliteAuditStore::usage(std::int64_t from_ms, std::int64_t to_ms, std::int64_t bucket_ms,
                                                      UsageGroup group) {
  if (bucket_ms < 1) return invalid_argument("the usage bucket must be at least 1 ms", "bucket");
  std::lock_guard lock(mu_);
  const char* column = group == UsageGroup::kModel ? "model" : "principal";
  Stmt q(db_.get(), fmt::format("SELECT (time_ms / ?3) * ?3 AS b, {0}, count(*), sum(status >= 400), "
                                "sum(prompt_tokens), sum(completion_tokens) FROM audit_log "
                                "WHERE time_ms >= ?1 AND time_ms < ?2 AND model != '' GROUP BY b, {0} ORDER BY b, {0}",
                                column));
  if (!q.ok()) return db_error("sum usage");
  q.bind(1, from_ms).bind(2, to_ms).bind(3, bucket_ms);
  std::vector<UsageRow> out;
  int rc = SQLITE_ROW;
  while ((rc = q.step()) == SQLITE_ROW) {
    out.push_back({q.i64(0), q.text(1), q.i64(2), q.i64(3), q.i64(4), q.i64(5)});
  }
  if (rc != SQLITE_DONE) return db_error("sum usage");
  return out;
}

Result<std::int64_t> SqliteAuditStore::apply_retention(std::int64_t before_ms) {
  std::lock_guard lock(mu_);
  std::int64_t deleted = 0;
  Status st = transaction([&]() -> Status {
    // The first record to keep: the oldest one at or after before_ms (times from many threads are
    // not quite in seq order; the chain is cut only at its start).
    Stmt keep(db_.get(), "SELECT min(seq) FROM audit_log WHERE time_ms >= ?1");
    if (!keep.ok() || keep.bind(1, before_ms).step() != SQLITE_ROW) return db_error("find old records");
    const std::int64_t cut = keep.is_null(0) ? std::numeric_limits<std::int64_t>::max() : keep.i64(0);
    Stmt last(db_.get(), "SELECT seq, hash FROM audit_log WHERE seq < ?1 ORDER BY seq DESC LIMIT 1");
    if (!last.ok()) return db_error("find old records");
    const int rc = last.bind(1, cut).step();
    if (rc == SQLITE_DONE) return {};  // nothing old enough
    if (rc != SQLITE_ROW) return db_error("find old records");
    const Link anchor{last.i64(0), last.text(1)};
    Stmt del(db_.get(), "DELETE FROM audit_log WHERE seq <= ?1");
    if (!del.ok() || del.bind(1, anchor.seq).step() != SQLITE_DONE) return db_error("delete old records");
    deleted = sqlite3_changes64(db_.get());
    Stmt meta(db_.get(), "UPDATE audit_meta SET value = CASE key WHEN 'anchor_seq' THEN ?1 ELSE ?2 END "
                         "WHERE key IN ('anchor_seq', 'anchor_hash')");
    if (!meta.ok() || meta.bind(1, std::to_string(anchor.seq)).bind(2, anchor.hash).step() != SQLITE_DONE) {
      return db_error("move the retention anchor");
    }
    return {};
  });
  if (!st) return st.take_error();
  return deleted;
}

// The personal digest of each of the principal's records not yet erased, oldest first.
Result<std::vector<SqliteAuditStore::Seal>> SqliteAuditStore::seals_of(const std::string& principal) {
  Stmt sel(db_.get(), "SELECT seq, client_ip, content, salt FROM audit_log "
                      "WHERE principal = ?1 AND sealed_hash IS NULL ORDER BY seq");
  if (!sel.ok()) return db_error("read the principal's records");
  sel.bind(1, principal);
  std::vector<Seal> seals;
  int rc;
  while ((rc = sel.step()) == SQLITE_ROW) {
    AuditRecord personal;
    personal.principal = principal;
    personal.client_ip = sel.text(1);
    personal.content = sel.text(2);
    const auto salt = sel.opt_text(3);
    auto digest = salt ? personal_digest(*salt, personal) : std::nullopt;
    if (!digest) return broken(fmt::format("record {}: hash mismatch (damaged)", sel.i64(0)));
    seals.push_back({sel.i64(0), std::move(*digest)});
  }
  if (rc != SQLITE_DONE) return db_error("read the principal's records");
  return seals;
}

// Records the erasure in the chain, then erases each sealed record, pointing it at that record.
Status SqliteAuditStore::erase(const std::vector<Seal>& seals, const std::string& pseudonym) {
  AuditRecord note;
  note.principal = pseudonym;
  note.action = kPseudonymiseAction;
  note.decision = "allow";
  note.outcome = "ok";
  auto last = last_link();
  if (!last) return last.take_error();
  Stmt ins(db_.get(), insert_sql());
  if (!ins.ok()) return db_error("record the erasure");
  HEARTH_TRY(insert(ins, note, *last));

  Stmt upd(db_.get(), "UPDATE audit_log SET principal = ?2, client_ip = '', content = '', salt = NULL, "
                      "sealed_hash = ?3, erased_by = ?4 WHERE seq = ?1");
  if (!upd.ok()) return db_error("pseudonymise records");
  for (const Seal& seal : seals) {
    upd.reset();
    upd.bind(1, seal.seq).bind(2, pseudonym).bind(3, seal.digest).bind(4, note.seq);
    if (upd.step() != SQLITE_DONE) return db_error("pseudonymise records");
  }
  return {};
}

Result<std::int64_t> SqliteAuditStore::pseudonymise(const std::string& principal, const std::string& secret) {
  if (principal.empty()) return invalid_argument("no principal to pseudonymise", "principal");
  if (principal.starts_with(kErasedPrefix)) {
    return invalid_argument(fmt::format("'{}' is already a pseudonym", principal), "principal");
  }
  if (secret.empty()) return invalid_argument("pseudonymising needs a secret", "secret");
  auto pseudonym = pseudonym_of(principal, secret);
  if (!pseudonym) return pseudonym.take_error();
  std::lock_guard lock(mu_);
  std::int64_t changed = 0;
  Status st = transaction([&]() -> Status {
    auto seals = seals_of(principal);
    if (!seals) return seals.take_error();
    if (seals->empty()) return {};  // nothing to erase, so nothing to record
    changed = static_cast<std::int64_t>(seals->size());
    return erase(*seals, *pseudonym);
  });
  if (!st) return st.take_error();
  return changed;
}

}  // namespace

Result<std::unique_ptr<AuditStore>> open_sqlite_audit(const std::string& path) {
  if (path.empty()) return invalid_argument("the audit log's file is not set");
  auto opened = open_private_sqlite(path, "the audit log");  // owner-only: it names people and addresses
  if (!opened) return opened.take_error();
  auto store = std::make_unique<SqliteAuditStore>(path, *opened);
  HEARTH_TRY(store->init());
  return std::unique_ptr<AuditStore>(std::move(store));
}

}  // namespace hearth::audit
