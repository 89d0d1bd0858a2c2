#include "cli/commands.h"
#include "cli/keys_commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>

#include "core/log.h"
#include "core/sha256.h"
#include "engine/model_engine.h"
#include "engine/reasoning_splitter.h"
#include "engine/test_model_maker.h"
#include "models/catalog.h"
#include "models/downloader.h"
#include "net/outbound_policy.h"
#include "server/app.h"

namespace hearth {
namespace fs = std::filesystem;

namespace {

int fail(const Error& e) {
  fmt::print(stderr, "hearth: {}\n", e.message);
  return 1;
}

Result<Config> config_for(const std::string& given, bool required) {
  const std::string path = default_config_path(given);
  if (path.empty()) {
    if (required) return not_found("no config: pass --config FILE or set HEARTH_CONFIG");
    Config c;
    c.source = "<defaults>";
    c.models.dir = fs::absolute("models").string();
    return c;
  }
  auto c = load_config(path);
  if (!c) return c;
  HEARTH_TRY(apply_outbound_rules(c->outbound.allow));  // where model downloads may go
  return c;
}

std::string find_llama_models_dir() {
  if (const char* env = std::getenv("HEARTH_LLAMA_MODELS")) return env;
  const char* home = std::getenv("HOME");
  if (!home) return {};
  const fs::path cache = fs::path(home) / ".cache" / "hearth";
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(cache, ec)) {
    const fs::path m = d.path() / "src" / "models";
    if (fs::exists(m / "ggml-vocab-qwen2.gguf", ec)) return m.string();
  }
  return {};
}

}  // namespace

Status apply_outbound_rules(std::vector<std::string> allow) {
  if (const char* env = std::getenv("HEARTH_OUTBOUND_ALLOW"); env && *env) {
    std::string_view rest(env);
    while (!rest.empty()) {
      const std::size_t comma = std::min(rest.find(','), rest.size());
      if (comma > 0) allow.emplace_back(rest.substr(0, comma));
      rest.remove_prefix(std::min(comma + 1, rest.size()));
    }
  }
  auto rules = net::compile_outbound_policy(allow);
  if (!rules) return invalid_argument("[outbound] allow / HEARTH_OUTBOUND_ALLOW: " + rules.error().message, "allow");
  net::set_outbound_rules(std::move(*rules));
  return {};
}

std::string default_config_path(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("HEARTH_CONFIG"); env && *env) return env;
  std::error_code ec;
  if (fs::exists("config/hearth.toml", ec)) return "config/hearth.toml";
  return {};
}

