// Internal to hearth_audit: the canonical hashed form of a record (see audit_log.h for the exact
// field set) and its JSON form. Thread-safety: free functions, no shared state.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "audit/audit_log.h"

namespace hearth::audit {

// prev_hash of the first record ever written.
inline const std::string kGenesisHash(64, '0');

// hex SHA-256(salt || canonical JSON of {client_ip, content, principal}); nullopt when a field is
// not valid UTF-8 (which append never stores, so only a changed database gives that).
std::optional<std::string> personal_digest(const std::string& salt, const AuditRecord& r);
// hex SHA-256(prev_hash || canonical JSON of the hashed fields, `personal` among them); nullopt as above.
std::optional<std::string> chain_hash(const AuditRecord& r, const std::string& personal);

// Replaces invalid UTF-8 in every string field by U+FFFD (what append stores and hashes).
void sanitize(AuditRecord& r);

nlohmann::json to_json_object(const AuditRecord& r);

}  // namespace hearth::audit
