// safety/input_rules: the built-in prompt_injection signals and sql_injection patterns (documented in
// input_rules.h), matched with RE2 on the folded text (lower-case ASCII, one space per whitespace
// run, none next to CJK characters), so the patterns below spell one space as \s and never need
// (?i). Thread-safety: the tables are compiled once (function-local statics) and then only read.
#include <re2/re2.h>

#include <memory>

#include "safety/input_rules.h"
#include "safety/input_scan.h"

namespace hearth::safety::detail {
namespace {

struct Signal {
  const char* name;
  double weight;
  std::string pattern;
};

// A piece of a pattern. constexpr, so that the tables never depend on the order in which
// translation units initialise their globals; + joins pieces and literals into a std::string.
struct Frag {
  std::string_view v;
};
std::string operator+(Frag a, std::string_view b) { return std::string(a.v).append(b); }
std::string operator+(std::string_view a, Frag b) { return std::string(a).append(b.v); }
std::string operator+(Frag a, Frag b) { return std::string(a.v).append(b.v); }

// ---- prompt injection, English ----
// "override"/"bypass" are everyday words in technical text ("override the default rules"), so they
// count as strong only before "your" (override_your_rules).
constexpr Frag kVerb{R"((?:ignore|disregard|forget|discard|abandon))"};
constexpr Frag kStrongQual{
    R"((?:all|any|every|previous|prior|above|earlier|preceding|foregoing|former|original|initial|your|system|)"
    R"(safety|developer|these|those|above-mentioned))"};
constexpr Frag kQual{
    // kStrongQual and weaker words
    R"((?:all|any|every|previous|prior|above|earlier|preceding|foregoing|former|original|initial|your|system|)"
    R"(safety|developer|these|those|above-mentioned|the|of|and|other|given|old|existing|current|default))"};
constexpr Frag kNoun{
    R"((?:instructions?|prompts?|rules|directives?|directions|guidelines|guardrails|constraints|restrictions|)"
    R"(programming|policies|policy|context|commands|safeguards|filters|system\sprompt|training))"};
constexpr Frag kPromptNoun{
    R"((?:system\s?(?:prompt|message|instructions?)|(?:initial|original|hidden|secret|internal|confidential)\s)"
    R"((?:prompt|instructions)|)"
    R"(pre-?prompt))"};
constexpr Frag kAdj{
    R"((?:(?:full|entire|exact|original|initial|hidden|secret|complete|whole|real|internal|confidential|first)\s)*)"};
constexpr Frag kRevealVerb{
    R"((?:reveal|print|show|display|output|repeat|leak|dump|expose|disclose|recite|share|tell\sme|give\sme|)"
    R"(write\sout|type\sout|spell\sout|paste|copy))"};
constexpr Frag kLimitNoun{
    R"((?:restrictions?|rules|limits|limitations|filters?|guidelines|guardrails|constraints|censorship|ethics|)"
    R"(morals|boundaries|policies|policy))"};

// The start of a line. The folded text drops a line break next to a CJK character (so that a
// phrase wrapped across lines still matches), so a line may also start right after one.
constexpr Frag kLineStart{R"((?:^|\n|[^\x00-\x7f]))"};

std::vector<Signal> english_strong_signals() {
  return {
      {"ignore_instructions", 1.0,
       R"(\b)" + kVerb + R"(\s(?:)" + kQual + R"(\s){0,4})" + kStrongQual + R"(\s(?:)" + kQual + R"(\s){0,4})" + kNoun +
           R"(\b)"},
      {"override_your_rules", 1.0,
       R"(\b(?:override|bypass|circumvent|get\saround)\s(?:all\s)?(?:of\s)?your\s(?:)" + kQual + R"(\s){0,3})" + kNoun +
           R"(\b)"},
      {"forget_everything", 1.0,
       R"(\b(?:ignore|disregard|forget)\s(?:everything|anything|all)\s(?:(?:that\s)?you\s(?:were|have\sbeen|)"
       R"('ve\sbeen)\s)"
       R"((?:told|given|instructed|taught)|(?:that\s)?(?:was\s)?(?:written\s|said\s|stated\s)?(?:above|before|)"
       R"(previously|)"
       R"(so\sfar|prior))\b)"},
      {"ignore_above_and", 1.0,
       R"(\b(?:ignore|disregard)\s(?:all\s)?(?:of\s)?the\s(?:above|previous|preceding),?\s(?:and|then)\s(?:instead\s)?)"
       R"((?:say|print|output|write|respond|reply|tell|translate|answer|do)\b)"},
      {"do_not_follow", 1.0,
       R"(\b(?:do\snot|don't|stop|never|no\slonger)\s(?:follow|obey|adhere\sto|comply\swith|following|obeying|)"
       R"(adhering\sto|complying\swith)\s(?:your|any|all\s(?:your|the)|the\s(?:previous|above|original|system|)"
       R"(safety))\s)"
       R"((?:(?:previous|prior|original|safety|content|system|ethical|moral)\s)*(?:instructions|rules|guidelines|)"
       R"(policies|restrictions|programming|constraints)\b)"},
      {"not_bound_by_rules", 1.0,
       R"(\byou\s(?:are|'re)\s(?:now\s)?(?:no\slonger|not)\s(?:bound|restricted|limited|constrained|governed)\sby\s)"
       R"((?:any\s|your\s|the\s|openai's\s)?(?:(?:previous|original|safety|content|ethical|moral)\s)*(?:rules|)"
       R"(guidelines|)"
       R"(policies|restrictions|filters|programming|instructions|ethics|morals)\b)"},
      // Only a few words may stand between "no" and the noun: "no time limits" is not a jailbreak.
      {"pretend_unrestricted", 1.0,
       R"(\b(?:pretend|imagine|act\sas\sif|behave\sas\sif|suppose|assume)\s(?:that\s)?you\b[^.!?\n]{0,40}?\b(?:no|)"
       R"(without|free\s(?:from|of)|not\sbound\sby|zero|unrestricted|unfiltered|uncensored)\s(?:(?:any|ethical|moral|)"
       R"(content|safety|such|of|the|your|built-in|programmed|usual|typical|ai|openai)\s){0,3})" +
           kLimitNoun + R"(\b)"},
      {"unrestricted_mode", 1.0,
       R"(\byou\s(?:are|'re)\s(?:now\s)?(?:in|running\sin|operating\sin|entering|switched\sto)\s(?:developer|dev|)"
       R"(debug|)"
       R"(god|admin|jailbreak|jailbroken|dan|unrestricted|unfiltered|sudo|root|evil)\smode\b|\b(?:enable|activate|)"
       R"(enter|switch\sto|unlock|turn\son)\s(?:the\s)?(?:jailbreak|dan|god|unrestricted|unfiltered|evil)\smode\b|)"
       R"(\b(?:simulate|emulate)\s(?:the\s|a\s)?(?:developer|dev|jailbreak|dan|god|unrestricted|unfiltered|)"
       R"(evil)\smode\b)"},
      {"dan", 1.0,
       R"(\b(?:you\s(?:are|'re|will\sbe)\s(?:now\s)?(?:a\s)?dan\b|(?:act|respond|answer|reply|speak|talk|behave|)"
       R"(stay\sin\scharacter)\s(?:only\s)?as\s(?:a\s)?dan\b|do\sanything\snow\b))"},
      {"reveal_system_prompt", 1.0,
       R"(\b)" + kRevealVerb + R"(\s(?:me\s|us\s)?(?:all\s)?(?:of\s)?your\s)" + kAdj + R"((?:)" + kPromptNoun +
           R"(|prompt)\b)"},
      {"ask_system_prompt", 1.0, R"(\bwhat(?:'s|\sis|\sare|\swas|\swere)\syour\s)" + kAdj + kPromptNoun + R"(\b)"},
      {"im_start_system", 1.0, R"(<\|im_start\|>\s?(?:system|assistant|developer)\b)"},
      {"markdown_system_header", 1.0,
       kLineStart + R"(\s?#{2,6}\s?(?:system|system\sprompt|system\smessage|new\s(?:system\s)?instructions?|admin|)"
                    R"(developer)\s?:)"},
  };
}

std::vector<Signal> english_weak_signals() {
  return {
      {"ignore_above", 0.6,
       R"(\b(?:ignore|disregard)\s(?:all\s)?(?:of\s)?the\s(?:above|previous|preceding)(?:\s?[.,:;!]|$))"},
      {"chat_template_token", 0.6,
       R"(<\|(?:im_start|im_end|im_sep|system|assistant|endoftext|start_header_id|end_header_id|eot_id|)"
       R"(begin_of_text)\|>|<<\s?/?sys\s?>>)"},
      {"inst_open", 0.6, R"(\[inst\])"},
      {"unrestricted_ai", 0.6,
       R"(\b(?:unrestricted|unfiltered|uncensored|jailbroken|amoral|unaligned)\s(?:ai|model|assistant|chatbot|llm|)"
       R"(bot|version)\b)"},
      {"mode_enabled", 0.6,
       R"(\b(?:developer|dev|god|jailbreak|dan|unrestricted|sudo)\smode\s?:?\s(?:is\s)?(?:now\s)?(?:enabled|)"
       R"(activated|on|unlocked)\b)"},
      {"repeat_text_above", 0.6,
       R"(\b(?:repeat|print|output|copy|recite|write)\s(?:out\s)?(?:all\s)?(?:of\s)?(?:the\s)?(?:words|text|)"
       R"(everything|)"
       R"(lines|content|instructions|sentences)\s(?:above|before\sthis|preceding|prior\sto\sthis)\b)"},
      {"instructions_you_were_given", 0.6,
       R"(\b(?:instructions|rules|prompt|guidelines)\s(?:that\s)?you\s(?:were|have\sbeen|'ve\sbeen)\s(?:given|told|)"
       R"(provided|programmed))"},
      {"freed_from_rules", 0.6,
       R"(\b(?:freed?|released|liberated|broken\sfree|break\sfree)\sfrom\s(?:the\s|your\s|all\s|any\s)?(?:\w+\s)?)"
       R"((?:confines|restrictions|rules|limitations|shackles|chains|guidelines|filters)\b)"},
      {"disable_filters", 0.6,
       R"(\b(?:disable|turn\soff|remove|deactivate|bypass)\s(?:your\s|the\s|all\s)?(?:content\s|safety\s)?(?:filters?|)"
       R"(filtering|moderation|safeguards|guardrails|censorship)\b)"},
      {"ignore_rules_loosely", 0.5,
       R"(\b(?:ignore|disregard|forget|override|bypass)\s(?:[^\s.!?]+\s){0,3}?(?:instructions?|prompts?|rules|)"
       R"(guidelines|guardrails|restrictions|directives?|system\sprompt)\b)"},
      {"show_the_system_prompt", 0.5,
       R"(\b(?:reveal|print|show|display|output|repeat|leak|dump|expose|disclose|recite)\s(?:me\s)?the\s)" + kAdj +
           kPromptNoun + R"(\b)"},
      {"inst_close", 0.5, R"(\[/inst\])"},
      {"system_line", 0.5,
       kLineStart + R"(\s?\[?(?:system|developer)(?:\s(?:message|prompt|override|note|instruction))?\]?\s?:)"},
      {"system_tag", 0.5, R"(</?(?:system|system_prompt|sys|instructions?)>)"},
      {"close_role_tag", 0.5, R"(</(?:user|human|assistant|input|context|document)>)"},
      {"claims_developer", 0.5,
       R"(\bi(?:'m|\sam)\syour\s(?:developer|creator|admin|administrator|owner|programmer|maker)\b)"},
      {"new_instructions", 0.5, R"(\b(?:new|updated|real|actual|true|revised)\s(?:system\s)?instructions?\s?:)"},
      {"jailbreak", 0.5, R"(\bjail\s?break(?:s|ing|ed)?\b|\bjailbroken\b)"},
      {"you_are_now", 0.4, R"(\b(?:you\s(?:are|'re)\snow|from\snow\son,?\s(?:you|your))\b)"},
      {"no_restrictions", 0.4,
       R"(\b(?:no|without\s(?:any\s)?|free\s(?:from|of)\s(?:any\s)?)\s?(?:of\s)?(?:your\s|the\s)?(?:usual\s|normal\s|)"
       R"(typical\s|current\s)?(?:ethical\s|moral\s|content\s|safety\s)?(?:restrictions|limitations|filters|)"
       R"(filtering|censorship|guardrails)\b)"},
      {"no_ethics", 0.6,
       R"(\b(?:no\s|without\s(?:any\s)?|free\s(?:from|of)\s(?:any\s)?)(?:ethics|morals|moral\scompass|ethical\s)"
       R"((?:guidelines|constraints|limits|boundaries))\b)"},
      {"unrestricted_identity", 0.6,
       R"(\b(?:as|you\sare|you're)\san?\s(?:ai|assistant|model|chatbot|llm)\s(?:without|with\sno|free\sfrom|)"
       R"(that\shas\sno|)"
       R"(who\shas\sno)\s(?:any\s)?(?:content\s|safety\s|ethical\s)?)" +
           kLimitNoun + R"(\b)"},
      {"never_refuse", 0.6,
       R"(\b(?:never|don't|do\snot|cannot|can't|won't|will\snot|must\snot)\s(?:ever\s)?(?:refuses?|declines?)\b|)"
       R"(\bno\srefusals?\b|)"
       R"(\bwithout\s(?:refusing|refusal))"},
      {"instructions_were_fake", 0.6,
       R"(\b(?:previous|above|prior|earlier|original)\s(?:instructions|prompt|rules)\s(?:were|are|was|)"
       R"(is)\s(?:just\s|only\s)?)"
       R"((?:a\stest|fake|false|void|cancelled|canceled|wrong|invalid|outdated|obsolete|a\sjoke)\b)"},
      {"fake_delimiter", 0.5,
       R"(\bend\sof\s(?:the\s)?(?:user\s)?(?:input|prompt|document|context|conversation|instructions)\b)"},
      {"new_task", 0.5,
       R"(\byour\s(?:real|actual|true|new|only)\s(?:task|goal|job|mission|instructions?|purpose|role)\s?(?:is|are|:|)"
       R"(now))"},
      {"system_prompt_mention", 0.4, R"(\b(?:the|your)\ssystem\s(?:prompt|message)\b)"},
      {"verbatim", 0.4, R"(\bverbatim\b|\bword\sfor\sword\b)"},
  };
}

// ---- prompt injection, Chinese (simplified and traditional forms) ----
constexpr Frag kZhVerb{
    R"((?:忽略|忽视|忽視|无视|無視|不要理会|不要理會|不用理会|不用理會|别管|別管|忘记|忘記|忘掉|抛开|拋開|抛弃|拋棄|)"
    R"(放弃|放棄|跳过|跳過|绕过|繞過|撇开|撇開|推翻|覆盖|覆蓋|丢弃|丟棄)(?:掉)?)"};
constexpr Frag kZhStrongQual{
    R"((?:你的|您的|你|您|之前|以前|先前|此前|前面|上面|以上|上述|原来|原來|原先|原有|原始|初始|所有|全部|一切|任何|)"
    R"(系统|系統|这些|這些|那些|收到的|得到的|被设定的|被設定的|设定的|設定的|给你的|給你的|对你的|對你的))"};
constexpr Frag kZhQual{
    // kZhStrongQual, 的 and who gave the rules
    R"((?:你的|您的|你|您|之前|以前|先前|此前|前面|上面|以上|上述|原来|原來|原先|原有|原始|初始|所有|全部|一切|任何|)"
    R"(系统|系統|这些|這些|那些|收到的|得到的|被设定的|被設定的|设定的|設定的|给你的|給你的|对你的|對你的|)"
    R"(开发者|開發者|开发人员|開發人員|官方|管理员|管理員|的))"};
constexpr Frag kZhNoun{
    R"((?:指令|指示|提示词|提示詞|提示|规则|規則|规定|規定|设定|設定|限制|约束|約束|要求|命令|准则|準則|守则|守則|)"
    R"(政策|规范|規範|安全策略|系统提示|系統提示))"};
constexpr Frag kZhLimit{R"((?:限制|约束|約束|规则|規則|道德|伦理|倫理|审查|審查|过滤|過濾|底线|底線|束缚|束縛))"};
constexpr Frag kZhNo{R"((?:没有|沒有|不受|无|無|毫无|毫無|不存在|摆脱了?|擺脫了?|去除了?))"};
constexpr Frag kZhPromptNoun{
    R"((?:系统提示词?|系統提示詞?|系统指令|系統指令|系统消息|系統消息|系统设定|系統設定|初始指令|初始提示词?|)"
    R"(初始提示詞|隐藏指令|隱藏指令|预设指令|預設指令|提示词|提示詞|system\s?prompt))"};

std::vector<Signal> chinese_strong_signals() {
  return {
      {"zh_ignore_instructions", 1.0,
       kZhVerb + "(?:" + kZhQual + "){0,4}" + kZhStrongQual + "(?:" + kZhQual + "){0,4}" + kZhNoun},
      {"zh_do_not_follow", 1.0,
       R"((?:不要|不必|不用|不需要|不需|无需|無需|无须|無須|别再|別再|停止|不再)(?:再)?(?:遵守|遵循|服从|服從|理会|理會|受|执行|執行))"
       R"((?:你的|您的|任何|所有|之前的|原来的|原來的|系统的|系統的)[^,.!?。\n]{0,6}?(?:规则|規則|限制|约束|約束|)"
       R"(指令|准则|準則|设定|設定|政策|道德|伦理|倫理|规范|規範))"},
      {"zh_roleplay_unrestricted", 1.0,
       R"((?:扮演|假装|假裝|装作|裝作|假设你是|假設你是|模拟|模擬|充当|充當|成为|成為|变成|變成|作为|作為|)"
       R"(你(?:现在|現在|从现在开始|從現在開始)?(?:是|就是|将是|將是))(?:一个|一個|一名|一位|个|個)?(?:完全)?)" +
           kZhNo + R"((?:任何)?(?:的)?)" + kZhLimit},
      {"zh_unrestricted_mode", 1.0,
       R"((?:进入|進入|开启|開啟|启用|啟用|打开|打開|切换到|切換到|激活|处于|處於)(?:了)?(?:越狱|越獄|无限制|無限制|)"
       R"(上帝|dan|不受限|解锁|解鎖|邪恶|邪惡)模式|你(?:现在|現在|已经|已經|将|將)?(?:处于|處於|进入了?|進入了?|在|)"
       R"(切换到|切換到)(?:开发者|開發者|开发人员|開發人員|调试|調試|管理员|管理員|越狱|越獄|无限制|無限制|dan)模式)"},
      {"zh_reveal_system_prompt", 1.0,
       R"((?:输出|輸出|打印|显示|顯示|告诉我|告訴我|泄露|洩露|透露|给出|給出|展示|复述|複述|重复|重複|说出|說出|)"
       R"(公开|公開|列出|给我看|給我看|发给我|發給我|写出|寫出|背诵|背誦)(?:一下|一遍)?(?:你|您)(?:最初|一开始|一開始)?)"
       R"((?:的|收到的|被设定的|最初的)?(?:完整|全部|原始|初始|最初|隐藏|隱藏|内部|內部|秘密)?(?:的)?)" +
           kZhPromptNoun},
      {"zh_ask_system_prompt", 1.0,
       R"(你(?:的|收到的|被设定的)(?:系统提示词?|系統提示詞?|系统指令|系統指令|初始指令|初始提示词?|提示词|提示詞|)"
       R"(system\s?prompt)(?:是什么|是什麼|是啥|内容|內容|原文|全文))"},
      {"zh_repeat_what_you_received", 1.0,
       R"((?:输出|輸出|打印|复述|複述|重复|重複|告诉我|告訴我|显示|顯示|给我看|給我看|说出|說出)(?:一下|一遍)?(?:你|您))"
       R"((?:最初|一开始|一開始|刚才|剛才)?(?:收到|接收到|得到|看到)的)"},
      {"zh_ba_reveal", 1.0,
       R"(把(?:你的|您的|你|您|上面的?|以上的?|前面的?|之前的?)(?:完整的?|全部的?|原始的?|初始的?|隐藏的?|隱藏的?)?)" +
           kZhPromptNoun +
           R"(.{0,8}?(?:发给我|發給我|告诉我|告訴我|输出|輸出|打印|复述|複述|显示|顯示|给我看|給我看|贴出来|貼出來|)"
           R"(写出来|寫出來|说出来|說出來|发出来|發出來|给我|給我))"},
  };
}

std::vector<Signal> chinese_weak_signals() {
  return {
      {"zh_unrestricted_mode_named", 0.6, R"((?:越狱|越獄|无限制|無限制|不受限|上帝|dan)模式)"},
      {"zh_disable_filters", 0.6,
       R"((?:关闭|關閉|禁用|取消|解除|移除|去掉|绕过|繞過)(?:你的|所有的?)?(?:内容|內容|安全)?(?:过滤|過濾|审查|審查|)"
       R"(防护|防護))"},
      {"zh_new_task", 0.5, R"(你的(?:新|真正的?|实际的?|實際的?)(?:任务|任務|目标|目標|工作|指令)(?:是|:))"},
      {"zh_no_morals", 0.6,
       R"((?:没有|沒有|不受|毫无|毫無|摆脱|擺脫|抛开|拋開|无视|無視)(?:任何)?(?:的)?(?:道德|伦理|倫理)(?:限制|约束|約束|)"
       R"(底线|底線|准则|準則|观念|觀念)?)"},
      {"zh_ignore_loosely", 0.5, kZhVerb + R"(.{0,8}?(?:指令|指示|提示词|提示詞|规则|規則|限制|设定|設定))"},
      {"zh_ignore_content_above", 0.5,
       kZhVerb + R"((?:以上|上述|上面|前面|之前)(?:的)?(?:所有|全部)?(?:的)?(?:内容|內容|文字|对话|對話|信息|訊息))"},
      {"zh_repeat_above", 0.5,
       R"((?:输出|輸出|打印|显示|顯示|复述|複述|重复|重複)(?:一下|一遍)?(?:以上|上面|前面|之前)(?:的)?(?:所有|全部)?)"
       R"((?:的)?(?:内容|內容|文字|指令|文本))"},
      {"zh_jailbreak", 0.5, R"((?:越狱|越獄))"},
      {"zh_you_are_now", 0.4,
       R"((?:你现在是|你現在是|从现在(?:开始|起),?你|從現在(?:開始|起),?你|你将扮演|你將扮演|你现在扮演|你現在扮演|)"
       R"(你的新身份是|你的新角色是))"},
      {"zh_developer_mode", 0.4, R"((?:开发者|開發者|开发人员|開發人員)模式)"},
      {"zh_no_limits", 0.4,
       R"((?:没有|沒有|不受|毫无|毫無|解除|取消|移除|去掉|去除)(?:任何)?(?:的)?(?:限制|约束|約束|审查|審查|过滤|過濾|)"
       R"(底线|底線))"},
  };
}

// ---- SQL injection ----
// A space, a comment used as one, or '+' (a URL-encoded space).
constexpr Frag kSep{R"((?:\s|\+|/\*[^*]{0,40}\*/))"};
// The end of a quoted value being broken out of: a quote, ')'s, spaces.
constexpr Frag kQuote{R"(['"]\s*\)*(?:\s|\+|/\*[^*]{0,40}\*/)*)"};
constexpr Frag kLit{R"((?:\d+|'[^'\n]{0,24}'|"[^"\n]{0,24}"))"};
constexpr Frag kUnion{R"(union(?:(?:\s|\+|/\*[^*]{0,40}\*/)+(?:all|distinct))?(?:\s|\+|/\*[^*]{0,40}\*/)+select)"};
constexpr Frag kUnionSelect{
    R"(\bunion(?:(?:\s|\+|/\*[^*]{0,40}\*/)+(?:all|distinct))?(?:\s|\+|/\*[^*]{0,40}\*/)+select)"};