int cmd_serve(const ServeArgs& a) {
  // `serve --model FILE` alone serves just that file; add --config to combine it with a catalog.
  Result<Config> cfg = Config{};
  if (a.models.empty() || !a.config.empty()) {
    cfg = config_for(a.config, true);
  } else {
    cfg->source = "<command line>";
    cfg->models.dir = fs::absolute("models").string();
  }
  if (!cfg) return fail(cfg.error());
  Config config = std::move(*cfg);
  for (const auto& m : a.models) {
    ModelEntry e = entry_for_file(m);
    if (a.context_size) e.load.context_size = *a.context_size;
    if (a.parallel) e.load.parallel = *a.parallel;
    if (a.threads) e.load.threads = *a.threads;
    if (a.batch_size) e.load.batch_size = *a.batch_size;
    if (a.ubatch_size) e.load.ubatch_size = *a.ubatch_size;
    if (a.prefill_spread) e.load.prefill_spread = *a.prefill_spread;
    if (a.mmap) e.load.mmap = true;
    if (a.no_huge_pages) e.load.huge_pages = false;
    if (!a.flash_attn.empty()) e.load.flash_attn = a.flash_attn;
    if (a.batch_invariant) e.load.batch_invariant = true;
    if (config.find(e.id)) return fail(invalid_argument(fmt::format("model id '{}' is already in the catalog", e.id)));
    config.entries.push_back(std::move(e));
  }
  if (!a.models.empty() && config.models.default_model.empty()) {
    config.models.default_model = entry_for_file(a.models.front()).id;
  }
  if (a.auth) config.auth.mode = *a.auth;
  fill_data_paths(config);
  if (config.auth.jwt() && config.auth.jwt_settings.issuers.empty()) {
    return fail(invalid_argument(fmt::format("--auth {} needs an [auth.jwt] table in the config (issuers, audiences, "
                                             "jwks_file or jwks_url)", config.auth.mode)));
  }
  if (a.insecure_no_auth) config.auth.allow_none_on_network = true;
  if (a.host) config.server.host = *a.host;
  if (a.port) config.server.port = *a.port;
  if (!a.tls_cert.empty()) config.tls.cert_file = fs::absolute(a.tls_cert).lexically_normal().string();
  if (!a.tls_key.empty()) config.tls.key_file = fs::absolute(a.tls_key).lexically_normal().string();
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    return fail(invalid_argument("--tls-cert and --tls-key go together (or with [tls] cert_file and key_file)"));
  }
  if (!a.port_file.empty()) config.server.port_file = a.port_file;
  if (!a.ui_dir.empty()) config.ui.dir = fs::absolute(a.ui_dir).lexically_normal().string();
  if (!config.ui.dir.empty() && !fs::is_regular_file(fs::path(config.ui.dir) / "index.html")) {
    return fail(invalid_argument(fmt::format("--ui-dir {}: no index.html there (build the app: cd web && npm run build)",
                                             config.ui.dir)));
  }
  if (!a.log_level.empty()) config.server.log_level = a.log_level;
  init_logging(config.server.log_level);
  if (auto applied = apply_outbound_rules(config.outbound.allow); !applied) return fail(applied.error());
  if (config.entries.empty()) return fail(invalid_argument("no models to serve: add [[model]] entries or pass --model"));
  for (const auto& e : config.entries) {
    std::error_code ec;
    if (!fs::exists(e.file, ec)) {
      spdlog::warn("model '{}': file {} does not exist yet ({})", e.id, e.file,
                   e.url.empty() ? "requests for it will fail" : "run `hearth models pull " + e.id + "`");
    }
  }
  return run_server(config);
}

int cmd_run(const RunArgs& a) {
  init_logging("warn");
  ModelLoadOptions opt;
  std::string id = a.model;
  SamplingParams sampling;
  if (fs::exists(a.model) && fs::is_regular_file(a.model)) {
    opt.path = a.model;
  } else {
    auto cfg = config_for(a.config, true);
    if (!cfg) return fail(cfg.error());
    const ModelEntry* e = cfg->find(a.model);
    if (!e) return fail(not_found(fmt::format("'{}' is neither a GGUF file nor a model in {}", a.model, cfg->source)));
    opt = e->load;
    sampling = e->sampling;
    id = e->id;
  }
  opt.parallel = 1;
  opt.context_size = a.context_size;
  if (a.threads > 0) opt.threads = a.threads;
  auto engine = ModelEngine::load(opt);
  if (!engine) return fail(engine.error());
  ModelEngine& m = **engine;
  sampling.temperature = a.temperature;
  if (a.seed) sampling.seed = *a.seed;

  std::vector<ChatMessage> history;
  if (!a.system.empty()) history.push_back({"system", a.system, {}, {}, {}});

  // One turn: render, generate, stream to stdout; returns the answer text.
  auto turn = [&](const std::string& user) -> Result<std::string> {
    GenerationRequest req;
    req.sampling = sampling;
    req.max_tokens = a.max_tokens;
    ReasoningSplitter splitter;
    if (a.raw) {
      auto toks = m.tokenize(user, true, false);
      if (!toks) return toks.take_error();
      req.prompt = std::move(*toks);
    } else {
      history.push_back({"user", user, {}, {}, {}});
      auto chat = m.render_chat({history, true, true});
      if (!chat) return chat.take_error();
      auto toks = m.tokenize(chat->prompt, true, true);
      if (!toks) return toks.take_error();
      req.prompt = std::move(*toks);
      req.stop = chat->extra_stops;
      splitter = ReasoningSplitter(chat->starts_in_reasoning, chat->think_open, chat->think_close);
    }
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool in_reasoning = false;
    std::string answer;
    Error error;
    auto print = [&](const ReasoningSplitter::Delta& d) {
      if (!d.reasoning.empty()) {
        if (!in_reasoning) std::cout << "\033[2m";
        in_reasoning = true;
        std::cout << d.reasoning;
      }
      if (!d.content.empty()) {
        if (in_reasoning) std::cout << "\033[0m\n";
        in_reasoning = false;
        std::cout << d.content;
        answer += d.content;
      }
      std::cout.flush();
    };
    auto handle = m.generate(std::move(req), [&](GenEvent&& ev) {
      if (ev.kind == GenEvent::Kind::kDelta) {
        print(a.raw ? ReasoningSplitter::Delta{{}, ev.text} : splitter.push(ev.text));
        return;
      }
      if (!a.raw) print(splitter.flush());
      std::lock_guard lk(mu);
      if (ev.kind == GenEvent::Kind::kError) error = ev.error;
      done = true;
      cv.notify_all();
    });
    if (!handle) return handle.take_error();
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done; });
    if (in_reasoning) std::cout << "\033[0m";
    std::cout << std::endl;
    if (!error.message.empty()) return error;
    if (!a.raw) history.push_back({"assistant", answer, {}, {}, {}});
    return answer;
  };

  if (!a.prompt.empty()) {
    auto r = turn(a.prompt);
    return r ? 0 : fail(r.error());
  }
  fmt::print(stderr, "Chatting with {} ({}). /reset clears the conversation, /exit or Ctrl-D quits.\n", id,
             m.info().description);
  std::string line;
  for (;;) {
    fmt::print(stderr, "\n> ");
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    if (line == "/reset") {
      history.clear();
      if (!a.system.empty()) history.push_back({"system", a.system, {}, {}, {}});
      continue;
    }
    auto r = turn(line);
    if (!r) fmt::print(stderr, "error: {}\n", r.error().message);
  }
  return 0;
}

