#include "cli/users_commands.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <ctime>
#include <iostream>

#include "auth/user_store.h"
#include "cli/commands.h"
#include "cli/keys_commands.h"
#include "cli/privacy_commands.h"
#include "models/catalog.h"

namespace hearth {
namespace {

int fail(const Error& e) {
  fmt::print(stderr, "error: {}\n", e.message);
  return e.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

std::string read_password() {
  fmt::print(stderr, "password (one line on standard input): ");
  std::fflush(stderr);
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  fmt::print(stderr, "\n");
  return line;
}

void print_user(const auth::UserRecord& u) {
  fmt::print("{:<14} {:<24} {:<10} {}\n", u.id, u.name, u.role, u.disabled_at ? "disabled" : "active");
}

}  // namespace

int cmd_users(const UsersArgs& a) {
  Config config;
  config.source = "<defaults>";
  if (const std::string path = default_config_path(a.config); !path.empty()) {
    auto loaded = load_config(path);
    if (!loaded) return fail(loaded.error());
    config = std::move(*loaded);
  }
  fill_data_paths(config);
  auto store = auth::UserStore::open(config.auth.db, config.auth.secret_file);
  if (!store) return fail(store.error());
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  Result<auth::UserRecord> done = not_found("");
  if (a.action == "list") {
    auto users = (*store)->list();
    if (!users) return fail(users.error());
    for (const auto& u : *users) print_user(u);
    return 0;
  } else if (a.action == "create") {
    done = (*store)->create({a.name, a.role, read_password(), {}, {}, 0, 0}, now);
  } else if (a.action == "passwd") {
    done = (*store)->set_password(a.name, read_password(), now);
  } else {
    done = (*store)->disable(a.name, now);
  }
  if (!done) return fail(done.error());
  print_user(*done);
  record_cli_action(config, "admin.users." + a.action, "user:" + done->name);
  return 0;
}

void add_users_commands(CLI::App& app, UsersArgs& a) {
  auto* u = app.add_subcommand("users", "People who sign in with a password (the web app, POST /v1/auth/login)");
  u->require_subcommand(1);
  u->add_option("-c,--config", a.config, "Config file whose [auth] db and secret_file are used");
  auto* c = u->add_subcommand("create", "Create a user; the password is read from standard input");
  c->add_option("--name", a.name, "1..64 characters, no spaces (Chinese names work)")->required();
  c->add_option("--role", a.role, "admin, user, viewer, or a role of [auth.roles]")->required();
  auto* l = u->add_subcommand("list", "List users (never their passwords)");
  auto* d = u->add_subcommand("disable", "Disable a user: their sessions end at once");
  auto* p = u->add_subcommand("passwd", "Set a user's password (from standard input); their sessions end");
  for (auto* sub : {d, p}) sub->add_option("name", a.name, "The user's name or id")->required();
  for (auto* sub : {c, l, d, p}) {
    sub->fallthrough();
    sub->callback([&a, sub] { a.action = sub->get_name(); });
  }
}

}  // namespace hearth