std::vector<Signal> sql_signals() {
  const std::string s(kSep.v);
  return {
      {"sql_tautology", 1.0,
       kQuote + R"((?:(?:or|and|xor)\b|\|\||&&))" + s + R"(*\(*)" + s + "*(?:" + kLit + s +
           R"(*(?:=|<>|!=|<=>|>=|<=|>|<|like\b)|true)" + s + R"(*(?:--|#|/\*|;|$)|not)" + s + R"(+false\b))"},
      {"sql_numeric_tautology", 1.0,
       R"(\b(?:or|and))" + s + R"(+\d+)" + s + "*=" + s + R"(*\d+)" + s + R"(*(?:--|#|/\*|;))"},
      {"sql_union_after_quote", 1.0, kQuote + kUnion + R"(\b)"},
      {"sql_union_nulls", 1.0, kUnionSelect + s + "+(?:null" + s + "*," + s + R"(*)*null\b)"},
      {"sql_union_numbers", 1.0,
       kUnionSelect + s + R"(+\d+(?:)" + s + "*," + s + R"(*\d+)*)" + s + R"(*(?:--|#|/\*|;|$))"},
      {"sql_union_recon", 1.0,
       kUnionSelect +
           R"(\b[^;]{0,200}?(?:information_schema|@@version|\bversion\s*\(\s*\)|\buser\s*\(\s*\)|)"
           R"(\bdatabase\s*\(\s*\)|\bgroup_concat\s*\(|\bload_file\s*\(|sqlite_master|pg_shadow|mysql\.user))"},
      {"sql_stacked_after_quote", 1.0,
       kQuote + ";" + s + "*(?:drop" + s + R"(+(?:table|database|schema|user)\b|truncate)" + s + "+(?:table" + s +
           R"(+)?\w|alter)" + s + R"(+(?:table|user)\b|create)" + s + R"(+(?:user|login)\b|grant)" + s +
           R"(+all\b|shutdown\b|exec(?:ute)?)" + s + "+(?:master|xp_|sp_)|declare" + s + "*@)"},
      {"sql_stacked_write", 1.0,
       R"(['"])" + s + "*;" + s + "*(?:delete" + s + "+from|insert" + s + "+into|update" + s + R"(+[\w.\x60"\[\]]+)" +
           s + R"(+set)\b)"},
      {"sql_stacked_after_number", 1.0,
       R"(\b\d+)" + s + "*;" + s + "*(?:drop" + s + R"(+(?:table|database)\b|shutdown\b|exec(?:ute)?)" + s +
           "+(?:master|xp_))"},
      {"sql_comment_after_quote", 1.0, R"(\w['"]\)*(?:--|#)(?:[^\w'"#-]|$)|\w['"]\)*\s--\s*$|\w['"]\)*/\*)"},
      {"sql_time_delay", 1.0,
       R"((?:['"]\s*\)*|\b(?:and|or|xor)\b|;|\|\|))" + s + R"(*\(*)" + s + "*(?:select" + s +
           R"(+)?(?:sleep|pg_sleep|benchmark)\s*\(\s*\d)"},
      {"sql_function_after_quote", 1.0,
       kQuote +
           R"((?:and|or|xor)\b[^;\n]{0,80}?(?:\b(?:sleep|pg_sleep|benchmark)\s*\(\s*\d|\b(?:extractvalue|)"
           R"(updatexml)\s*\())"},
      {"sql_order_by_probe", 1.0, kQuote + "order" + s + "+by" + s + R"(+\d+)" + s + R"(*(?:--|#))"},
      {"sql_waitfor_delay", 1.0, R"((?:['"]\s*\)*|;))" + s + "*waitfor" + s + R"(+delay\b)"},
      {"sql_xp_cmdshell", 1.0,
       R"((?:['"]\s*\)*|;))" + s + "*(?:exec(?:ute)?" + s + R"(+)?(?:master\.(?:dbo)?\.)?xp_cmdshell\b)"},
      {"sql_schema_after_quote", 1.0, kQuote + R"((?:(?:and|or)\b|;|\|\|)[^;\n]{0,160}?\binformation_schema\b)"},
  };
}

