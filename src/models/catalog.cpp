#include "models/catalog.h"

#include "core/utf8.h"
#include "models/toml_get.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <filesystem>
#include <limits>
#include <set>

namespace hearth {
namespace fs = std::filesystem;
namespace {
using namespace config_detail;

Status parse_sampling(const toml::table& t, const std::string& where, SamplingParams& s) {
  HEARTH_TRY(check_keys(t, {"temperature", "top_k", "top_p", "min_p", "repeat_penalty", "presence_penalty",
                            "frequency_penalty", "penalty_last_n", "seed"}, where));
  HEARTH_TRY(get(t, "temperature", where, s.temperature));
  HEARTH_TRY(get(t, "top_k", where, s.top_k));
  HEARTH_TRY(get(t, "top_p", where, s.top_p));
  HEARTH_TRY(get(t, "min_p", where, s.min_p));
  HEARTH_TRY(get(t, "repeat_penalty", where, s.repeat_penalty));
  HEARTH_TRY(get(t, "presence_penalty", where, s.presence_penalty));
  HEARTH_TRY(get(t, "frequency_penalty", where, s.frequency_penalty));
  HEARTH_TRY(get(t, "penalty_last_n", where, s.penalty_last_n));
  if (t.contains("seed")) {
    std::int64_t seed = 0;
    HEARTH_TRY(get(t, "seed", where, seed));
    s.seed = static_cast<std::uint32_t>(seed);
  }
  return {};
}

Result<ModelEntry> parse_entry(const toml::table& t, size_t index, const std::string& models_dir) {
  const std::string where = fmt::format("model[{}].", index);
  HEARTH_TRY(check_keys(t, {"id", "aliases", "file", "url", "sha256", "verify_on_load", "context_size", "parallel",
                            "threads", "threads_batch", "batch_size", "ubatch_size", "kv_type", "gpu_layers",
                            "kv_unified", "flash_attn", "batch_invariant", "mmap", "huge_pages", "max_queue", "prefill_spread", "join_window_ms",
                            "chat_template",
                            "sampling"}, where));
  ModelEntry e;
  HEARTH_TRY(get(t, "id", where, e.id));
  if (e.id.empty()) return invalid_argument(where + "id is required", "id");
  if (const toml::array* a = t.get_as<toml::array>("aliases")) {
    for (const auto& n : *a) {
      auto v = n.value<std::string>();
      if (!v) return invalid_argument(where + "aliases must be strings", "aliases");
      e.aliases.push_back(*v);
    }
  } else if (t.contains("aliases")) {
    return invalid_argument(where + "aliases must be an array of strings", "aliases");
  }
  std::string file;
  HEARTH_TRY(get(t, "file", where, file));
  if (file.empty()) return invalid_argument(where + "file is required", "file");
  e.file = resolve(models_dir, file);
  HEARTH_TRY(get(t, "url", where, e.url));
  HEARTH_TRY(get(t, "sha256", where, e.sha256));
  for (char& c : e.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  HEARTH_TRY(get(t, "verify_on_load", where, e.verify_on_load));
  ModelLoadOptions& o = e.load;
  o.path = e.file;
  HEARTH_TRY(get(t, "context_size", where, o.context_size));
  HEARTH_TRY(get(t, "parallel", where, o.parallel));
  HEARTH_TRY(get(t, "threads", where, o.threads));
  HEARTH_TRY(get(t, "threads_batch", where, o.threads_batch));
  HEARTH_TRY(get(t, "batch_size", where, o.batch_size));
  HEARTH_TRY(get(t, "ubatch_size", where, o.ubatch_size));
  HEARTH_TRY(get(t, "kv_type", where, o.kv_type));
  HEARTH_TRY(get(t, "gpu_layers", where, o.gpu_layers));
  HEARTH_TRY(get(t, "kv_unified", where, o.kv_unified));
  HEARTH_TRY(get(t, "flash_attn", where, o.flash_attn));
  HEARTH_TRY(get(t, "batch_invariant", where, o.batch_invariant));
  HEARTH_TRY(get(t, "mmap", where, o.mmap));
  HEARTH_TRY(get(t, "huge_pages", where, o.huge_pages));
  HEARTH_TRY(get(t, "max_queue", where, o.max_queue));
  HEARTH_TRY(get(t, "prefill_spread", where, o.prefill_spread));
  HEARTH_TRY(get(t, "join_window_ms", where, o.join_window_ms));
  HEARTH_TRY(get(t, "chat_template", where, o.chat_template));
  if (o.context_size < 16) return invalid_argument(where + "context_size must be at least 16", "context_size");
  if (o.parallel < 1) return invalid_argument(where + "parallel must be at least 1", "parallel");
  if (o.batch_size < 1) return invalid_argument(where + "batch_size must be at least 1", "batch_size");
  if (o.ubatch_size < 1) return invalid_argument(where + "ubatch_size must be at least 1", "ubatch_size");
  if (o.max_queue < 0) return invalid_argument(where + "max_queue must not be negative", "max_queue");
  if (!(o.prefill_spread >= 0 && o.prefill_spread <= 1)) {
    return invalid_argument(where + "prefill_spread must be between 0 and 1", "prefill_spread");
  }
  if (o.join_window_ms < 0 || o.join_window_ms > 10000) {
    return invalid_argument(where + "join_window_ms must be between 0 and 10000", "join_window_ms");
  }
  if (t.contains("sampling")) {
    const toml::table* s = t.get_as<toml::table>("sampling");
    if (!s) return invalid_argument(where + "sampling must be a table", "sampling");
    HEARTH_TRY(parse_sampling(*s, where + "sampling.", e.sampling));
  }
  return e;
}

Status parse_alias(const toml::table& t, std::size_t i, KnowledgeAlias& a) {
  const std::string w = fmt::format("knowledge.alias[{}].", i);
  HEARTH_TRY(check_keys(t, {"id", "model", "collections", "top_k", "alpha"}, w));
  HEARTH_TRY(get(t, "id", w, a.id));
  HEARTH_TRY(get(t, "model", w, a.model));
  HEARTH_TRY(get(t, "top_k", w, a.top_k));
  if (t.contains("alpha")) {
    double alpha = 0;
    HEARTH_TRY(get(t, "alpha", w, alpha));
    a.alpha = alpha;
  }
  if (a.id.empty()) return invalid_argument(w + "id is required", "id");
  if (a.model.empty()) return invalid_argument(w + "model is required", "model");
  const toml::array* cols = t.get_as<toml::array>("collections");
  if (!cols || cols->empty()) return invalid_argument(w + "collections must be a non-empty array of names", "collections");
  for (const auto& n : *cols) {
    auto v = n.value<std::string>();
    if (!v) return invalid_argument(w + "collections must hold strings", "collections");
    a.collections.push_back(*v);
  }
  if (a.top_k < 1 || a.top_k > 50) return invalid_argument(w + "top_k must be 1..50", "top_k");
  if (a.alpha && !(*a.alpha >= 0 && *a.alpha <= 1)) return invalid_argument(w + "alpha must be 0..1", "alpha");
  return {};
}

// [knowledge]: where collections live, and model aliases that answer with them.
Status parse_knowledge(const toml::table* k, const std::string& base_dir, Config& c) {
  c.knowledge.db = resolve(base_dir, base_dir.empty() ? "data/knowledge.sqlite" : "../data/knowledge.sqlite");
  if (!k) return {};
  const std::string w = "knowledge.";
  HEARTH_TRY(check_keys(*k, {"enabled", "db", "static_embeddings", "max_upload_mb", "scheduler_tick_seconds",
                             "max_queued_jobs", "reranker", "alias", "allowed_roots"}, w));
  HEARTH_TRY(get_strings(*k, "allowed_roots", w, c.knowledge.allowed_roots));
  for (auto& root : c.knowledge.allowed_roots) {
    if (fs::path(root).is_relative()) {
      return invalid_argument(fmt::format("knowledge.allowed_roots: '{}' is not an absolute path", root), "allowed_roots");
    }
    std::error_code ec;
    const fs::path canon = fs::canonical(root, ec);  // symlinks and .. resolved, as sources' paths are
    if (ec || !fs::is_directory(canon)) {
      return invalid_argument(fmt::format("knowledge.allowed_roots: '{}' is not a directory", root), "allowed_roots");
    }
    root = canon.string();
  }
  HEARTH_TRY(get(*k, "enabled", w, c.knowledge.enabled));
  std::string db, emb;
  HEARTH_TRY(get(*k, "db", w, db));
  HEARTH_TRY(get(*k, "static_embeddings", w, emb));
  if (!db.empty()) c.knowledge.db = db == ":memory:" ? db : resolve(base_dir, db);
  if (!emb.empty()) c.knowledge.static_embeddings = resolve(base_dir, emb);
  if (k->contains("max_upload_mb")) {
    std::int64_t mb = 0;
    HEARTH_TRY(get(*k, "max_upload_mb", w, mb));
    if (mb < 1 || mb > 4096) return invalid_argument("knowledge.max_upload_mb must be 1..4096", "max_upload_mb");
    c.knowledge.max_upload_bytes = static_cast<std::size_t>(mb) << 20;
  }
  HEARTH_TRY(get(*k, "scheduler_tick_seconds", w, c.knowledge.scheduler_tick_seconds));
  HEARTH_TRY(get(*k, "max_queued_jobs", w, c.knowledge.max_queued_jobs));
  HEARTH_TRY(get(*k, "reranker", w, c.knowledge.reranker));
  if (!c.knowledge.reranker.empty() && !c.find(c.knowledge.reranker)) {
    return invalid_argument(
        fmt::format("knowledge.reranker names model '{}', which is not in the catalog", c.knowledge.reranker),
        "reranker");
  }
  if (c.knowledge.scheduler_tick_seconds < 1) {
    return invalid_argument("knowledge.scheduler_tick_seconds must be at least 1", "scheduler_tick_seconds");
  }
  if (c.knowledge.max_queued_jobs < 1) return invalid_argument("knowledge.max_queued_jobs must be at least 1", "max_queued_jobs");
  if (const toml::node* n = k->get("alias")) {
    const toml::array* arr = n->as_array();
    if (!arr) return invalid_argument("knowledge.alias must be an array of tables ([[knowledge.alias]])", "alias");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      if (!t) return invalid_argument(fmt::format("knowledge.alias[{}] must be a table", i), "alias");
      KnowledgeAlias a;
      HEARTH_TRY(parse_alias(*t, i, a));
      if (c.find(a.id) || c.knowledge.find_alias(a.id)) {
        return invalid_argument(fmt::format("knowledge.alias id '{}' is already a model name", a.id), "id");
      }
      if (!c.find(a.model)) {
        return invalid_argument(fmt::format("knowledge.alias '{}' names model '{}', which is not in the catalog", a.id,
                                            a.model), "model");
      }
      c.knowledge.aliases.push_back(std::move(a));
    }
  }
  return {};
}

// [server] limits: connection caps and deadlines.
Status parse_server_limits(const toml::table& s, ServerSettings& out) {
  const std::string w = "server.";
  HEARTH_TRY(get(s, "max_connections", w, out.max_connections));
  HEARTH_TRY(get(s, "max_connections_per_ip", w, out.max_connections_per_ip));
  HEARTH_TRY(get(s, "header_timeout_seconds", w, out.header_timeout_seconds));
  HEARTH_TRY(get(s, "body_timeout_seconds", w, out.body_timeout_seconds));
  for (auto [key, v] : {std::pair<const char*, int>{"max_connections", out.max_connections},
                        {"max_connections_per_ip", out.max_connections_per_ip},
                        {"header_timeout_seconds", out.header_timeout_seconds},
                        {"body_timeout_seconds", out.body_timeout_seconds}}) {
    if (v < 1) return invalid_argument(fmt::format("server.{} must be at least 1", key), key);
  }
  return {};
}

}  // namespace

const KnowledgeAlias* KnowledgeSettings::find_alias(std::string_view name) const {
  for (const auto& a : aliases) {
    if (a.id == name) return &a;
  }
  return nullptr;
}

const ModelEntry* Config::find(std::string_view name) const {
  for (const auto& e : entries) {
    if (e.id == name) return &e;
  }
  for (const auto& e : entries) {
    for (const auto& a : e.aliases) {
      if (a == name) return &e;
    }
  }
  return nullptr;
}

std::vector<std::string> Config::ids() const {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.id);
  return out;
}

