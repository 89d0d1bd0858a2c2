// The audit log: an append-only, hash-chained record of who did what (requests, key changes,
// authentication failures, privacy actions), with retention, data-subject export and erasure.
//
// The chain. Every record carries prev_hash (the previous record's hash; 64 zeros before the
// first record ever written) and
//   hash = hex SHA-256( prev_hash || canonical JSON of the hashed fields )
// The hashed fields are exactly these keys, in one JSON object dumped compactly with its keys in
// sorted order (nlohmann::json's default object is a std::map):
//   action collection completion_tokens decision filter_hits method model outcome personal
//   prev_hash prompt_tokens request_id role route seq status time_ms
// where `personal` = hex SHA-256( salt || canonical JSON of {client_ip, content, principal} ) and
// salt is 16 random bytes (hex) kept with the record. The personal fields are hashed through this
// salted digest, rather than directly, so that erasure (below) can remove them without breaking
// the chain and without leaving a digest that could be reversed by guessing (an IP address and a
// key id are few enough to enumerate; the salt, deleted on erasure, prevents that).
//
// Erasure (pseudonymise). A data subject's records keep their place in the chain and their hash.
// Their principal becomes "erased:" + 16 hex of HMAC-SHA256(secret, principal), client_ip and
// content are cleared, the salt is deleted, and the `personal` digest is kept in the column
// sealed_hash. verify() uses the sealed digest in place of the one it can no longer recompute, so
// every other field of an erased record (model, action, time, ...) is still covered by the chain
// and tampering with it is still detected. The erasure is itself recorded: pseudonymise() appends
// a "privacy.pseudonymise" record for the pseudonym, each erased record points to it, and verify()
// rejects a record marked erased that does not point to one, or that still holds personal data.
// So the marker can only hide what erasure removes, and every use of it is visible in the chain.
//
// Limits. The hash is not keyed: the chain shows edits, deletions, insertions and reordering made
// without recomputing the hashes that follow, and someone who can rewrite the database can rewrite
// the chain from the point of an edit onwards, or drop records from its end. Copying the newest
// hash (export_jsonl's last line) somewhere else now and then makes that detectable too.
//
// Thread-safety: an AuditStore may be used from any thread (calls are serialised); AuditWriter's
// submit() may be called from any thread and never blocks on the database.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace hearth::audit {

struct AuditRecord {
  std::int64_t seq = 0;          // assigned by the log, 1, 2, ...
  std::int64_t time_ms = 0;      // unix milliseconds; 0 = now, filled in by the log
  std::string principal;         // key id, user, "anonymous", or "" when unauthenticated
  std::string role, client_ip, request_id, method, route, model, collection;
  std::string action;            // e.g. "chat", "key.create", "auth.failure", "privacy.delete"
  std::string decision;          // "allow", "deny"
  int status = 0;                // HTTP status
  std::string outcome;           // "ok", "error", "cancelled", ...
  std::vector<std::string> filter_hits;  // e.g. "output:cn_mobile:mask"
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string content;           // message content, only when configured; usually empty
  std::string prev_hash, hash;   // hex SHA-256 chain (see above); filled by the log
  bool pseudonymised = false;    // set by the log when read back: principal, client_ip, content erased
};

// The action of the record pseudonymise() appends.
inline constexpr const char* kPseudonymiseAction = "privacy.pseudonymise";

// The record as one compact JSON object (every field above, by name). Invalid UTF-8 becomes U+FFFD.
std::string to_json(const AuditRecord& record);

// Usage over time (the admin area's charts): requests that named a model, per time bucket and per
// principal or model.
struct UsageRow {
  std::int64_t bucket_ms = 0;  // the bucket's start (unix milliseconds, a multiple of the bucket size)
  std::string group;           // the principal or the model
  std::int64_t requests = 0, errors = 0;  // errors: status >= 400 (refusals included)
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
};
enum class UsageGroup { kPrincipal, kModel };

class AuditStore {  // the interface a server database can implement later
 public:
  virtual ~AuditStore() = default;
  // Fills seq, prev_hash, hash (and time_ms when 0). Strings that are not valid UTF-8 are stored
  // (and hashed) with U+FFFD in place of the invalid bytes.
  virtual Status append(AuditRecord& record) = 0;
  virtual Status append_batch(std::vector<AuditRecord>& records) = 0;  // one transaction
  // Walks the chain from the start (or the first retained record, whose prev_hash is the retention
  // anchor); the first broken link is kInternal naming the seq and what differs ("record 17: hash
  // mismatch (contents changed)", "record 18: prev_hash does not match record 17", "records 5..7
  // missing"). Returns the number of records checked.
  virtual Result<std::int64_t> verify() = 0;
  // Records with from_ms <= time_ms < to_ms, of `principal` (empty: of everyone), oldest first, as
  // JSON lines (to_json, one object per line).
  virtual Status export_jsonl(std::int64_t from_ms, std::int64_t to_ms, const std::string& principal,
                              std::ostream& out) = 0;
  // Deletes the records at the start of the chain that are older than `before_ms` (it stops at the
  // first newer one), keeping the last deleted record's seq and hash as the anchor the first
  // remaining record links to. Returns the number deleted.
  virtual Result<std::int64_t> apply_retention(std::int64_t before_ms) = 0;
  // Data-subject erasure (see above): pseudonymises the principal's records and appends the
  // "privacy.pseudonymise" record (only when there was something to change). Returns the number of
  // records changed. An empty principal or secret, or one already "erased:...", is kInvalidArgument.
  virtual Result<std::int64_t> pseudonymise(const std::string& principal, const std::string& secret) = 0;
  // Every record of a principal (for data-subject export), oldest first.
  virtual Result<std::vector<AuditRecord>> records_of(const std::string& principal) = 0;
  // Sums of the records with from_ms <= time_ms < to_ms and a model, by bucket then group.
  virtual Result<std::vector<UsageRow>> usage(std::int64_t from_ms, std::int64_t to_ms, std::int64_t bucket_ms,
                                              UsageGroup group) = 0;
};

// Opens (creating if missing, owner-only) a SQLite audit log: WAL, synchronous=FULL (a committed
// audit record survives power loss), busy_timeout, schema version checked. A file from a newer
// Hearth, or one that cannot be opened or written, is an error naming the file.
Result<std::unique_ptr<AuditStore>> open_sqlite_audit(const std::string& path);

// Buffers records from many threads and writes them in batches on its own thread, so that request
// threads never wait for the database. A record that cannot be queued (the queue holds max_queue)
// or written (the store failed; logged) is dropped and counted, never blocking the caller.
class AuditWriter {
 public:
  explicit AuditWriter(AuditStore& store, std::size_t max_queue = 100000);
  ~AuditWriter();  // flushes; submit() must not be called once destruction has begun
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  void submit(AuditRecord record);
  void flush();  // waits until everything submitted before the call is written (or dropped)
  std::uint64_t dropped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::audit