struct Table {
  std::vector<Signal> signals;
  std::vector<std::unique_ptr<RE2>> compiled;
  std::vector<std::string> errors;

  explicit Table(std::vector<Signal> s) : signals(std::move(s)) {
    RE2::Options options;
    options.set_encoding(RE2::Options::EncodingUTF8);
    options.set_case_sensitive(true);  // the folded text is lower case already
    options.set_never_capture(true);
    options.set_log_errors(false);
    options.set_max_mem(std::int64_t{8} << 20);
    for (const Signal& sig : signals) {
      compiled.push_back(std::make_unique<RE2>(sig.pattern, options));
      if (!compiled.back()->ok()) errors.push_back(std::string(sig.name) + ": " + compiled.back()->error());
    }
  }
};

std::vector<Signal> prompt_signals() {
  std::vector<Signal> all = english_strong_signals();
  for (Signal& s : english_weak_signals()) all.push_back(std::move(s));
  for (Signal& s : chinese_strong_signals()) all.push_back(std::move(s));
  for (Signal& s : chinese_weak_signals()) all.push_back(std::move(s));
  return all;
}

const Table& table(Heuristic h) {
  static const Table prompt(prompt_signals());
  static const Table sql(sql_signals());
  return h == Heuristic::kPromptInjection ? prompt : sql;
}

}  // namespace

