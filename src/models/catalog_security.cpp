// The security sections of the configuration: [auth] (keys, JWT, sessions), [outbound], [audit],
// [limits], [safety] (PII actions and input rules) and [tls].
#include "models/catalog.h"
#include "models/toml_get.h"

#include <algorithm>
#include <sstream>

namespace hearth::config_detail {
namespace {

bool is_http_url(const std::string& u) { return u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0; }

// [auth.oidc]: needs a jwt mode (the ID token is a JWT) whose audiences include the client id.
Status parse_oidc(const toml::table& t, const std::string& base_dir, AuthSettings& a) {
  const std::string w = "auth.oidc.";
  OidcSettings& o = a.oidc;
  HEARTH_TRY(check_keys(t, {"name", "authorization_endpoint", "token_endpoint", "client_id", "client_secret_file",
                            "redirect_uri", "scopes"}, w));
  for (auto [key, out] : {std::pair{"name", &o.name}, {"authorization_endpoint", &o.authorization_endpoint},
                          {"token_endpoint", &o.token_endpoint}, {"client_id", &o.client_id},
                          {"redirect_uri", &o.redirect_uri}, {"scopes", &o.scopes}}) {
    HEARTH_TRY(get(t, key, w, *out));
  }
  std::string secret;
  HEARTH_TRY(get(t, "client_secret_file", w, secret));
  if (!secret.empty()) o.client_secret_file = resolve(base_dir, secret);
  if (o.client_id.empty()) return invalid_argument("auth.oidc.client_id is required", "client_id");
  for (auto [key, url] : {std::pair{"authorization_endpoint", &o.authorization_endpoint},
                          {"token_endpoint", &o.token_endpoint}}) {
    if (!is_http_url(*url)) return invalid_argument(fmt::format("auth.oidc.{} must be an http(s) URL", key), key);
  }
  if (!o.redirect_uri.empty() && !is_http_url(o.redirect_uri)) {
    return invalid_argument("auth.oidc.redirect_uri must be an http(s) URL", "redirect_uri");
  }
  if (!a.jwt()) return invalid_argument("[auth.oidc] needs auth.mode \"jwt\" or \"keys+jwt\" (its ID tokens are JWTs)", "oidc");
  const auto& aud = a.jwt_settings.audiences;
  if (std::find(aud.begin(), aud.end(), o.client_id) == aud.end()) {
    return invalid_argument("auth.jwt.audiences must include auth.oidc.client_id (the ID token's audience)", "audiences");
  }
  return {};
}

// [auth.jwt]: issuers, audiences and one JWKS source are required.
Status parse_jwt(const toml::table& t, const std::string& base_dir, JwtSettings& j) {
  const std::string w = "auth.jwt.";
  HEARTH_TRY(check_keys(t, {"issuers", "audiences", "jwks_file", "jwks_url", "jwks_refresh_seconds", "jwks_min_refetch_seconds",
                            "clock_skew_seconds", "role_claim", "role_map", "default_role"}, w));
  HEARTH_TRY(get_strings(t, "issuers", w, j.issuers));
  HEARTH_TRY(get_strings(t, "audiences", w, j.audiences));
  std::string file;
  HEARTH_TRY(get(t, "jwks_file", w, file));
  HEARTH_TRY(get(t, "jwks_url", w, j.jwks_url));
  HEARTH_TRY(get(t, "jwks_refresh_seconds", w, j.jwks_refresh_seconds));
  HEARTH_TRY(get(t, "jwks_min_refetch_seconds", w, j.jwks_min_refetch_seconds));
  if (j.jwks_min_refetch_seconds < 0) return invalid_argument("auth.jwt.jwks_min_refetch_seconds must not be negative", "jwks_min_refetch_seconds");
  HEARTH_TRY(get(t, "clock_skew_seconds", w, j.clock_skew_seconds));
  HEARTH_TRY(get(t, "role_claim", w, j.role_claim));
  HEARTH_TRY(get(t, "default_role", w, j.default_role));
  if (const toml::node* n = t.get("role_map")) {
    const toml::table* m = n->as_table();
    if (!m) return invalid_argument("auth.jwt.role_map must be a table of claim value = \"role\"", "role_map");
    for (const auto& [k, v] : *m) {
      auto role = v.value<std::string>();
      if (!role) return invalid_argument(fmt::format("auth.jwt.role_map.{} must be a role name", k.str()), "role_map");
      j.role_map.emplace_back(std::string(k.str()), *role);
    }
  }
  j.jwks_file = resolve(base_dir, file);
  if (j.issuers.empty()) return invalid_argument("auth.jwt.issuers is required (the accepted iss values)", "issuers");
  if (j.audiences.empty()) return invalid_argument("auth.jwt.audiences is required (the accepted aud values)", "audiences");
  if (j.jwks_file.empty() == j.jwks_url.empty()) {
    return invalid_argument("auth.jwt needs exactly one of jwks_file and jwks_url", "jwks_file");
  }
  if (!j.jwks_url.empty() && j.jwks_url.rfind("https://", 0) != 0 && j.jwks_url.rfind("http://", 0) != 0) {
    return invalid_argument("auth.jwt.jwks_url must be an http(s) URL", "jwks_url");
  }
  if (j.clock_skew_seconds < 0 || j.clock_skew_seconds > 600) {
    return invalid_argument("auth.jwt.clock_skew_seconds must be 0..600", "clock_skew_seconds");
  }
  if (j.jwks_refresh_seconds < 10) return invalid_argument("auth.jwt.jwks_refresh_seconds must be at least 10", "jwks_refresh_seconds");
  return {};
}

Status parse_auth(const toml::table& a, const std::string& base_dir, Config& c) {
  const std::string w = "auth.";
  HEARTH_TRY(check_keys(a, {"mode", "allow_none_on_network", "db", "secret_file", "roles", "jwt", "oidc",
                            "session_ttl_seconds", "session_idle_seconds"}, w));
  HEARTH_TRY(get(a, "mode", w, c.auth.mode));
  if (c.auth.mode == "both" || c.auth.mode == "jwt+keys") c.auth.mode = "keys+jwt";
  if (c.auth.mode != "none" && c.auth.mode != "keys" && c.auth.mode != "jwt" && c.auth.mode != "keys+jwt") {
    return invalid_argument(fmt::format("auth.mode = '{}': must be \"none\", \"keys\", \"jwt\" or \"keys+jwt\"", c.auth.mode),
                            "mode");
  }
  HEARTH_TRY(get(a, "allow_none_on_network", w, c.auth.allow_none_on_network));
  HEARTH_TRY(get(a, "session_ttl_seconds", w, c.auth.session_ttl_seconds));
  HEARTH_TRY(get(a, "session_idle_seconds", w, c.auth.session_idle_seconds));
  if (c.auth.session_ttl_seconds < 60 || c.auth.session_idle_seconds < 60) {
    return invalid_argument("auth.session_ttl_seconds and auth.session_idle_seconds must be at least 60", "session_ttl_seconds");
  }
  std::string db, secret;
  HEARTH_TRY(get(a, "db", w, db));
  HEARTH_TRY(get(a, "secret_file", w, secret));
  if (!db.empty()) c.auth.db = resolve(base_dir, db);
  if (!secret.empty()) c.auth.secret_file = resolve(base_dir, secret);
  if (const toml::node* n = a.get("roles")) {
    const toml::table* roles = n->as_table();
    if (!roles) return invalid_argument("auth.roles must be a table of role = [permissions]", "roles");
    for (const auto& [name, v] : *roles) {
      std::vector<std::string> perms;
      toml::table one;
      one.insert(name.str(), v);
      HEARTH_TRY(get_strings(one, name.str(), "auth.roles.", perms));
      c.auth.roles.emplace_back(std::string(name.str()), std::move(perms));
    }
  }
  if (const toml::node* n = a.get("jwt")) {
    const toml::table* jt = n->as_table();
    if (!jt) return invalid_argument("[auth.jwt] must be a table", "jwt");
    HEARTH_TRY(parse_jwt(*jt, base_dir, c.auth.jwt_settings));
  }
  if (c.auth.jwt() && c.auth.jwt_settings.issuers.empty()) {
    return invalid_argument(fmt::format("auth.mode = '{}' needs an [auth.jwt] table (issuers, audiences, jwks_file or jwks_url)",
                                        c.auth.mode), "jwt");
  }
  if (const toml::node* n = a.get("oidc")) {
    const toml::table* ot = n->as_table();
    if (!ot) return invalid_argument("[auth.oidc] must be a table", "oidc");
    HEARTH_TRY(parse_oidc(*ot, base_dir, c.auth));
  }
  return {};
}

// [audit]
Status parse_audit(const toml::table* t, const std::string& base_dir, AuditSettings& out) {
  if (!t) return {};
  const std::string w = "audit.";
  HEARTH_TRY(check_keys(*t, {"enabled", "db", "retention_days", "record_content"}, w));
  HEARTH_TRY(get(*t, "enabled", w, out.enabled));
  std::string db;
  HEARTH_TRY(get(*t, "db", w, db));
  if (!db.empty()) out.db = resolve(base_dir, db);
  HEARTH_TRY(get(*t, "retention_days", w, out.retention_days));
  HEARTH_TRY(get(*t, "record_content", w, out.record_content));
  if (out.retention_days < 0) return invalid_argument("audit.retention_days must not be negative (0: keep forever)", "retention_days");
  return {};
}

// [ui]
Status parse_ui(const toml::table* t, const std::string& base_dir, UiSettings& out) {
  if (!t) return {};
  const std::string w = "ui.";
  HEARTH_TRY(check_keys(*t, {"enabled", "dir", "conversations_db"}, w));
  HEARTH_TRY(get(*t, "enabled", w, out.enabled));
  std::string path;
  HEARTH_TRY(get(*t, "dir", w, path));
  if (!path.empty()) out.dir = resolve(base_dir, path);
  path.clear();
  HEARTH_TRY(get(*t, "conversations_db", w, path));
  if (!path.empty()) out.conversations_db = resolve(base_dir, path);
  return {};
}

// [auth], [outbound] and [audit]. Role and permission names are checked by the server, which knows them.
Status parse_security(const toml::table& root, const std::string& base_dir, Config& c) {
  const std::string data_dir = base_dir.empty() ? "data" : "../data";
  c.auth.db = resolve(base_dir, data_dir + "/auth.sqlite");
  c.auth.secret_file = resolve(base_dir, data_dir + "/auth.secret");
  c.audit.db = resolve(base_dir, data_dir + "/audit.sqlite");
  c.ui.conversations_db = resolve(base_dir, data_dir + "/conversations.sqlite");
  HEARTH_TRY(parse_ui(root.get_as<toml::table>("ui"), base_dir, c.ui));
  if (const toml::table* a = root.get_as<toml::table>("auth")) HEARTH_TRY(parse_auth(*a, base_dir, c));
  if (const toml::table* o = root.get_as<toml::table>("outbound")) {
    HEARTH_TRY(check_keys(*o, {"allow"}, "outbound."));
    HEARTH_TRY(get_strings(*o, "allow", "outbound.", c.outbound.allow));
  }
  return parse_audit(root.get_as<toml::table>("audit"), base_dir, c.audit);
}

// [tls]: certificate and key (both or neither), optional client CA (mTLS), HSTS.
Status parse_tls(const toml::table* t, const std::string& base_dir, TlsSettings& out) {
  if (!t) return {};
  const std::string w = "tls.";
  HEARTH_TRY(check_keys(*t, {"cert_file", "key_file", "client_ca_file", "hsts_seconds"}, w));
  std::string cert, key, ca;
  HEARTH_TRY(get(*t, "cert_file", w, cert));
  HEARTH_TRY(get(*t, "key_file", w, key));
  HEARTH_TRY(get(*t, "client_ca_file", w, ca));
  HEARTH_TRY(get(*t, "hsts_seconds", w, out.hsts_seconds));
  if (cert.empty() != key.empty()) {
    return invalid_argument("tls.cert_file and tls.key_file go together: set both or neither",
                            cert.empty() ? "cert_file" : "key_file");
  }
  if (!ca.empty() && cert.empty()) {
    return invalid_argument("tls.client_ca_file needs tls.cert_file and tls.key_file", "client_ca_file");
  }
  if (out.hsts_seconds < 0) return invalid_argument("tls.hsts_seconds must not be negative", "hsts_seconds");
  out.cert_file = resolve(base_dir, cert);
  out.key_file = resolve(base_dir, key);
  out.client_ca_file = resolve(base_dir, ca);
  return {};
}

// [limits]: 0 means no limit; negative numbers are errors.
Status parse_limits(const toml::table* t, LimitSettings& l) {
  if (!t) return {};
  const std::string w = "limits.";
  HEARTH_TRY(check_keys(*t, {"redis_url", "on_redis_failure", "key_rpm", "key_tpm", "key_concurrent", "ip_rpm",
                             "ip_tpm", "ip_concurrent"}, w));
  HEARTH_TRY(get(*t, "redis_url", w, l.redis_url));
  std::string failure = "open";
  HEARTH_TRY(get(*t, "on_redis_failure", w, failure));
  if (failure != "open" && failure != "closed") {
    return invalid_argument("limits.on_redis_failure must be \"open\" or \"closed\"", "on_redis_failure");
  }
  l.fail_open = failure == "open";
  for (auto [key, out] : {std::pair{"key_rpm", &l.key_rpm}, {"key_tpm", &l.key_tpm}, {"key_concurrent", &l.key_concurrent},
                          {"ip_rpm", &l.ip_rpm}, {"ip_tpm", &l.ip_tpm}, {"ip_concurrent", &l.ip_concurrent}}) {
    HEARTH_TRY(get(*t, key, w, *out));
    if (*out < 0) return invalid_argument(fmt::format("limits.{} must not be negative (0: no limit)", key), key);
  }
  return {};
}

// A table of entity = "action" (names are checked by the server, which knows them).
Status parse_pii_actions(const toml::table& t, const std::string& where,
                         std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [k, v] : t) {
    auto action = v.value<std::string>();
    if (!action) return invalid_argument(fmt::format("{}.{} must be a string (an action)", where, k.str()), std::string(k.str()));
    out.emplace_back(std::string(k.str()), *action);
  }
  return {};
}

Status parse_safety_policy(const toml::table& t, const std::string& where, SafetyPolicy& p, bool allow_roles) {
  if (allow_roles) HEARTH_TRY(check_keys(t, {"input", "output", "role", "key", "rules"}, where + "."));
  else HEARTH_TRY(check_keys(t, {"input", "output"}, where + "."));
  for (auto [key, out] : {std::pair{"input", &p.input}, {"output", &p.output}}) {
    if (const toml::node* n = t.get(key)) {
      const toml::table* tt = n->as_table();
      if (!tt) return invalid_argument(fmt::format("{}.{} must be a table of entity = action", where, key), key);
      HEARTH_TRY(parse_pii_actions(*tt, where + "." + key, *out));
    }
  }
  return {};
}

Status parse_safety(const toml::table* t, SafetySettings& s) {
  if (!t) return {};
  HEARTH_TRY(parse_safety_policy(*t, "safety", s.all, true));
  if (const toml::node* n = t->get("rules")) {
    const toml::array* rules = n->as_array();
    if (!rules) return invalid_argument("safety.rules must be an array of tables ([[safety.rules]])", "rules");
    std::ostringstream json;
    json << toml::json_formatter{*rules};
    s.rules_json = json.str();
  }
  for (auto [table, out] : {std::pair{"role", &s.roles}, {"key", &s.keys}}) {
    const toml::node* n = t->get(table);
    if (!n) continue;
    const toml::table* named = n->as_table();
    if (!named) return invalid_argument(fmt::format("safety.{0} must be a table of [safety.{0}.<name>] tables", table), table);
    for (const auto& [name, v] : *named) {
      const toml::table* rt = v.as_table();
      const std::string where = fmt::format("safety.{}.{}", table, name.str());
      if (!rt) return invalid_argument(where + " must be a table", table);
      SafetyPolicy p;
      HEARTH_TRY(parse_safety_policy(*rt, where, p, false));
      out->emplace_back(std::string(name.str()), std::move(p));
    }
  }
  return {};
}

}  // namespace

Status parse_security_sections(const toml::table& root, const std::string& base_dir, Config& c) {
  HEARTH_TRY(parse_security(root, base_dir, c));
  HEARTH_TRY(parse_limits(root.get_as<toml::table>("limits"), c.limits));
  HEARTH_TRY(parse_safety(root.get_as<toml::table>("safety"), c.safety));
  HEARTH_TRY(parse_tls(root.get_as<toml::table>("tls"), base_dir, c.tls));
  return {};
}

}  // namespace hearth::config_detail
