// `hearth audit ...` (verify the chain, export records) and `hearth privacy ...` (a data
// subject's export and erasure) from the command line, on the same files the server uses (SQLite
// in WAL mode: safe while it runs).
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace hearth {

struct Config;

struct PrivacyArgs {
  std::string config;
  std::string action;  // audit-verify, audit-export, privacy-export, privacy-delete
  std::string user, principal;
  std::int64_t from_ms = 0, to_ms = 0;
  bool yes = false;
};

// Exit codes: 0 done; 1 failed (a broken chain, a store error); 2 bad input.
int cmd_privacy(const PrivacyArgs& args);
void add_privacy_commands(CLI::App& app, PrivacyArgs& args);

// Appends one record of an administrative action taken from the command line ("key.create",
// ...) to the audit log, when [audit] is enabled; the principal is "cli:" + the OS user. A failure
// is printed as a warning (the action itself is done).
void record_cli_action(const Config& config, const std::string& action, const std::string& detail);

}  // namespace hearth