// toml++ 3.3 reaches undefined behaviour on many non-ASCII characters (its generated Unicode
// tables are wrong; found by fuzzing), so it only ever sees ASCII: non-ASCII text inside strings
// becomes \u escapes (literal strings become equivalent basic strings), inside comments it is
// dropped, and anywhere else (where TOML does not allow it) it is an error naming the line.
Result<std::string> asciify_toml(std::string_view text) {
  enum class S { kCode, kComment, kBasic, kLiteral, kMlBasic, kMlLiteral } st = S::kCode;
  std::string out;
  out.reserve(text.size() + 16);
  int line = 1;
  auto at = [&](size_t i, std::string_view tok) { return text.substr(i, tok.size()) == tok; };
  // Appends the character at text[i] (non-ASCII) as an escape; returns its byte length.
  auto escape_char = [&](size_t i) -> Result<size_t> {
    const auto b = static_cast<unsigned char>(text[i]);
    const size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (n == 1 || i + n > text.size() || !utf8_is_valid(text.substr(i, n))) {
      return invalid_argument(fmt::format("config line {}: invalid UTF-8", line));
    }
    std::uint32_t cp = n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3Fu);
    out += cp > 0xFFFF ? fmt::format("\\U{:08X}", cp) : fmt::format("\\u{:04X}", cp);
    return n;
  };
  // Copies the character at text[i] inside a string (escaped when non-ASCII); returns its length.
  auto copy_char = [&](size_t i) -> Result<size_t> {
    if (static_cast<unsigned char>(text[i]) >= 0x80) return escape_char(i);
    out += text[i];
    return size_t{1};
  };
  // Ends a string; either kind becomes a basic string in the output.
  auto close_string = [&](size_t& i, bool ml) {
    st = S::kCode;
    out += ml ? "\"\"\"" : "\"";
    i += ml ? 3 : 1;
  };
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const bool ascii = static_cast<unsigned char>(c) < 0x80;
    if (c == '\n') ++line;
    switch (st) {
      case S::kCode:
        if (!ascii) {
          return invalid_argument(fmt::format("config line {}: non-ASCII character outside a string or comment", line));
        }
        if (c == '#') {
          st = S::kComment;
        } else if (at(i, "\"\"\"")) {
          st = S::kMlBasic;
          out += "\"\"\"";
          i += 3;
          continue;
        } else if (at(i, "'''")) {
          st = S::kMlLiteral;
          out += "\"\"\"";
          i += 3;
          continue;
        } else if (c == '"') {
          st = S::kBasic;
        } else if (c == '\'') {
          st = S::kLiteral;
          out += '"';
          ++i;
          continue;
        }
        out += c;
        ++i;
        continue;
      case S::kComment:
        if (c == '\n') st = S::kCode;
        out += ascii ? c : ' ';
        ++i;
        continue;
      case S::kBasic:
      case S::kMlBasic: {
        const bool ml = st == S::kMlBasic;
        if (c == '\\') {  // keep escapes as they are; what follows a backslash must be ASCII
          if (i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80) {
            return invalid_argument(fmt::format("config line {}: invalid escape sequence", line));
          }
          out += text.substr(i, 2);
          if (i + 1 < text.size() && text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (ml ? at(i, "\"\"\"") : c == '"') {
          close_string(i, ml);
          continue;
        }
        if (!ml && c == '\n') st = S::kCode;  // unterminated: let the parser report it
        if (auto n = copy_char(i); !n) return n.take_error();
        else i += *n;
        continue;
      }
      case S::kLiteral:
      case S::kMlLiteral: {
        const bool ml = st == S::kMlLiteral;
        if (ml ? at(i, "'''") : c == '\'') {
          close_string(i, ml);
          continue;
        }
        if (!ml && c == '\n') {  // unterminated: let the parser report it
          st = S::kCode;
          out += c;
          ++i;
          continue;
        }
        if (c == '\\' || c == '"') {  // literal in the original, escaped in the basic form
          out += '\\';
          out += c;
          ++i;
          continue;
        }
        if (auto n = copy_char(i); !n) return n.take_error();
        else i += *n;
        continue;
      }
    }
  }
  return out;
}

