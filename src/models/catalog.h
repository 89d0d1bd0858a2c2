// The configuration file (TOML) and the model catalog it declares. Built once at start-up and
// then read-only, so it can be shared by every thread without locks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "engine/model_engine.h"
#include "engine/types.h"

namespace hearth {

struct ModelEntry {
  std::string id;
  std::vector<std::string> aliases;
  std::string file;    // absolute path
  std::string url;     // where `hearth models pull` fetches it from; may be empty
  std::string sha256;  // expected digest (lowercase hex); may be empty
  bool verify_on_load = false;
  ModelLoadOptions load;
  SamplingParams sampling;  // defaults for requests that do not say
};

struct ServerSettings {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 2;                        // HTTP I/O threads
  std::size_t max_body_bytes = 8u << 20;  // larger bodies get 413
  int shutdown_grace_seconds = 30;
  int request_timeout_seconds = 600;      // reading a request / idle keep-alive
  // Limits, so that idle or slow connections cannot starve real users. Over a cap a connection is
  // accepted and closed at once.
  int max_connections = 4096;             // open connections in all
  int max_connections_per_ip = 256;       // open connections from one client address
  int header_timeout_seconds = 10;        // a request's whole header (and a TLS handshake)
  int body_timeout_seconds = 60;          // a request's whole body, once its header is read
  std::string log_level = "info";
  std::string port_file;                  // if set, the bound port is written here (for port 0)
};

struct ModelsSettings {
  std::string dir;                          // absolute
  std::uint64_t memory_budget_bytes = 8ull << 30;
  int idle_unload_seconds = 0;              // 0: never
  int load_wait_seconds = 120;              // a request waits this long for a loading model
  std::string default_model;                // used when a request names no model
};

// A model name that answers with knowledge: requests for `id` go to `model` with retrieval from
// `collections` (as if they carried the "knowledge" extension field).
struct KnowledgeAlias {
  std::string id;
  std::string model;
  std::vector<std::string> collections;
  int top_k = 5;
  std::optional<double> alpha;  // unset: the collection's default (knowledge::default_alpha)
};

struct KnowledgeSettings {
  bool enabled = true;
  std::string db;                          // absolute; default <config dir>/../data/knowledge.sqlite or ./data/...
  std::string static_embeddings;           // GloVe binary; empty: $HEARTH_STATIC_EMBEDDINGS or the setup cache
  std::size_t max_upload_bytes = 64u << 20; // one uploaded document
  int scheduler_tick_seconds = 15;          // how often due source syncs are looked for
  int max_queued_jobs = 64;
  std::string reranker;                     // a catalog model with rank pooling, for "rerank": true; empty: none
  // Server directories that knowledge sources may read (absolute, canonical); none by default, so
  // a source naming a server path is refused until an operator lists its root here.
  std::vector<std::string> allowed_roots;
  std::vector<KnowledgeAlias> aliases;
  const KnowledgeAlias* find_alias(std::string_view name) const;
};

// [auth.jwt]: bearer JWTs from an organisation's identity provider (OIDC), RS256 or ES256.
struct JwtSettings {
  std::vector<std::string> issuers, audiences;  // accepted iss and aud; both required
  std::string jwks_file;                        // a JWKS file (absolute), or
  std::string jwks_url;                         // the provider's JWKS URL (fetched, cached, refetched on an unknown kid)
  int jwks_refresh_seconds = 600;
  int jwks_min_refetch_seconds = 30;            // at most one refetch this often for an unknown kid
  int clock_skew_seconds = 60;
  std::string role_claim = "roles";             // dotted path, e.g. "realm_access.roles"; string or array
  std::vector<std::pair<std::string, std::string>> role_map;  // claim value -> Hearth role
  std::string default_role;                     // for a token no value of which maps; empty: refused
};

// [auth.oidc]: the web app's "Sign in with <name>": OpenID Connect's authorization code flow
// with PKCE. The ID token it yields is checked like any JWT ([auth.jwt]: issuers, audiences
// (which must include client_id), the JWKS, role mapping).
struct OidcSettings {
  std::string name = "single sign-on";  // shown on the sign-in page
  std::string authorization_endpoint, token_endpoint;  // the provider's, http(s) URLs
  std::string client_id;
  std::string client_secret_file;       // absolute; empty: a public client (PKCE only)
  std::string redirect_uri;             // default: <the request's origin>/v1/auth/oidc/callback
  std::string scopes = "openid profile email";
  bool enabled() const { return !client_id.empty(); }
};

// [auth]: who may call the server (docs/SECURITY.md).
struct AuthSettings {
  // "none" (no credentials; loopback only), "keys" (API keys and signed-in users' sessions),
  // "jwt" (an identity provider's tokens, and sessions), or "keys+jwt".
  std::string mode = "none";
  bool keys() const { return mode == "keys" || mode == "keys+jwt"; }
  bool jwt() const { return mode == "jwt" || mode == "keys+jwt"; }
  int session_ttl_seconds = 12 * 3600;  // a sign-in session's absolute lifetime
  int session_idle_seconds = 2 * 3600;  // and how long it may sit unused
  JwtSettings jwt_settings;
  OidcSettings oidc;
  bool allow_none_on_network = false;   // let mode "none" listen on a non-loopback address
  std::string db;                       // API keys (SQLite); absolute; default data/auth.sqlite
  std::string secret_file;              // the key-hashing secret; absolute; default data/auth.secret
  // Roles beyond (or replacing) the built-in admin, user and viewer: name -> permission names.
  std::vector<std::pair<std::string, std::vector<std::string>>> roles;
};

// [outbound]: where the server's own requests (URL sources, remote embedders, model downloads)
// may go. Loopback, private, link-local and cloud-metadata addresses are refused unless listed.
struct OutboundSettings {
  std::vector<std::string> allow;       // host names ("wiki.corp", "*.corp") and addresses or CIDRs
};

// [tls]: HTTPS and WSS on the server's port (TLS 1.2 and 1.3). On when cert_file and key_file
// are set; SIGHUP reads the files again.
struct TlsSettings {
  std::string cert_file;          // PEM certificate (chain); absolute
  std::string key_file;           // PEM private key; absolute
  std::string client_ca_file;     // PEM CA(s): client certificates are required and verified (mTLS)
  int hsts_seconds = 31536000;    // Strict-Transport-Security max-age on TLS responses; 0: not sent
  bool enabled() const { return !cert_file.empty(); }
};

// [audit]: the append-only, hash-chained audit log (docs/SECURITY.md).
struct AuditSettings {
  bool enabled = true;
  std::string db;               // absolute; default data/audit.sqlite
  int retention_days = 365;     // older records are deleted (the chain keeps an anchor); 0: kept forever
  bool record_content = false;  // also record request text (off: who, what, when, outcome only)
};

// [ui]: the web app served at / and the conversations it keeps per user.
struct UiSettings {
  bool enabled = true;           // serve the app at / (the API is served either way)
  std::string dir;               // serve the app from this directory (a development build) instead of the binary
  std::string conversations_db;  // absolute; default data/conversations.sqlite
};

// [limits]: per API key and per client address (docs/SECURITY.md). 0: no limit.
struct LimitSettings {
  std::string redis_url;          // "redis://host:port[/db]" or "unix:///path": buckets shared by replicas
  bool fail_open = true;          // on_redis_failure = "open" (pass unlimited) or "closed" (503)
  int key_rpm = 0, key_tpm = 0, key_concurrent = 0;  // per key, unless the key sets its own rpm/tpm
  int ip_rpm = 0, ip_tpm = 0, ip_concurrent = 0;     // per client address (IPv6: per /64)
};

// [safety]: PII redaction. Each map: entity name ("cn_mobile", "email", ...) -> action ("mask",
// "placeholder", "hash", "block"). `input` runs before the model sees a request's text; `output`
// on generated text, streams included. [safety.role.<name>] replaces them for one role and
// [safety.key.<key id or user>] for one API key or user (that wins over its role's).
struct SafetyPolicy {
  std::vector<std::pair<std::string, std::string>> input, output;
};
struct SafetySettings {
  std::string rules_json;  // [[safety.rules]] as a JSON array (input filter rules; checked by the server)
  SafetyPolicy all;
  std::vector<std::pair<std::string, SafetyPolicy>> roles;
  std::vector<std::pair<std::string, SafetyPolicy>> keys;  // by principal id ("hk-...", "user:alice")
};

struct Config {
  ServerSettings server;
  LimitSettings limits;
  SafetySettings safety;
  TlsSettings tls;
  AuthSettings auth;
  AuditSettings audit;
  UiSettings ui;
  OutboundSettings outbound;
  ModelsSettings models;
  KnowledgeSettings knowledge;
  std::vector<ModelEntry> entries;
  std::string source;  // the file it came from, or "<defaults>"

  // By id or alias; nullptr when unknown.
  const ModelEntry* find(std::string_view name) const;
  std::vector<std::string> ids() const;
};

// Parses TOML text; relative paths resolve against base_dir. Errors name the key.
Result<Config> parse_config(std::string_view toml_text, const std::string& base_dir);
Result<Config> load_config(const std::string& path);

// A catalog entry for a GGUF file given on the command line (id: the file stem).
ModelEntry entry_for_file(const std::string& path);

}  // namespace hearth
