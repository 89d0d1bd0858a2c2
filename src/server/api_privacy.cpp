// /v1/admin/audit and /v1/admin/privacy: the audit log (export as JSON lines, verify the chain)
// and data-subject rights (export, erase). Admin permissions (audit.read, privacy.manage) in the
// route table; what an admin does here is itself in the audit log (the audit filter).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <limits>
#include <sstream>

#include "audit/audit_log.h"
#include "privacy/registry.h"
#include "server/api.h"
#include "server/async_util.h"
#include "server/audit_filter.h"
#include "server/error_mapping.h"

namespace hearth {
using json = nlohmann::json;

namespace {

Result<AuditTrail*> trail(ApiContext& api) {
  if (!api.audit) return unavailable("the audit log is off on this server ([audit] enabled = false)");
  return api.audit;
}

// A query parameter of unix milliseconds; `fallback` when absent.
Result<std::int64_t> millis(const std::string& query, const char* name, std::int64_t fallback) {
  const std::string v = query_param(query, name);
  if (v.empty()) return fallback;
  std::int64_t out = 0;
  for (char c : v) {
    if (c < '0' || c > '9' || out > (std::numeric_limits<std::int64_t>::max() - 9) / 10) {
      return invalid_argument(fmt::format("'{}' must be unix milliseconds (digits only)", name), name);
    }
    out = out * 10 + (c - '0');
  }
  return out;
}

struct UsageQuery {
  std::int64_t from = 0, to = 0, bucket = 0;
  audit::UsageGroup group = audit::UsageGroup::kPrincipal;
  std::string bucket_name, group_name;
};

// ?from=MS&to=MS (default: the last 24 hours up to now) &bucket=minute|hour|day (hour)
// &group=principal|model (principal); at most 5,000 buckets.
Result<UsageQuery> usage_query(const std::string& q) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count() + 1;
  UsageQuery u;
  u.bucket_name = query_param(q, "bucket");
  if (u.bucket_name.empty()) u.bucket_name = "hour";
  static const std::pair<const char*, std::int64_t> kBuckets[] = {{"minute", 60'000}, {"hour", 3'600'000},
                                                                  {"day", 86'400'000}};
  for (const auto& [name, ms] : kBuckets) {
    if (u.bucket_name == name) u.bucket = ms;
  }
  if (!u.bucket) return invalid_argument("'bucket' must be minute, hour or day", "bucket");
  u.group_name = query_param(q, "group");
  if (u.group_name.empty()) u.group_name = "principal";
  if (u.group_name != "principal" && u.group_name != "model") {
    return invalid_argument("'group' must be principal or model", "group");
  }
  u.group = u.group_name == "model" ? audit::UsageGroup::kModel : audit::UsageGroup::kPrincipal;
  auto to = millis(q, "to", now);
  auto from = millis(q, "from", (to ? *to : now) - 86'400'000);
  if (!from || !to) return !from ? from.take_error() : to.take_error();
  u.from = *from;
  u.to = *to;
  if (u.to <= u.from) return invalid_argument("'to' must be after 'from'", "to");
  if ((u.to - u.from) / u.bucket > 5000) return invalid_argument("at most 5000 buckets: choose a larger bucket", "bucket");
  return u;
}

json usage_json(const UsageQuery& u, const std::vector<audit::UsageRow>& rows) {
  json data = json::array();
  for (const auto& r : rows) {
    data.push_back({{"t", r.bucket_ms}, {"group", r.group}, {"requests", r.requests}, {"errors", r.errors},
                    {"prompt_tokens", r.prompt_tokens}, {"completion_tokens", r.completion_tokens}});
  }
  return {{"object", "list"}, {"bucket", u.bucket_name}, {"group", u.group_name}, {"from", u.from},
          {"to", u.to}, {"data", std::move(data)}};
}

json verified_json(std::int64_t n) { return {{"object", "audit.verification"}, {"ok", true}, {"records", n}}; }

}  // namespace

Task<> handle_admin_audit_export(ApiContext& api, Exchange& ex) {
  auto t = trail(api);
  if (!t) co_return co_await ex.respond(error_response(t.error()));
  const std::string& q = ex.request().query;
  auto from = millis(q, "from", 0);
  auto to = millis(q, "to", std::numeric_limits<std::int64_t>::max());
  if (!from || !to) co_return co_await ex.respond(error_response(!from ? from.error() : to.error()));
  auto work = [a = *t, f = *from, e = *to, who = query_param(q, "principal")]() -> Result<std::string> {
    a->flush();  // what was recorded before this request is in the export
    std::ostringstream out;
    HEARTH_TRY(a->store().export_jsonl(f, e, who, out));
    return out.str();
  };
  auto lines = co_await run_blocking(api.blocking, work);
  if (!lines) co_return co_await ex.respond(error_response(lines.error()));
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/x-ndjson";
  r.body = std::move(*lines);
  co_await ex.respond(std::move(r));
}

Task<> handle_admin_audit_verify(ApiContext& api, Exchange& ex) {
  auto t = trail(api);
  if (!t) co_return co_await ex.respond(error_response(t.error()));
  auto work = [a = *t] {
    a->flush();
    return a->store().verify();
  };
  auto n = co_await run_blocking(api.blocking, work);
  if (!n) co_return co_await ex.respond(error_response(n.error()));
  co_await ex.respond(json_response(200, verified_json(*n).dump()));
}

// Requests and tokens per principal or model over time, from the audit log.
Task<> handle_admin_usage(ApiContext& api, Exchange& ex) {
  auto t = trail(api);
  if (!t) co_return co_await ex.respond(error_response(t.error()));
  auto u = usage_query(ex.request().query);
  if (!u) co_return co_await ex.respond(error_response(u.error()));
  auto work = [a = *t, q = *u]() -> Result<json> {
    a->flush();
    auto rows = a->store().usage(q.from, q.to, q.bucket, q.group);
    if (!rows) return rows.take_error();
    return usage_json(q, *rows);
  };
  auto out = co_await run_blocking(api.blocking, work);
  if (!out) co_return co_await ex.respond(error_response(out.error()));
  co_await ex.respond(json_response(200, out->dump(-1, ' ', false, json::error_handler_t::replace)));
}

Task<> handle_admin_privacy_export(ApiContext& api, Exchange& ex) {
  if (!api.privacy) co_return co_await ex.respond(error_response(unavailable("no personal data stores are open")));
  auto work = [&api, who = ex.context().path_params["subject"]] {
    if (api.audit) api.audit->flush();
    return api.privacy->export_subject(who, unix_time_now());
  };
  auto out = co_await run_blocking(api.blocking, work);
  if (!out) co_return co_await ex.respond(error_response(out.error()));
  co_await ex.respond(json_response(200, out->dump(-1, ' ', false, json::error_handler_t::replace)));
}

Task<> handle_admin_privacy_erase(ApiContext& api, Exchange& ex) {
  if (!api.privacy) co_return co_await ex.respond(error_response(unavailable("no personal data stores are open")));
  auto work = [&api, who = ex.context().path_params["subject"]] {
    if (api.audit) api.audit->flush();
    return api.privacy->erase_subject(who);
  };
  auto out = co_await run_blocking(api.blocking, work);
  if (!out) co_return co_await ex.respond(error_response(out.error()));
  co_await ex.respond(json_response(200, out->dump(-1, ' ', false, json::error_handler_t::replace)));
}

}  // namespace hearth
