#include "audit/audit_log.h"
#include "audit/audit_record_internal.h"
#include "core/sha256.h"
#include "core/utf8.h"

namespace hearth::audit {
namespace {

// Compact, keys sorted (std::map), strict about UTF-8: two different byte strings never share
// a canonical form, so a changed byte always changes the hash.
std::optional<std::string> canonical(const nlohmann::json& j) {
  try {
    return j.dump();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> personal_digest(const std::string& salt, const AuditRecord& r) {
  const nlohmann::json j = {{"client_ip", r.client_ip}, {"content", r.content}, {"principal", r.principal}};
  auto text = canonical(j);
  if (!text) return std::nullopt;
  return sha256_hex(salt + *text);
}

std::optional<std::string> chain_hash(const AuditRecord& r, const std::string& personal) {
  nlohmann::json j = nlohmann::json::object();
  j["action"] = r.action;
  j["collection"] = r.collection;
  j["completion_tokens"] = r.completion_tokens;
  j["decision"] = r.decision;
  j["filter_hits"] = r.filter_hits;
  j["method"] = r.method;
  j["model"] = r.model;
  j["outcome"] = r.outcome;
  j["personal"] = personal;
  j["prev_hash"] = r.prev_hash;
  j["prompt_tokens"] = r.prompt_tokens;
  j["request_id"] = r.request_id;
  j["role"] = r.role;
  j["route"] = r.route;
  j["seq"] = r.seq;
  j["status"] = r.status;
  j["time_ms"] = r.time_ms;
  auto text = canonical(j);
  if (!text) return std::nullopt;
  return sha256_hex(r.prev_hash + *text);
}

void sanitize(AuditRecord& r) {
  for (std::string* s : {&r.principal, &r.role, &r.client_ip, &r.request_id, &r.method, &r.route, &r.model,
                         &r.collection, &r.action, &r.decision, &r.outcome, &r.content}) {
    if (!utf8_is_valid(*s)) *s = utf8_sanitize(*s);
  }
  for (std::string& s : r.filter_hits) {
    if (!utf8_is_valid(s)) s = utf8_sanitize(s);
  }
}

nlohmann::json to_json_object(const AuditRecord& r) {
  return {{"seq", r.seq},
          {"time_ms", r.time_ms},
          {"principal", r.principal},
          {"role", r.role},
          {"client_ip", r.client_ip},
          {"request_id", r.request_id},
          {"method", r.method},
          {"route", r.route},
          {"model", r.model},
          {"collection", r.collection},
          {"action", r.action},
          {"decision", r.decision},
          {"status", r.status},
          {"outcome", r.outcome},
          {"filter_hits", r.filter_hits},
          {"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"content", r.content},
          {"prev_hash", r.prev_hash},
          {"hash", r.hash},
          {"pseudonymised", r.pseudonymised}};
}

std::string to_json(const AuditRecord& record) {
  return to_json_object(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace hearth::audit
