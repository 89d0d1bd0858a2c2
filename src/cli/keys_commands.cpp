#include "cli/keys_commands.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/key_store.h"
#include "cli/commands.h"
#include "cli/privacy_commands.h"
#include "models/catalog.h"

namespace hearth {
namespace fs = std::filesystem;
using auth::KeyRecord;
using auth::KeyStore;

namespace {

constexpr const char* kBuiltinRoles[] = {"admin", "user", "viewer"};

int fail(const Error& e) {
  fmt::print(stderr, "error: {}\n", e.message);
  return 1;
}

int bad_input(const std::string& message) {
  fmt::print(stderr, "error: {}\n", message);
  return 2;
}

std::string iso_utc(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return std::to_string(t);
  return buf;
}

std::string iso_or(const std::optional<std::int64_t>& t, const char* none) { return t ? iso_utc(*t) : none; }

// Digits at s[pos, pos + n) as a number, or -1.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// "YYYY-MM-DD" (00:00 UTC) or "YYYY-MM-DDTHH:MM:SSZ" as unix seconds; nullopt if neither or
// not a real date and time.
std::optional<std::int64_t> parse_utc(std::string_view s) {
  if (s.size() != 10 && s.size() != 20) return std::nullopt;
  std::tm tm{};
  const int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  if (y < 1970 || mo < 1 || d < 1 || s[4] != '-' || s[7] != '-') return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  if (s.size() == 20) {
    tm.tm_hour = digits(s, 11, 2);
    tm.tm_min = digits(s, 14, 2);
    tm.tm_sec = digits(s, 17, 2);
    if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' || tm.tm_hour < 0 || tm.tm_min < 0 ||
        tm.tm_sec < 0) {
      return std::nullopt;
    }
  }
  std::tm check = tm;
  const std::time_t t = timegm(&check);  // normalizes: 2027-02-30 becomes March 2
  if (check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon || check.tm_hour != tm.tm_hour ||
      check.tm_min != tm.tm_min || check.tm_sec != tm.tm_sec) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(t);
}

// --expires: a duration from now (30d, 12h, 90m) or a UTC date or time; must be in the future.
Result<std::int64_t> parse_expires(const std::string& text, std::int64_t now) {
  const std::string usage = fmt::format(
      "--expires '{}': expected a duration (30d, 12h, 90m) or a UTC date or time (2027-01-31, 2027-01-31T12:00:00Z)",
      text);
  std::int64_t at = 0;
  const char unit = text.empty() ? '\0' : text.back();
  if (text.size() >= 2 && text.size() <= 10 && (unit == 'd' || unit == 'h' || unit == 'm')) {
    const int n = digits(text, 0, text.size() - 1);
    if (n < 0) return invalid_argument(usage, "expires");
    const std::int64_t seconds = unit == 'd' ? 86400 : unit == 'h' ? 3600 : 60;
    at = now + n * seconds;
  } else if (auto t = parse_utc(text)) {
    at = *t;
  } else {
    return invalid_argument(usage, "expires");
  }
  if (at <= now) {
    return invalid_argument(fmt::format("--expires '{}' is not in the future ({})", text, iso_utc(at)), "expires");
  }
  return at;
}

std::string list_or_all(const std::vector<std::string>& v) {
  return v.empty() ? std::string("all") : fmt::format("{}", fmt::join(v, ", "));
}

// A per-minute limit; 0 means the key has none of its own.
std::string limit(int v) { return v ? std::to_string(v) : std::string("none"); }

Result<Config> keys_config(const std::string& given) {
  const std::string path = default_config_path(given);
  if (path.empty()) {
    Config c;
    c.source = "<defaults>";
    return c;
  }
  return load_config(path);
}

// The checks made before the store is opened, so that bad input creates no files.
Result<auth::KeySpec> spec_from(const KeysArgs& a, std::int64_t now) {
  auth::KeySpec spec{a.name, a.role, a.models, a.collections, a.rpm, a.tpm, std::nullopt};
  if (a.name.empty()) return invalid_argument("--name is required (1..64 characters)", "name");
  if (a.role.empty()) {
    return invalid_argument("--role is required: admin, user, viewer, or a role of the server's [auth] roles", "role");
  }
  if (a.rpm < 0) return invalid_argument(fmt::format("--rpm {} is negative (0: no limit of its own)", a.rpm), "rpm");
  if (a.tpm < 0) return invalid_argument(fmt::format("--tpm {} is negative (0: no limit of its own)", a.tpm), "tpm");
  if (!a.expires.empty()) {
    auto at = parse_expires(a.expires, now);
    if (!at) return at.take_error();
    spec.expires_at = *at;
  }
  return spec;
}

int keys_create(KeyStore& store, const auth::KeySpec& spec, std::int64_t now, std::string& id) {
  auto k = store.create(spec, now);
  if (!k) {
    const Error& e = k.error();
    if (e.code != ErrorCode::kInvalidArgument) return fail(e);
    return bad_input(e.param.empty() ? e.message : fmt::format("--{}: {}", e.param == "expires_at" ? "expires" : e.param,
                                                               e.message));
  }
  const KeyRecord& r = k->record;
  id = r.id;
  fmt::print("created API key {}\n", r.id);
  fmt::print("  name:        {}\n  role:        {}\n", r.name, r.role);
  fmt::print("  models:      {}\n  collections: {}\n", list_or_all(r.models), list_or_all(r.collections));
  fmt::print("  rpm:         {}\n  tpm:         {}\n", limit(r.rpm), limit(r.tpm));
  fmt::print("  expires:     {}\n", iso_or(r.expires_at, "never"));
  if (std::find(std::begin(kBuiltinRoles), std::end(kBuiltinRoles), r.role) == std::end(kBuiltinRoles)) {
    fmt::print(stderr,
               "note: '{}' is not a built-in role (admin, user, viewer); the server accepts this key only if its "
               "[auth] roles define it\n",
               r.role);
  }
  fmt::print(stderr, "The key follows; store it now, it is not shown again.\n");
  std::fflush(stderr);
  fmt::print("{}\n", k->key);
  return 0;
}

int keys_list(KeyStore& store, bool json) {
  auto keys = store.list();
  if (!keys) return fail(keys.error());
  auto opt = [](const std::optional<std::int64_t>& t) { return t ? nlohmann::json(iso_utc(*t)) : nlohmann::json(); };
  if (json) {
    for (const KeyRecord& r : *keys) {
      const nlohmann::json j = {{"id", r.id},
                                {"name", r.name},
                                {"role", r.role},
                                {"models", r.models},
                                {"collections", r.collections},
                                {"rpm", r.rpm},
                                {"tpm", r.tpm},
                                {"created_at", iso_utc(r.created_at)},
                                {"expires_at", opt(r.expires_at)},
                                {"last_used_at", opt(r.last_used_at)},
                                {"revoked_at", opt(r.revoked_at)}};
      fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    return 0;
  }
  const char* row = "{:<14} {:<20} {:<10} {:<20} {:<20} {:<20} {}\n";
  fmt::print(fmt::runtime(row), "ID", "NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED", "REVOKED");
  for (const KeyRecord& r : *keys) {
    fmt::print(fmt::runtime(row), r.id, r.name, r.role, iso_utc(r.created_at), iso_or(r.expires_at, "never"),
               iso_or(r.last_used_at, "-"), iso_or(r.revoked_at, "-"));
  }
  return 0;
}

int keys_revoke(KeyStore& store, const std::string& id, std::int64_t now) {
  auto r = store.revoke(id, now);
  if (!r) return fail(r.error());
  if (r->revoked_at && *r->revoked_at < now) {
    fmt::print("API key {} ({}) was already revoked at {}\n", r->id, r->name, iso_utc(*r->revoked_at));
  } else {
    fmt::print("revoked API key {} ({})\n", r->id, r->name);
  }
  return 0;
}

}  // namespace

AuthPaths auth_paths(const Config& config) {
  fs::path dir;
  const std::string& kb = config.knowledge.db;
  if (!kb.empty() && kb != ":memory:") dir = fs::path(kb).parent_path();
  if (dir.empty()) dir = "data";
  std::error_code ec;
  const fs::path abs = fs::absolute(dir, ec);
  if (!ec) dir = abs;
  return {config.auth.db.empty() ? (dir / "auth.sqlite").string() : config.auth.db,
          config.auth.secret_file.empty() ? (dir / "auth.secret").string() : config.auth.secret_file};
}

void fill_data_paths(Config& config) {
  const AuthPaths paths = auth_paths(config);
  config.auth.db = paths.db;
  config.auth.secret_file = paths.secret_file;
  const fs::path dir = fs::path(paths.db).parent_path();
  if (config.audit.db.empty()) config.audit.db = (dir / "audit.sqlite").string();
  if (config.ui.conversations_db.empty()) config.ui.conversations_db = (dir / "conversations.sqlite").string();
}

int cmd_keys(const KeysArgs& a) {
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  std::optional<auth::KeySpec> spec;
  if (a.action == "create") {
    auto s = spec_from(a, now);
    if (!s) return bad_input(s.error().message);
    spec = std::move(*s);
  } else if (a.action == "revoke" && a.id.empty()) {
    return bad_input("revoke needs the id of a key (see `hearth keys list`)");
  } else if (a.action != "list" && a.action != "revoke") {
    return bad_input(fmt::format("unknown keys action '{}'", a.action));
  }
  auto config = keys_config(a.config);
  if (!config) return fail(config.error());
  fill_data_paths(*config);
  auto store = KeyStore::open(config->auth.db, config->auth.secret_file);
  if (!store) return fail(store.error());
  if (a.action == "list") return keys_list(**store, a.json);
  std::string id = a.id;
  const int rc = spec ? keys_create(**store, *spec, now, id) : keys_revoke(**store, a.id, now);
  if (rc == 0) record_cli_action(*config, spec ? "admin.keys.create" : "admin.keys.delete", id);  // as the API names them
  return rc;
}

CLI::App* add_keys_commands(CLI::App& app, KeysArgs& a) {
  auto* k = app.add_subcommand("keys", "API keys: create, list and revoke the keys that clients present");
  k->require_subcommand(1);
  k->add_option("-c,--config", a.config,
                "Config file whose [auth] db and secret_file are used (default: $HEARTH_CONFIG or "
                "./config/hearth.toml; none: data/auth.sqlite and data/auth.secret)");
  auto* c = k->add_subcommand("create", "Create a key; the key itself is the last line of the output, shown once");
  c->add_option("--name", a.name, "What the key is for, 1..64 characters (required)");
  c->add_option("--role", a.role, "admin, user, viewer, or a role of the server's [auth] roles (required)");
  c->add_option("--models", a.models, "Models the key may use, comma-separated (default: all)")->delimiter(',');
  c->add_option("--collections", a.collections, "Knowledge collections the key may use, comma-separated (default: all)")
      ->delimiter(',');
  c->add_option("--rpm", a.rpm, "Requests per minute (default 0: no limit of its own)");
  c->add_option("--tpm", a.tpm, "Tokens per minute (default 0: no limit of its own)");
  c->add_option("--expires", a.expires,
                "When the key stops working: 30d, 12h, 90m from now, or 2027-01-31 (00:00 UTC) or "
                "2027-01-31T12:00:00Z (default: never)");
  auto* l = k->add_subcommand("list", "List the keys (never the keys themselves)");
  l->add_flag("--json", a.json, "One JSON object per line");
  auto* r = k->add_subcommand("revoke", "Revoke a key: it stops working at once");
  r->add_option("id", a.id, "The key's id (hk-XXXXXXXXXX, as `keys list` shows)")->required();
  for (auto* sub : {c, l, r}) {
    sub->fallthrough();  // `keys list --config C` works too
    sub->callback([&a, sub] { a.action = sub->get_name(); });
  }
  return k;
}

}  // namespace hearth
