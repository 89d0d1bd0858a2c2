// `hearth users ...`: people who sign in (create, list, disable, passwd) from the command line, on
// the server's auth database (safe while it runs). Passwords are read from standard input (one
// line), never from the command line (it would show in `ps` and shell history).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace hearth {

struct UsersArgs {
  std::string config;
  std::string action;  // create, list, disable, passwd
  std::string name, role;
};

// Exit codes: 0 done; 1 failed; 2 bad input.
int cmd_users(const UsersArgs& args);
void add_users_commands(CLI::App& app, UsersArgs& args);

}  // namespace hearth
