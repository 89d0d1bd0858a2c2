#include "privacy/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "audit/audit_log.h"
#include "auth/collection_access.h"
#include "auth/key_store.h"
#include "auth/user_store.h"

namespace hearth::privacy {
namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 256) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

nlohmann::json audit_json(const audit::AuditRecord& r) { return nlohmann::json::parse(audit::to_json(r)); }

class AuditLogStore final : public PersonalDataStore {
 public:
  AuditLogStore(audit::AuditStore& store, std::function<Result<std::string>()> secret)
      : store_(store), secret_(std::move(secret)) {}
  std::string name() const override { return "audit_log"; }

  Result<nlohmann::json> export_subject(const Subject& s) override {
    nlohmann::json out = nlohmann::json::array();
    for (const std::string& p : s.principals) {
      auto records = store_.records_of(p);
      if (!records) return records.take_error();
      for (const auto& r : *records) out.push_back(audit_json(r));
    }
    if (out.empty()) return nlohmann::json();
    return out;
  }

  Result<nlohmann::json> erase_subject(const Subject& s) override {
    auto secret = secret_();
    if (!secret) return secret.take_error();
    std::int64_t n = 0;
    for (const std::string& p : s.principals) {
      auto changed = store_.pseudonymise(p, *secret);
      if (!changed) return changed.take_error();
      n += *changed;
    }
    return nlohmann::json{{"pseudonymised", n}};
  }

 private:
  audit::AuditStore& store_;
  std::function<Result<std::string>()> secret_;
};

nlohmann::json key_json(const auth::KeyRecord& k) {
  auto opt = [](const std::optional<std::int64_t>& t) { return t ? nlohmann::json(*t) : nlohmann::json(); };
  nlohmann::json j;
  j["id"] = k.id;
  j["name"] = k.name;
  j["role"] = k.role;
  j["models"] = k.models;
  j["collections"] = k.collections;
  j["created_at"] = k.created_at;
  j["expires_at"] = opt(k.expires_at);
  j["revoked_at"] = opt(k.revoked_at);
  j["last_used_at"] = opt(k.last_used_at);
  return j;
}

class ApiKeyStore final : public PersonalDataStore {
 public:
  explicit ApiKeyStore(auth::KeyStore& store) : store_(store) {}
  std::string name() const override { return "api_keys"; }

  Result<nlohmann::json> export_subject(const Subject& s) override {
    auto keys = store_.list();
    if (!keys) return keys.take_error();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : *keys) {
      if (std::find(s.principals.begin(), s.principals.end(), k.id) != s.principals.end()) out.push_back(key_json(k));
    }
    if (out.empty()) return nlohmann::json();
    return out;
  }

  Result<nlohmann::json> erase_subject(const Subject& s) override {
    int removed = 0;
    for (const std::string& p : s.principals) {
      if (p.rfind("hk-", 0) != 0) continue;
      auto r = store_.remove(p);
      if (!r) return r.take_error();
      removed += *r ? 1 : 0;
    }
    return nlohmann::json{{"removed", removed}};
  }

 private:
  auth::KeyStore& store_;
};

// Whether the user exists (a store error is an error, not "no").
Result<bool> user_exists(auth::UserStore& store, const std::string& name) {
  auto found = store.get(name);
  if (found) return true;
  if (found.error().code == ErrorCode::kNotFound) return false;
  return found.take_error();
}

// The user names among a subject's ids ("alice" and "user:alice" both name alice).
std::vector<std::string> user_names(const Subject& s) {
  std::vector<std::string> out;
  for (const std::string& p : s.principals) {
    if (p.rfind("user:", 0) == 0) out.push_back(p.substr(5));
  }
  return out;
}

class UserAccounts final : public PersonalDataStore {
 public:
  explicit UserAccounts(auth::UserStore& store) : store_(store) {}
  std::string name() const override { return "users"; }

  Result<nlohmann::json> export_subject(const Subject& s) override {
    nlohmann::json out = nlohmann::json::array();
    for (const std::string& n : user_names(s)) {
      auto exists = user_exists(store_, n);
      if (!exists) return exists.take_error();
      if (!*exists) continue;
      auto user = store_.export_user(n);
      if (!user) return user.take_error();
      out.push_back(std::move(*user));
    }
    if (out.empty()) return nlohmann::json();
    return out;
  }

