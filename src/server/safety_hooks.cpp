#include "server/safety_hooks.h"

#include <fmt/format.h>

#include "models/catalog.h"
#include "server/access.h"

namespace hearth {
namespace {

using safety::PiiAction;

const char* action_name(PiiAction a) {
  switch (a) {
    case PiiAction::kMask: return "mask";
    case PiiAction::kPlaceholder: return "placeholder";
    case PiiAction::kHash: return "hash";
    case PiiAction::kBlock: return "block";
  }
  return "?";
}

Result<safety::RedactionPolicy> compile(const std::vector<std::pair<std::string, std::string>>& entries,
                                        const std::string& where, const std::string& secret) {
  safety::RedactionPolicy p;
  p.hash_secret = secret;
  for (const auto& [entity, action] : entries) {
    std::optional<safety::PiiType> type = safety::pii_type_from_name(entity);
    if (!type) {
      std::string known;
      for (auto t : safety::all_pii_types()) known += (known.empty() ? "" : ", ") + std::string(safety::pii_type_name(t));
      return invalid_argument(fmt::format("{}: unknown entity '{}' (known: {})", where, entity, known), entity);
    }
    PiiAction a;
    if (action == "mask") a = PiiAction::kMask;
    else if (action == "placeholder") a = PiiAction::kPlaceholder;
    else if (action == "hash") a = PiiAction::kHash;
    else if (action == "block") a = PiiAction::kBlock;
    else return invalid_argument(fmt::format("{}.{} = '{}': the action must be mask, placeholder, hash or block", where,
                                             entity, action), entity);
    p.actions[*type] = a;
  }
  return p;
}

// Metrics and the request's filter hits (for the audit log).
void count(HttpMetrics* m, RequestContext* ctx, const char* direction, const safety::RedactionPolicy& p,
           const std::vector<safety::PiiMatch>& matches) {
  for (const auto& match : matches) {
    const char* type = safety::pii_type_name(match.type);
    const char* action = action_name(p.actions.at(match.type));
    if (m) m->filter_hit(direction, type, action);
    if (ctx) ctx->add_filter_hit(fmt::format("{}:{}:{}", direction, type, action));
  }
}

class PiiInput final : public InputHook {
 public:
  PiiInput(std::shared_ptr<const PiiPolicies> p, HttpMetrics* m) : p_(std::move(p)), m_(m) {}
  Status on_input(RequestContext& ctx, InputTexts& in) override {
    const safety::RedactionPolicy* policy = p_->input_for(ctx.principal.get());
    if (!policy) return {};
    for (std::string* text : in.texts) {
      safety::Redacted r = safety::redact(*text, *policy);
      count(m_, &ctx, "input", *policy, r.matches);
      if (r.blocked) {
        return invalid_argument(fmt::format("the request contains a {} in '{}', which this server does not accept "
                                            "([safety] input: block)",
                                            safety::pii_type_name(*r.blocked_by), in.param), in.param);
      }
      if (!r.matches.empty()) *text = std::move(r.text);
    }
    return {};
  }

 private:
  std::shared_ptr<const PiiPolicies> p_;
  HttpMetrics* m_;
};

class PiiStream final : public OutputFilter {
 public:
  PiiStream(const safety::RedactionPolicy& policy, HttpMetrics* m, RequestContext* ctx)
      : policy_(policy), redactor_(policy), m_(m), ctx_(ctx) {}
  std::string push(std::string_view text) override { return redactor_.push(text); }
  std::string finish() override {
    std::string tail = redactor_.finish();
    count(m_, ctx_, "output", policy_, redactor_.matches());
    return tail;
  }

 private:
  const safety::RedactionPolicy& policy_;
  safety::StreamRedactor redactor_;
  HttpMetrics* m_;
  RequestContext* ctx_;  // outlives the response's filters
};

class PiiOutput final : public OutputHook {
 public:
  PiiOutput(std::shared_ptr<const PiiPolicies> p, HttpMetrics* m) : p_(std::move(p)), m_(m) {}
  std::unique_ptr<OutputFilter> open(RequestContext& ctx) override {
    const safety::RedactionPolicy* policy = p_->output_for(ctx.principal.get());
    if (!policy) return nullptr;
    return std::make_unique<PiiStream>(*policy, m_, &ctx);
  }

 private:
  std::shared_ptr<const PiiPolicies> p_;
  HttpMetrics* m_;
};

}  // namespace

Result<PiiPolicies> PiiPolicies::build(const SafetySettings& settings, const RoleTable& roles, std::string secret) {
  PiiPolicies out;
  auto in = compile(settings.all.input, "safety.input", secret);
  if (!in) return in.take_error();
  auto o = compile(settings.all.output, "safety.output", secret);
  if (!o) return o.take_error();
  out.all_ = {std::move(*in), std::move(*o)};
  for (const auto& [role, policy] : settings.roles) {
    if (!roles.find(role)) return invalid_argument(fmt::format("[safety.role.{}]: no such role", role), "role");
    auto ri = compile(policy.input, fmt::format("safety.role.{}.input", role), secret);
    if (!ri) return ri.take_error();
    auto ro = compile(policy.output, fmt::format("safety.role.{}.output", role), secret);
    if (!ro) return ro.take_error();
    out.roles_[role] = {std::move(*ri), std::move(*ro)};
  }
  for (const auto& [key, policy] : settings.keys) {
    auto ki = compile(policy.input, fmt::format("safety.key.{}.input", key), secret);
    if (!ki) return ki.take_error();
    auto ko = compile(policy.output, fmt::format("safety.key.{}.output", key), secret);
    if (!ko) return ko.take_error();
    out.keys_[key] = {std::move(*ki), std::move(*ko)};
  }
  return out;
}

bool PiiPolicies::empty() const {
  if (!all_.input.actions.empty() || !all_.output.actions.empty()) return false;
  for (const auto* named : {&roles_, &keys_}) {
    for (const auto& [_, p] : *named) {
      if (!p.input.actions.empty() || !p.output.actions.empty()) return false;
    }
  }
  return true;
}

const PiiPolicies::Pair& PiiPolicies::pair_for(const Principal* who) const {
  if (who) {
    if (auto it = keys_.find(who->id); it != keys_.end()) return it->second;
    if (auto it = roles_.find(who->role); it != roles_.end()) return it->second;
  }
  return all_;
}

const safety::RedactionPolicy* PiiPolicies::input_for(const Principal* who) const {
  const auto& p = pair_for(who).input;
  return p.actions.empty() ? nullptr : &p;
}

const safety::RedactionPolicy* PiiPolicies::output_for(const Principal* who) const {
  const auto& p = pair_for(who).output;
  return p.actions.empty() ? nullptr : &p;
}

std::unique_ptr<InputHook> make_pii_input_hook(std::shared_ptr<const PiiPolicies> p, HttpMetrics* m) {
  return std::make_unique<PiiInput>(std::move(p), m);
}

std::unique_ptr<OutputHook> make_pii_output_hook(std::shared_ptr<const PiiPolicies> p, HttpMetrics* m) {
  return std::make_unique<PiiOutput>(std::move(p), m);
}

}  // namespace hearth