Result<Config> parse_config(std::string_view text, const std::string& base_dir) {
  auto ascii = asciify_toml(text);
  if (!ascii) return ascii.take_error();
  toml::table root;
  try {
    root = toml::parse(*ascii);
  } catch (const toml::parse_error& e) {
    return invalid_argument(fmt::format("config is not valid TOML (line {}): {}", e.source().begin.line,
                                        e.description()));
  }
  Config c;
  HEARTH_TRY(check_keys(root, {"server", "models", "model", "knowledge", "auth", "outbound", "limits", "safety", "tls", "audit", "ui"}, ""));
  for (const char* table : {"server", "models", "knowledge", "auth", "outbound", "tls", "limits", "safety", "audit", "ui"}) {
    if (root.contains(table) && !root.get_as<toml::table>(table)) {
      return invalid_argument(fmt::format("[{}] must be a table", table), table);
    }
  }
  if (const toml::table* s = root.get_as<toml::table>("server")) {
    const std::string w = "server.";
    HEARTH_TRY(check_keys(*s, {"host", "port", "threads", "max_body_bytes", "shutdown_grace_seconds",
                               "request_timeout_seconds", "log_level", "port_file", "max_connections",
                               "max_connections_per_ip", "header_timeout_seconds", "body_timeout_seconds"}, w));
    HEARTH_TRY(parse_server_limits(*s, c.server));
    HEARTH_TRY(get(*s, "host", w, c.server.host));
    HEARTH_TRY(get(*s, "port", w, c.server.port));
    HEARTH_TRY(get(*s, "threads", w, c.server.threads));
    HEARTH_TRY(get(*s, "max_body_bytes", w, c.server.max_body_bytes));
    HEARTH_TRY(get(*s, "shutdown_grace_seconds", w, c.server.shutdown_grace_seconds));
    HEARTH_TRY(get(*s, "request_timeout_seconds", w, c.server.request_timeout_seconds));
    HEARTH_TRY(get(*s, "log_level", w, c.server.log_level));
    HEARTH_TRY(get(*s, "port_file", w, c.server.port_file));
    if (c.server.port < 0 || c.server.port > 65535) return invalid_argument("server.port must be 0..65535", "port");
    if (c.server.threads < 1) return invalid_argument("server.threads must be at least 1", "threads");
    if (c.server.max_body_bytes < 1024) return invalid_argument("server.max_body_bytes must be at least 1024", "max_body_bytes");
    if (c.server.shutdown_grace_seconds < 0) {
      return invalid_argument("server.shutdown_grace_seconds must not be negative", "shutdown_grace_seconds");
    }
    if (c.server.request_timeout_seconds < 1) {
      return invalid_argument("server.request_timeout_seconds must be at least 1", "request_timeout_seconds");
    }
  }
  c.models.dir = resolve(base_dir, "models");
  if (const toml::table* m = root.get_as<toml::table>("models")) {
    const std::string w = "models.";
    HEARTH_TRY(check_keys(*m, {"dir", "memory_budget_mb", "idle_unload_seconds", "load_wait_seconds", "default"}, w));
    std::string dir;
    HEARTH_TRY(get(*m, "dir", w, dir));
    if (!dir.empty()) c.models.dir = resolve(base_dir, dir);
    if (m->contains("memory_budget_mb")) {
      std::int64_t mb = 0;
      HEARTH_TRY(get(*m, "memory_budget_mb", w, mb));
      if (mb < 1 || mb > (std::int64_t{1} << 40)) {
        return invalid_argument("models.memory_budget_mb must be between 1 and 2^40", "memory_budget_mb");
      }
      c.models.memory_budget_bytes = static_cast<std::uint64_t>(mb) << 20;
    }
    HEARTH_TRY(get(*m, "idle_unload_seconds", w, c.models.idle_unload_seconds));
    HEARTH_TRY(get(*m, "load_wait_seconds", w, c.models.load_wait_seconds));
    if (c.models.idle_unload_seconds < 0) return invalid_argument("models.idle_unload_seconds must not be negative", "idle_unload_seconds");
    if (c.models.load_wait_seconds < 0) return invalid_argument("models.load_wait_seconds must not be negative", "load_wait_seconds");
    HEARTH_TRY(get(*m, "default", w, c.models.default_model));
  }
  if (const toml::node* n = root.get("model")) {
    const toml::array* arr = n->as_array();
    if (!arr) return invalid_argument("model must be an array of tables ([[model]])", "model");
    std::set<std::string> names;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      if (!t) return invalid_argument(fmt::format("model[{}] must be a table", i), "model");
      auto e = parse_entry(*t, i, c.models.dir);
      if (!e) return e.take_error();
      for (const auto& name : [&] { auto v = e->aliases; v.push_back(e->id); return v; }()) {
        if (!names.insert(name).second) {
          return invalid_argument(fmt::format("model name '{}' is used twice", name), "id");
        }
      }
      c.entries.push_back(std::move(*e));
    }
  }
  HEARTH_TRY(parse_knowledge(root.get_as<toml::table>("knowledge"), base_dir, c));
  HEARTH_TRY(config_detail::parse_security_sections(root, base_dir, c));
  if (!c.models.default_model.empty() && !c.find(c.models.default_model)) {
    return invalid_argument(fmt::format("models.default names '{}', which is not in the catalog", c.models.default_model),
                            "default");
  }
  return c;
}

Result<Config> load_config(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return not_found(fmt::format("config file not found: {}", path));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return not_found(fmt::format("cannot read config file {}", path));
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  const std::string base = fs::absolute(path).parent_path().string();
  auto c = parse_config(text, base);
  if (!c) {
    Error e = c.take_error();
    e.message = fmt::format("{}: {}", path, e.message);
    return e;
  }
  c->source = path;
  return c;
}

ModelEntry entry_for_file(const std::string& path) {
  ModelEntry e;
  e.file = fs::absolute(path).lexically_normal().string();
  e.id = fs::path(path).stem().string();
  e.load.path = e.file;
  return e;
}

}  // namespace hearth
