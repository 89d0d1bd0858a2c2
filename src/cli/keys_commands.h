// `hearth keys ...`: API keys from the command line (create, list, revoke).
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace hearth {

struct Config;

struct KeysArgs {
  std::string config;  // default: $HEARTH_CONFIG or ./config/hearth.toml (none: the defaults)
  std::string action;  // create, list, revoke (set by the subcommand parsed)
  std::string name, role, expires;
  std::vector<std::string> models, collections;
  int rpm = 0, tpm = 0;
  std::string id;
  bool json = false;
};

// Exit codes: 0 done; 1 failed (e.g. revoke of an unknown id); 2 bad input, named on stderr.
int cmd_keys(const KeysArgs& args);

// Registers `keys` and its subcommands create, list and revoke on `app`; each sets args.action
// when parsed. Returns the `keys` subcommand.
CLI::App* add_keys_commands(CLI::App& app, KeysArgs& args);

// Where the API keys live: [auth] db and secret_file, else auth.sqlite and auth.secret beside
// the knowledge store (data/ under the current directory without a config). The server uses it too.
struct AuthPaths {
  std::string db;
  std::string secret_file;
};
AuthPaths auth_paths(const Config& config);
// Fills [auth] db and secret_file, and [audit] db, where the config left them empty (no config
// file): beside the knowledge store, else in ./data.
void fill_data_paths(Config& config);

}  // namespace hearth
