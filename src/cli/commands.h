// The `hearth` subcommands. Each returns a process exit code and prints its own errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace hearth {

struct ServeArgs {
  std::string config;
  std::vector<std::string> models;  // GGUF files to serve (instead of, or in addition to, the catalog)
  std::optional<std::string> host;
  std::optional<int> port;
  std::string port_file;
  std::string log_level;
  std::optional<int> context_size, parallel, threads, batch_size, ubatch_size;
  std::optional<double> prefill_spread;
  std::string flash_attn;
  bool batch_invariant = false;
  bool mmap = false;
  bool no_huge_pages = false;
  std::optional<std::string> auth;  // auth.mode: none or keys
  bool insecure_no_auth = false;    // auth.allow_none_on_network
  std::string tls_cert, tls_key;    // [tls] cert_file and key_file (both, or with the config's other)
  std::string ui_dir;               // [ui] dir: serve the web app from this directory (a development build)
};
int cmd_serve(const ServeArgs& args);

struct RunArgs {
  std::string config;
  std::string model;   // catalog id/alias or a GGUF path
  std::string prompt;  // empty: interactive chat
  std::string system;
  int max_tokens = 512;
  float temperature = 0.8f;
  std::optional<unsigned> seed;
  int context_size = 4096;
  int threads = 0;
  bool raw = false;  // a completion of the prompt, no chat template
};
int cmd_run(const RunArgs& args);

int cmd_models_list(const std::string& config);
struct PullArgs {
  std::string config;
  std::string what;  // catalog id or URL
  std::string sha256;
  std::string output;  // file name in the models dir (URLs only)
  std::string token;   // bearer token (or $HF_TOKEN)
};
int cmd_models_pull(const PullArgs& args);
int cmd_models_verify(const std::string& config, const std::vector<std::string>& ids);
int cmd_models_rm(const std::string& config, const std::vector<std::string>& ids);

struct MakeTestModelArgs {
  std::vector<std::string> presets;  // empty: the tiny set (qwen2, llama3, deepseek-r1, bert)
  std::string out_dir = "models";
  std::string llama_models_dir;      // llama.cpp's models/ (vocab files, templates)
  std::string type;                  // override the preset's type
  bool force = false;
  int threads = 0;
};
int cmd_make_test_model(const MakeTestModelArgs& args);

// Where the process's own requests (URL sources, remote embedders, model downloads) may go
// besides public addresses: `allow` ([outbound] allow) plus $HEARTH_OUTBOUND_ALLOW (comma-separated).
Status apply_outbound_rules(std::vector<std::string> allow);

// The config a command uses: --config, else $HEARTH_CONFIG, else ./config/hearth.toml if present.
std::string default_config_path(const std::string& given);

}  // namespace hearth
