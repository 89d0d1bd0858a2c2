// [[safety.rules]] on what callers send: chat and completion messages and embedding inputs (an
// input hook of the pipeline), knowledge search queries and uploaded text documents (the knowledge
// handlers). A rule blocks (400 naming the rule, error code "content_filter"), flags (the hit goes
// to metrics and the audit record) or redacts the matched text before anything else sees it.
// Thread-safety: built at start-up, immutable after; apply() may run on any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "safety/input_rules.h"
#include "server/metrics.h"
#include "server/pipeline.h"

namespace hearth {

class ContentRules {
 public:
  // From SafetySettings::rules_json; nullptr when there are no rules. Errors name the rule.
  static Result<std::shared_ptr<const ContentRules>> build(const std::string& rules_json, HttpMetrics* metrics);
  // Runs the rules for `surface` ("chat", "completion", "embedding", "query", "upload") on `text`,
  // rewriting it when a rule redacts; a block is kInvalidArgument naming the rule and `param`.
  Status apply(std::string& text, std::string_view surface, const std::string& param, RequestContext& ctx) const;

 private:
  safety::InputRules rules_;
  HttpMetrics* metrics_ = nullptr;
};

std::unique_ptr<InputHook> make_rules_input_hook(std::shared_ptr<const ContentRules> rules);

// Whether an upload of this file name is text the rules can read (.txt, .md, .html, .csv, .json,
// ...); other formats are extracted later and not checked here.
bool upload_is_text(std::string_view filename);

}  // namespace hearth
