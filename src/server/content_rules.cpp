#include "server/content_rules.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace hearth {
namespace {

class RulesInput final : public InputHook {
 public:
  explicit RulesInput(std::shared_ptr<const ContentRules> rules) : rules_(std::move(rules)) {}
  Status on_input(RequestContext& ctx, InputTexts& in) override {
    const char* surface = in.param == "messages" ? "chat" : in.param == "prompt" ? "completion" : "embedding";
    for (std::string* text : in.texts) HEARTH_TRY(rules_->apply(*text, surface, in.param, ctx));
    return {};
  }

 private:
  std::shared_ptr<const ContentRules> rules_;
};

}  // namespace

Result<std::shared_ptr<const ContentRules>> ContentRules::build(const std::string& rules_json, HttpMetrics* metrics) {
  if (rules_json.empty()) return std::shared_ptr<const ContentRules>();
  const nlohmann::json array = nlohmann::json::parse(rules_json, nullptr, false);
  if (array.is_discarded()) return invalid_argument("[[safety.rules]] could not be read", "rules");
  auto specs = safety::parse_rule_specs(array);
  if (!specs) return Error{specs.error().code, "[[safety.rules]]: " + specs.error().message, specs.error().param};
  auto rules = safety::InputRules::build(*specs);
  if (!rules) return Error{rules.error().code, "[[safety.rules]]: " + rules.error().message, rules.error().param};
  auto out = std::make_shared<ContentRules>();
  out->rules_ = std::move(*rules);
  out->metrics_ = metrics;
  return std::shared_ptr<const ContentRules>(std::move(out));
}

Status ContentRules::apply(std::string& text, std::string_view surface, const std::string& param,
                           RequestContext& ctx) const {
  safety::InputCheck c = rules_.check(text, surface);
  std::string last;
  for (const auto& hit : c.hits) {
    const char* action = safety::rule_action_name(hit.action);
    if (hit.rule == last) continue;  // one count per rule and text
    last = hit.rule;
    if (metrics_) metrics_->filter_hit("input", "rule:" + hit.rule, action);
    ctx.add_filter_hit(fmt::format("input:rule:{}:{}", hit.rule, action));
  }
  if (c.blocked) {
    Error e = invalid_argument(
        fmt::format("'{}' was refused by the content rule '{}' of this server ([[safety.rules]])", param, c.blocking_rule),
        param);
    e.type_override = "content_filter";
    return e;
  }
  if (c.text != text) text = std::move(c.text);
  return {};
}

std::unique_ptr<InputHook> make_rules_input_hook(std::shared_ptr<const ContentRules> rules) {
  return std::make_unique<RulesInput>(std::move(rules));
}

bool upload_is_text(std::string_view filename) {
  const std::size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string ext(filename.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* t : {"txt", "text", "md", "markdown", "html", "htm", "csv", "tsv", "json", "jsonl", "xml", "log"}) {
    if (ext == t) return true;
  }
  return false;
}

}  // namespace hearth
