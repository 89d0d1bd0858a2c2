#include "server/audit_filter.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "models/catalog.h"
#include "server/auth_filter.h"
#include "auth/key_store.h"

namespace hearth {
namespace {


const char* verb(std::string_view method) {
  if (method == "GET" || method == "HEAD") return "read";
  if (method == "POST") return "create";
  if (method == "PUT" || method == "PATCH") return "update";
  if (method == "DELETE") return "delete";
  if (method == "WS") return "session";
  return "other";
}

const char* decision_of(int status) {
  if (status == 401 || status == 403) return "deny";
  if (status == 429) return "limited";
  return "allow";
}

const char* outcome_of(int status) {
  if (status == 0) return "cancelled";
  if (status < 400) return "ok";
  if (status == 401) return "unauthenticated";
  if (status == 403) return "forbidden";
  if (status == 429) return "rate_limited";
  if (status < 500) return "rejected";
  return "error";
}

class AuditFilter final : public Middleware {
 public:
  explicit AuditFilter(AuditTrail& trail) : trail_(trail) {}

  void on_response(Exchange& ex) override {
    const RequestContext& ctx = ex.context();
    const HttpRequest& req = ex.request();
    if (!ctx.route_matched) return;  // 404s for unknown paths say nothing about anyone
    const bool scrape = ctx.permission == Permission::kPublic || ctx.permission == Permission::kMetricsRead;
    if (scrape && ctx.status < 400) return;
    const bool ws = !req.header("upgrade").empty();
    audit::AuditRecord r;
    r.principal = audit_principal(ctx, req);
    if (ctx.principal) r.role = ctx.principal->role;
    r.client_ip = client_ip_of(req.remote);
    r.request_id = ctx.request_id;
    r.method = ws ? "WS" : req.method;
    r.route = ctx.route;
    r.model = ctx.model;
    r.collection = ctx.collection;
    if (r.collection.empty()) {
      if (auto it = ctx.path_params.find("collection"); it != ctx.path_params.end()) r.collection = it->second;
    }
    r.action = ctx.status == 401 ? "auth.failure" : audit_action(r.method, ctx.route);
    r.decision = decision_of(ctx.status);
    r.status = ctx.status;
    r.outcome = outcome_of(ctx.status);
    r.filter_hits = ctx.filter_hits;
    r.prompt_tokens = static_cast<std::int64_t>(ctx.prompt_tokens);
    r.completion_tokens = static_cast<std::int64_t>(ctx.completion_tokens);
    if (trail_.record_content() && req.method == "POST" && req.body.size() <= (64u << 10)) r.content = req.body;
    trail_.record(std::move(r));
  }

 private:
  AuditTrail& trail_;
};

}  // namespace

std::string audit_action(std::string_view method, std::string_view route) {
  std::string out;
  std::string_view rest = route;
  if (rest.rfind("/v1/", 0) == 0) rest.remove_prefix(4);
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    if (!seg.empty() && seg.front() != '{') {
      if (!out.empty()) out += '.';
      out += seg;
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (!out.empty()) out += '.';
  return out + verb(method);
}

std::string client_ip_of(std::string_view remote) {
  const std::size_t colon = remote.rfind(':');
  if (colon == std::string_view::npos) return std::string(remote);
  return std::string(remote.substr(0, colon));
}

std::string audit_principal(const RequestContext& ctx, const HttpRequest& request) {
  if (ctx.principal) return ctx.principal->id;
  if (auto id = auth::key_id_of(presented_credential(request))) return *id;
  return "";
}

Result<std::unique_ptr<AuditTrail>> AuditTrail::open(const AuditSettings& settings) {
  auto store = audit::open_sqlite_audit(settings.db);
  if (!store) return store.take_error();
  std::unique_ptr<AuditTrail> t(new AuditTrail());
  t->store_ = std::move(*store);
  t->writer_ = std::make_unique<audit::AuditWriter>(*t->store_);
  t->retention_days_ = settings.retention_days;
  t->record_content_ = settings.record_content;
  return t;
}

AuditTrail::~AuditTrail() {
  writer_.reset();  // flushes before the store goes
}

Result<std::int64_t> AuditTrail::apply_retention(std::int64_t now) {
  if (retention_days_ <= 0) return std::int64_t{0};
  const std::int64_t before = now - std::int64_t{retention_days_} * 86400 * 1000;
  auto n = store_->apply_retention(before);
  if (n && *n > 0) spdlog::info("audit: {} record(s) older than {} days deleted", *n, retention_days_);
  return n;
}

std::unique_ptr<Middleware> make_audit_middleware(AuditTrail& trail) { return std::make_unique<AuditFilter>(trail); }

}  // namespace hearth
