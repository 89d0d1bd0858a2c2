// The server's audit trail: every request a route matched (except health and metrics scrapes
// that succeeded) becomes one audit record when its response ends: who (principal, role, client
// address), what (method, route, action, model, collection), the decision (allow, deny, limited),
// the filters that fired, the outcome and the tokens used. Authentication failures are recorded
// with the key id they claimed, if any. Records go through an AuditWriter, so request threads
// never wait for the database. Older records are deleted after [audit] retention_days.
//
// Threading: the filter is shared by every connection; AuditTrail::record() may be called from
// any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "audit/audit_log.h"
#include "core/result.h"
#include "server/router.h"

namespace hearth {

struct AuditSettings;

class AuditTrail {
 public:
  // Opens [audit] db (creating it) and starts its writer.
  static Result<std::unique_ptr<AuditTrail>> open(const AuditSettings& settings);
  ~AuditTrail();

  void record(audit::AuditRecord record) { writer_->submit(std::move(record)); }
  void flush() { writer_->flush(); }
  audit::AuditStore& store() { return *store_; }
  bool record_content() const { return record_content_; }
  // Deletes records older than retention_days (none when it is 0). Returns how many.
  Result<std::int64_t> apply_retention(std::int64_t now_ms);

 private:
  AuditTrail() = default;
  std::unique_ptr<audit::AuditStore> store_;
  std::unique_ptr<audit::AuditWriter> writer_;
  int retention_days_ = 0;
  bool record_content_ = false;
};

// The filter; put it after the request id filter and before auth (so that it sees refusals).
std::unique_ptr<Middleware> make_audit_middleware(AuditTrail& trail);

// "POST" + "/v1/chat/completions" -> "chat.completions.create"; "DELETE" + "/v1/admin/keys/{key}"
// -> "admin.keys.delete"; "WS" + "/v1/realtime" -> "realtime.session".
std::string audit_action(std::string_view method, std::string_view route);

// "10.0.0.1:5000" -> "10.0.0.1"; "::1:5000" -> "::1".
std::string client_ip_of(std::string_view remote);

// The audit principal of a request: the principal's id, or for a refused credential the key id it
// claimed ("" when none could be read).
std::string audit_principal(const RequestContext& ctx, const HttpRequest& request);

}  // namespace hearth
