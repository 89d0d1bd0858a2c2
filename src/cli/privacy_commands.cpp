#include "cli/privacy_commands.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "audit/audit_log.h"
#include "auth/key_store.h"
#include "auth/secret_file.h"
#include "cli/commands.h"
#include "conversations/personal_data.h"
#include "cli/keys_commands.h"
#include "models/catalog.h"
#include "privacy/registry.h"

namespace hearth {
namespace {

int fail(const Error& e) {
  fmt::print(stderr, "error: {}\n", e.message);
  return e.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

Result<Config> load(const std::string& given) {
  const std::string path = default_config_path(given);
  Config c;
  c.source = "<defaults>";
  if (!path.empty()) {
    auto loaded = load_config(path);
    if (!loaded) return loaded.take_error();
    c = std::move(*loaded);
  }
  fill_data_paths(c);
  return c;
}

std::string os_user() {
  const char* u = std::getenv("USER");
  return u && *u ? u : "unknown";
}

int audit_verify(audit::AuditStore& store) {
  auto n = store.verify();
  if (!n) return fail(n.error());
  fmt::print("audit log intact: {} record(s) verified\n", *n);
  return 0;
}

// Every personal data store on this host, as the server opens them.
struct Stores {
  std::unique_ptr<audit::AuditStore> audit;
  std::unique_ptr<auth::KeyStore> keys;
  std::unique_ptr<conversations::Store> conversations;
  privacy::Registry registry;
};

Result<std::unique_ptr<Stores>> open_stores(const Config& c) {
  auto s = std::make_unique<Stores>();
  std::error_code ec;
  if (c.audit.enabled) {
    auto a = audit::open_sqlite_audit(c.audit.db);
    if (!a) return a.take_error();
    s->audit = std::move(*a);
    s->registry.add(privacy::audit_log_store(*s->audit, [path = c.auth.secret_file] {
      return auth::load_or_create_secret(path);
    }));
  }
  if (std::filesystem::exists(c.auth.db, ec)) {
    auto k = auth::KeyStore::open(c.auth.db, c.auth.secret_file);
    if (!k) return k.take_error();
    s->keys = std::move(*k);
    s->registry.add(privacy::api_key_store(*s->keys));
  }
  if (std::filesystem::exists(c.ui.conversations_db, ec)) {
    auto cs = conversations::open_sqlite_store(c.ui.conversations_db);
    if (!cs) return cs.take_error();
    s->conversations = std::move(*cs);
    s->registry.add(conversations::personal_data_store(*s->conversations));
  }
  return s;
}

int privacy_action(const PrivacyArgs& a, const Config& c) {
  if (a.user.empty()) return fail(invalid_argument("--user is required"));
  auto stores = open_stores(c);
  if (!stores) return fail(stores.error());
  Stores& s = **stores;
  if (a.action == "privacy-export") {
    auto out = s.registry.export_subject(a.user, static_cast<std::int64_t>(std::time(nullptr)));
    if (!out) return fail(out.error());
    fmt::print("{}\n", out->dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  auto out = s.registry.erase_subject(a.user);
  if (!out) return fail(out.error());
  if (s.audit) {
    audit::AuditRecord r;
    r.principal = "cli:" + os_user();
    r.action = "privacy.delete";
    r.decision = "allow";
    r.outcome = "ok";
    if (auto appended = s.audit->append(r); !appended) return fail(appended.error());
  }
  fmt::print("{}\n", out->dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace

void record_cli_action(const Config& config, const std::string& action, const std::string& detail) {
  if (!config.audit.enabled || config.audit.db.empty()) return;
  auto store = audit::open_sqlite_audit(config.audit.db);
  audit::AuditRecord r;
  r.principal = "cli:" + os_user();
  r.action = action;
  r.decision = "allow";
  r.outcome = "ok";
  r.route = detail;  // e.g. the key id acted on
  if (!store || !(*store)->append(r)) {
    fmt::print(stderr, "warning: {} was not recorded in the audit log {}\n", action, config.audit.db);
  }
}

int cmd_privacy(const PrivacyArgs& a) {
  auto c = load(a.config);
  if (!c) return fail(c.error());
  if (a.action == "privacy-export" || a.action == "privacy-delete") return privacy_action(a, *c);
  if (!c->audit.enabled) return fail(invalid_argument("the audit log is off in this config ([audit] enabled = false)"));
  auto store = audit::open_sqlite_audit(c->audit.db);
  if (!store) return fail(store.error());
  if (a.action == "audit-verify") return audit_verify(**store);
  const std::int64_t to = a.to_ms ? a.to_ms : std::numeric_limits<std::int64_t>::max();
  if (auto s = (*store)->export_jsonl(a.from_ms, to, a.principal, std::cout); !s) return fail(s.error());
  return 0;
}

void add_privacy_commands(CLI::App& app, PrivacyArgs& a) {
  const char* config_help = "Config file whose [audit] db and [auth] files are used (default: $HEARTH_CONFIG or "
                            "./config/hearth.toml; none: data/)";
  auto* au = app.add_subcommand("audit", "The audit log: verify its hash chain, export records as JSON lines");
  au->require_subcommand(1);
  au->add_option("-c,--config", a.config, config_help);
  auto* v = au->add_subcommand("verify", "Walk the hash chain; exit 1 naming the first broken record");
  auto* e = au->add_subcommand("export", "Records as JSON lines (stdout), oldest first");
  e->add_option("--from", a.from_ms, "From this time (unix milliseconds, inclusive)");
  e->add_option("--to", a.to_ms, "Before this time (unix milliseconds)");
  e->add_option("--principal", a.principal, "Only this principal's records (a key id, user:NAME, oidc:SUBJECT)");
  v->callback([&a] { a.action = "audit-verify"; });
  e->callback([&a] { a.action = "audit-export"; });
  auto* p = app.add_subcommand("privacy", "Data-subject rights: export or erase what Hearth holds about a person");
  p->require_subcommand(1);
  p->add_option("-c,--config", a.config, config_help);
  auto* px = p->add_subcommand("export", "Everything held about --user, as JSON (GDPR art. 15/20, PIPL art. 45)");
  auto* pd = p->add_subcommand("delete", "Erase or pseudonymise everything held about --user (GDPR art. 17, PIPL art. 47)");
  for (auto* sub : {px, pd}) {
    sub->add_option("--user", a.user, "A user name, an API key id (hk-...) or an identity provider's subject")->required();
  }
  px->callback([&a] { a.action = "privacy-export"; });
  pd->callback([&a] { a.action = "privacy-delete"; });
  for (auto* sub : {v, e, px, pd}) sub->fallthrough();  // `audit verify --config C` works too
}

}  // namespace hearth
