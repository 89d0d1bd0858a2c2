// Data-subject rights (GDPR articles 15, 17 and 20; China's PIPL articles 45 and 47): everything
// Hearth holds about one person, exported as JSON, and erased or pseudonymised on request.
//
// A registry that every store of personal data joins. Each store says what it holds about a
// subject and how it forgets it; the registry asks them all, so a later store (conversations,
// voice recordings) adds one PersonalDataStore and export and deletion cover it.
//
// A subject is named as an operator knows them: a user name ("alice"), an API key id
// ("hk-AbCdEf1234") or an identity provider's subject. It stands for the principal ids Hearth
// records them under: the name itself, "user:<name>" (signed-in users) and "oidc:<name>" (JWT
// subjects). Stores may add more (a user's own ids).
//
// Thread-safety: a Registry is built at start-up; export_subject() and erase_subject() may be
// called from any thread (the stores serialise their own access).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace hearth::audit {
class AuditStore;
}
namespace hearth::auth {
class KeyStore;
class UserStore;
class CollectionAccessStore;
}

namespace hearth::privacy {

struct Subject {
  std::string name;                     // as the operator gave it
  std::vector<std::string> principals;  // the ids it is recorded under
};

// The principal ids a subject name stands for (see above); an invalid name is kInvalidArgument.
Result<Subject> subject_for(const std::string& name);

class PersonalDataStore {
 public:
  virtual ~PersonalDataStore() = default;
  virtual std::string name() const = 0;  // "audit_log", "api_keys", "users", ...
  // May add ids the subject is also known by (e.g. a user's id), before export or erasure.
  virtual void expand(Subject&) {}
  // What the store holds about the subject (null when nothing).
  virtual Result<nlohmann::json> export_subject(const Subject& subject) = 0;
  // Erases or pseudonymises it; returns a summary ({"removed": n} or {"pseudonymised": n}).
  virtual Result<nlohmann::json> erase_subject(const Subject& subject) = 0;
};

class Registry {
 public:
  void add(std::shared_ptr<PersonalDataStore> store);
  // {"subject": name, "generated_at": ..., "stores": {store: data, ...}}; stores that hold
  // nothing are left out, so the export of an erased subject has an empty "stores".
  Result<nlohmann::json> export_subject(const std::string& name, std::int64_t now_s);
  // Every store erases; {"subject": ..., "stores": {store: summary}}. Stops at the first failure
  // (the error names the store); what earlier stores erased stays erased, and running it again
  // finishes the job.
  Result<nlohmann::json> erase_subject(const std::string& name);

 private:
  Result<Subject> resolve(const std::string& name);
  std::vector<std::shared_ptr<PersonalDataStore>> stores_;
};

// The audit log as a personal data store: export = the subject's records; erase = pseudonymise
// them (the chain still verifies; the erasure is itself recorded), keyed by the secret `secret`
// returns (read only when erasing).
std::shared_ptr<PersonalDataStore> audit_log_store(audit::AuditStore& store,
                                                   std::function<Result<std::string>()> secret);
// API keys: export = the key records whose id is one of the subject's; erase = delete them.
std::shared_ptr<PersonalDataStore> api_key_store(auth::KeyStore& store);
// Sign-in users: export = the user record and sessions (never the password hash); erase = delete
// the user and their sessions.
std::shared_ptr<PersonalDataStore> user_store(auth::UserStore& store);
// Collections' owners and access lists: export = the entries naming the subject; erase = they
// leave every list, and what they owned gets the owner "erased" (it stays private).
std::shared_ptr<PersonalDataStore> collection_access_store(auth::CollectionAccessStore& store);

}  // namespace hearth::privacy