HeuristicResult score_heuristic(Heuristic h, const FoldedText& text) {
  const Table& t = table(h);
  const re2::StringPiece input(text.view().data(), text.view().size());
  HeuristicResult result;
  for (std::size_t i = 0; i < t.compiled.size(); ++i) {
    const RE2& re = *t.compiled[i];
    if (!re.ok() || !re.Match(input, 0, input.size(), RE2::UNANCHORED, nullptr, 0)) continue;
    result.score += t.signals[i].weight;
    result.signals.push_back(i);
  }
  return result;
}

void heuristic_spans(Heuristic h, const FoldedText& text, const std::vector<std::size_t>& signals, std::size_t limit,
                     std::vector<Span>& out) {
  const Table& t = table(h);
  const re2::StringPiece input(text.view().data(), text.view().size());
  std::size_t found = 0;
  for (const std::size_t i : signals) {
    const RE2& re = *t.compiled[i];
    std::size_t pos = 0;
    re2::StringPiece m;
    while (found < limit && pos < input.size() && re.Match(input, pos, input.size(), RE2::UNANCHORED, &m, 1)) {
      const auto begin = static_cast<std::size_t>(m.data() - input.data());
      const std::size_t end = begin + m.size();
      if (end == begin) {  // no built-in pattern matches empty; guard the loop all the same
        pos = begin + 1;
        continue;
      }
      out.push_back(text.to_source(begin, end));
      ++found;
      pos = end;
    }
  }
}

const char* heuristic_signal_name(Heuristic h, std::size_t signal) { return table(h).signals[signal].name; }

std::vector<std::string> heuristic_errors() {
  std::vector<std::string> all = table(Heuristic::kPromptInjection).errors;
  for (const auto& e : table(Heuristic::kSqlInjection).errors) all.push_back(e);
  return all;
}

}  // namespace hearth::safety::detail

namespace hearth::safety {

InjectionScore score_prompt_injection(std::string_view text) {
  const detail::FoldedText folded(text);
  const auto r = detail::score_heuristic(detail::Heuristic::kPromptInjection, folded);
  InjectionScore out;
  out.score = r.score;
  for (const std::size_t i : r.signals)
    out.signals.emplace_back(detail::heuristic_signal_name(detail::Heuristic::kPromptInjection, i));
  return out;
}

std::vector<std::string> find_sql_injection(std::string_view text) {
  const detail::FoldedText folded(text);
  std::vector<std::string> out;
  for (const std::size_t i : detail::score_heuristic(detail::Heuristic::kSqlInjection, folded).signals) {
    out.emplace_back(detail::heuristic_signal_name(detail::Heuristic::kSqlInjection, i));
  }
  return out;
}

}  // namespace hearth::safety
