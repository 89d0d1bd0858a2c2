// PII redaction on the pipeline's hooks (pipeline.h), as [safety] configures it: on a request's
// texts before the model sees them (input), and on generated text as it streams (output), per
// role or key. A "block" action refuses an input with 400 naming the entity; on output a blocked entity
// is replaced like "placeholder" (what was sent cannot be taken back).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "safety/pii.h"
#include "server/metrics.h"
#include "server/pipeline.h"

namespace hearth {

struct SafetySettings;
class RoleTable;

class PiiPolicies {
 public:
  // Names are checked here (entities, actions, roles); `hash_secret` keys the "hash" action.
  static Result<PiiPolicies> build(const SafetySettings& settings, const RoleTable& roles, std::string hash_secret);
  bool empty() const;
  // The policy for a caller's role (its own, else the general one); nullptr when it does nothing.
  const safety::RedactionPolicy* input_for(const Principal* who) const;
  const safety::RedactionPolicy* output_for(const Principal* who) const;

 private:
  struct Pair {
    safety::RedactionPolicy input, output;
  };
  const Pair& pair_for(const Principal* who) const;
  Pair all_;
  std::map<std::string, Pair, std::less<>> roles_, keys_;
};

std::unique_ptr<InputHook> make_pii_input_hook(std::shared_ptr<const PiiPolicies> policies, HttpMetrics* metrics);
std::unique_ptr<OutputHook> make_pii_output_hook(std::shared_ptr<const PiiPolicies> policies, HttpMetrics* metrics);

}  // namespace hearth