int cmd_models_list(const std::string& config) {
  auto cfg = config_for(config, true);
  if (!cfg) return fail(cfg.error());
  fmt::print("{:<28} {:>10}  {:<8} {}\n", "ID", "SIZE", "SHA256", "FILE");
  for (const auto& e : cfg->entries) {
    std::error_code ec;
    const bool present = fs::exists(e.file, ec);
    const std::string size = present ? fmt::format("{:.1f} MiB", static_cast<double>(fs::file_size(e.file, ec)) / (1 << 20)) : "missing";
    fmt::print("{:<28} {:>10}  {:<8} {}{}\n", e.id, size, e.sha256.empty() ? "-" : e.sha256.substr(0, 8), e.file,
               e.aliases.empty() ? "" : fmt::format("  (aliases: {})", fmt::join(e.aliases, ", ")));
  }
  return 0;
}

int cmd_models_pull(const PullArgs& a) {
  auto cfg = config_for(a.config, false);
  if (!cfg) return fail(cfg.error());
  DownloadOptions opt;
  if (const ModelEntry* e = cfg->find(a.what)) {
    if (e->url.empty()) return fail(invalid_argument(fmt::format("model '{}' has no url in {}", e->id, cfg->source)));
    opt.url = e->url;
    opt.dest = e->file;
    opt.expected_sha256 = e->sha256;
  } else if (a.what.rfind("http://", 0) == 0 || a.what.rfind("https://", 0) == 0) {
    opt.url = a.what;
    std::string name = a.output;
    if (name.empty()) {
      name = a.what.substr(a.what.find_last_of('/') + 1);
      name = name.substr(0, name.find('?'));
    }
    if (name.empty()) return fail(invalid_argument("cannot tell a file name from the URL; pass --output NAME"));
    opt.dest = (fs::path(cfg->models.dir) / name).string();
  } else {
    return fail(not_found(fmt::format("'{}' is neither a catalog model nor an http(s) URL", a.what)));
  }
  if (!a.sha256.empty()) opt.expected_sha256 = a.sha256;
  for (char& c : opt.expected_sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  opt.bearer_token = a.token;
  if (opt.bearer_token.empty()) {
    if (const char* t = std::getenv("HF_TOKEN")) opt.bearer_token = t;
  }
  std::error_code ec;
  if (fs::exists(opt.dest, ec)) {
    fmt::print(stderr, "{} already exists; checking it\n", opt.dest);
    auto digest = sha256_file(opt.dest, terminal_progress("verify"));
    if (!digest) return fail(digest.error());
    if (opt.expected_sha256.empty() || *digest == opt.expected_sha256) {
      fmt::print("{}  {}\n", *digest, opt.dest);
      return 0;
    }
    fmt::print(stderr, "SHA-256 mismatch ({}); downloading again\n", *digest);
    fs::remove(opt.dest, ec);
  }
  opt.progress = terminal_progress(fs::path(opt.dest).filename().string());
  auto r = download_file(opt);
  if (!r) return fail(r.error());
  if (r->resumed_from > 0) fmt::print(stderr, "resumed from byte {}\n", r->resumed_from);
  fmt::print("{}  {}\n", r->sha256, opt.dest);
  if (opt.expected_sha256.empty()) fmt::print(stderr, "no SHA-256 was given: record the one above in the catalog\n");
  return 0;
}

int cmd_models_verify(const std::string& config, const std::vector<std::string>& ids) {
  auto cfg = config_for(config, true);
  if (!cfg) return fail(cfg.error());
  int bad = 0;
  for (const auto& e : cfg->entries) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), e.id) == ids.end()) continue;
    auto digest = sha256_file(e.file, terminal_progress("verify " + e.id));
    if (!digest) {
      fmt::print("{:<28} MISSING  {}\n", e.id, digest.error().message);
      ++bad;
    } else if (e.sha256.empty()) {
      fmt::print("{:<28} UNCHECKED {} (no sha256 in the catalog)\n", e.id, *digest);
    } else if (*digest != e.sha256) {
      fmt::print("{:<28} MISMATCH expected {} got {}\n", e.id, e.sha256, *digest);
      ++bad;
    } else {
      fmt::print("{:<28} OK       {}\n", e.id, *digest);
    }
  }
  for (const auto& id : ids) {
    if (!cfg->find(id)) {
      fmt::print("{:<28} UNKNOWN\n", id);
      ++bad;
    }
  }
  return bad ? 1 : 0;
}