  Result<nlohmann::json> erase_subject(const Subject& s) override {
    int removed = 0;
    for (const std::string& n : user_names(s)) {
      auto exists = user_exists(store_, n);
      if (!exists) return exists.take_error();
      if (!*exists) continue;
      auto r = store_.remove(n);
      if (!r) return r.take_error();
      removed += *r;
    }
    return nlohmann::json{{"removed", removed}};
  }

 private:
  auth::UserStore& store_;
};

class CollectionOwners final : public PersonalDataStore {
 public:
  explicit CollectionOwners(auth::CollectionAccessStore& store) : store_(store) {}
  std::string name() const override { return "collection_access"; }

  Result<nlohmann::json> export_subject(const Subject& s) override {
    nlohmann::json out = nlohmann::json::array();
    for (const std::string& p : s.principals) {
      for (const auto& a : store_.mentioning(p)) {
        nlohmann::json j;
        j["collection"] = a.collection;
        j["owner"] = a.owner == p;
        j["reader"] = std::find(a.readers.begin(), a.readers.end(), p) != a.readers.end();
        j["writer"] = std::find(a.writers.begin(), a.writers.end(), p) != a.writers.end();
        out.push_back(std::move(j));
      }
    }
    if (out.empty()) return nlohmann::json();
    return out;
  }

  Result<nlohmann::json> erase_subject(const Subject& s) override {
    int changed = 0;
    for (const std::string& p : s.principals) {
      auto n = store_.forget(p, "erased");
      if (!n) return n.take_error();
      changed += *n;
    }
    return nlohmann::json{{"changed", changed}};
  }

 private:
  auth::CollectionAccessStore& store_;
};

}  // namespace

Result<Subject> subject_for(const std::string& name) {
  if (!valid_name(name)) {
    return invalid_argument("the subject must be a user name, API key id or identity-provider subject "
                            "(1..256 bytes, no control characters)", "user");
  }
  Subject s{name, {name}};
  if (name.find(':') == std::string::npos && name.rfind("hk-", 0) != 0) {
    s.principals.push_back("user:" + name);
    s.principals.push_back("oidc:" + name);
  }
  return s;
}

void Registry::add(std::shared_ptr<PersonalDataStore> store) { stores_.push_back(std::move(store)); }

Result<Subject> Registry::resolve(const std::string& name) {
  auto s = subject_for(name);
  if (!s) return s.take_error();
  for (auto& store : stores_) store->expand(*s);
  std::sort(s->principals.begin(), s->principals.end());
  s->principals.erase(std::unique(s->principals.begin(), s->principals.end()), s->principals.end());
  return s;
}

Result<nlohmann::json> Registry::export_subject(const std::string& name, std::int64_t now_s) {
  auto s = resolve(name);
  if (!s) return s.take_error();
  nlohmann::json stores = nlohmann::json::object();
  for (auto& store : stores_) {
    auto data = store->export_subject(*s);
    if (!data) return Error{data.error().code, fmt::format("{}: {}", store->name(), data.error().message)};
    if (!data->is_null()) stores[store->name()] = std::move(*data);
  }
  nlohmann::json out;
  out["subject"] = name;
  out["generated_at"] = now_s;
  out["stores"] = std::move(stores);
  return out;
}

Result<nlohmann::json> Registry::erase_subject(const std::string& name) {
  auto s = resolve(name);
  if (!s) return s.take_error();
  nlohmann::json stores = nlohmann::json::object();
  for (auto& store : stores_) {
    auto summary = store->erase_subject(*s);
    if (!summary) return Error{summary.error().code, fmt::format("{}: {}", store->name(), summary.error().message)};
    stores[store->name()] = std::move(*summary);
  }
  nlohmann::json out;
  out["subject"] = name;
  out["stores"] = std::move(stores);
  return out;
}

std::shared_ptr<PersonalDataStore> audit_log_store(audit::AuditStore& store,
                                                   std::function<Result<std::string>()> secret) {
  return std::make_shared<AuditLogStore>(store, std::move(secret));
}

std::shared_ptr<PersonalDataStore> api_key_store(auth::KeyStore& store) { return std::make_shared<ApiKeyStore>(store); }

std::shared_ptr<PersonalDataStore> user_store(auth::UserStore& store) { return std::make_shared<UserAccounts>(store); }

std::shared_ptr<PersonalDataStore> collection_access_store(auth::CollectionAccessStore& store) {
  return std::make_shared<CollectionOwners>(store);
}

}  // namespace hearth::privacy