int cmd_models_rm(const std::string& config, const std::vector<std::string>& ids) {
  auto cfg = config_for(config, true);
  if (!cfg) return fail(cfg.error());
  int bad = 0;
  for (const auto& id : ids) {
    const ModelEntry* e = cfg->find(id);
    if (!e) {
      fmt::print(stderr, "unknown model '{}'\n", id);
      ++bad;
      continue;
    }
    std::error_code ec;
    const bool removed = fs::remove(e->file, ec);
    fs::remove(e->file + ".part", ec);
    fmt::print("{} {}\n", removed ? "removed" : "not present:", e->file);
  }
  return bad ? 1 : 0;
}

int cmd_make_test_model(const MakeTestModelArgs& a) {
  init_logging("warn");
  const std::string dir = a.llama_models_dir.empty() ? find_llama_models_dir() : a.llama_models_dir;
  if (dir.empty()) {
    return fail(not_found("cannot find llama.cpp's models/ directory (vocab files); pass --llama-models DIR "
                          "or run scripts/llama.sh"));
  }
  std::vector<std::string> presets = a.presets;
  if (presets.empty()) presets = {"qwen2", "llama3", "deepseek-r1", "bert", "bert-reranker", "qwen2-small", "qwen2-small-q8_0"};
  for (const auto& p : presets) {
    auto spec = test_model_preset(p, dir);
    if (!spec) return fail(spec.error());
    if (!a.type.empty()) spec->type = a.type;
    std::string name = spec->name;
    if (!a.type.empty() || p == "qwen2-0.5b") name += "-" + spec->type;
    const std::string out = (fs::path(a.out_dir) / (name + ".gguf")).string();
    std::error_code ec;
    if (!a.force && fs::exists(out, ec)) {
      fmt::print("{} (exists)\n", out);
      continue;
    }
    const int threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (Status st = make_test_model(*spec, out, threads); !st) return fail(st.error());
    fmt::print("{} ({:.1f} MiB)\n", out, static_cast<double>(fs::file_size(out, ec)) / (1 << 20));
  }
  return 0;
}

}  // namespace hearth
