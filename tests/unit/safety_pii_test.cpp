// safety/pii: per-entity tables (valid values, near misses, boundaries, full-width digits, +86
// forms, grouped cards), the redaction actions, the stream's promise (any split of the input gives
// exactly redact(whole input)) as a property over the labelled set and random mixes, what the
// stream holds back, and precision/recall per entity over tests/data/pii/labelled.jsonl (printed
// as a table by SafetyPiiEval; asserted >= 0.95 for the checksummed entities).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "safety/pii.h"
#include "safety/pii_scan.h"

namespace hearth::safety {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- helpers ----

struct Case {
  std::string text;
  std::vector<std::string> values;  // what find_pii reports for the type, in order
};

std::vector<std::string> found_values(const std::string& text, const std::vector<PiiType>& types) {
  std::vector<std::string> out;
  for (const auto& m : find_pii(text, types)) out.push_back(text.substr(m.begin, m.end - m.begin));
  return out;
}

void expect_table(PiiType type, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(found_values(c.text, {type}), c.values);
  }
}

struct Labelled {
  std::string text;
  std::vector<std::pair<PiiType, std::string>> entities;
};

fs::path labelled_path() {
  std::vector<fs::path> dirs;
#ifdef HEARTH_SOURCE_DIR
  dirs.emplace_back(fs::path(HEARTH_SOURCE_DIR) / "tests" / "data");
#endif
  if (const char* env = std::getenv("HEARTH_SOURCE_DIR"); env && *env) dirs.emplace_back(fs::path(env) / "tests" / "data");
  // This file is tests/unit/safety_pii_test.cpp; CMake compiles it by absolute path.
  dirs.emplace_back(fs::path(__FILE__).parent_path().parent_path() / "data");
  dirs.emplace_back("tests/data");
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(dir / "pii" / "labelled.jsonl", ec)) return dir / "pii" / "labelled.jsonl";
  }
  return {};
}

const std::vector<Labelled>& labelled() {
  static const std::vector<Labelled> rows = [] {
    std::vector<Labelled> out;
    std::ifstream in(labelled_path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const json j = json::parse(line);
      Labelled row{j.at("text").get<std::string>(), {}};
      for (const auto& e : j.at("entities")) {
        const auto type = pii_type_from_name(e.at("type").get<std::string>());
        if (!type) throw std::runtime_error("unknown type in labelled.jsonl: " + e.dump());
        row.entities.emplace_back(*type, e.at("value").get<std::string>());
      }
      out.push_back(std::move(row));
    }
    return out;
  }();
  return rows;
}

// ---- names ----

TEST(SafetyPii, TypeNamesRoundTrip) {
  for (const PiiType t : all_pii_types()) EXPECT_EQ(pii_type_from_name(pii_type_name(t)), t);
  EXPECT_STREQ(pii_type_name(PiiType::kCnResidentId), "cn_resident_id");
  EXPECT_STREQ(pii_type_name(PiiType::kIpv6), "ipv6");
  EXPECT_FALSE(pii_type_from_name("phone").has_value());
  EXPECT_EQ(all_pii_types().size(), 8u);
}

// ---- entity tables ----

TEST(SafetyPii, ResidentId) {
  expect_table(PiiType::kCnResidentId, {
      {"身份证440306198507120013", {"440306198507120013"}},
      {"id: 11010519491231002X.", {"11010519491231002X"}},
      {"11010519491231002x", {"11010519491231002x"}},                 // lower-case check character
      {"号320106200002291230的", {"320106200002291230"}},             // 29 February 2000
      {"４４０３０６１９８５０７１２００１３", {"４４０３０６１９８５０７１２００１３"}},  // full-width
      {"a 440306198507120013 b 510107199901015674", {"440306198507120013", "510107199901015674"}},
      {"身份证 440306 19850712 0013。", {"440306 19850712 0013"}},  // written 6-8-4
      {"440306-19850712-0013", {"440306-19850712-0013"}},
      {"440306 19850712-0013", {}},   // mixed separators
      {"440306 19850712 0013 5", {}},  // part of a longer list of groups
      {"7 440306 19850712 0013", {}},
      {"4403061 9850712 0013", {}},
      {"440306198507120014", {}},   // check character
      {"44030619851312001X", {}},   // month 13 (check character right)
      {"440306199902290017", {}},   // 29 February 1999
      {"440306198502300015", {}},   // 30 February
      {"440306189901010010", {}},   // born before 1900
      {"440306209901010016", {}},   // born in the future
      {"990306198507120010", {}},   // no province 99
      {"000306198507120011", {}},
      {"1440306198507120013", {}},  // inside a longer digit run
      {"4403061985071200139", {}},
      {"A440306198507120013", {}},
      {"440306198507120013B", {}},
      {"44030619850712001", {}},
  });
}

TEST(SafetyPii, Mobile) {
  expect_table(PiiType::kCnMobile, {
      {"13812345678", {"13812345678"}},
      {"电话13812345678。", {"13812345678"}},
      {"+8613812345678", {"+8613812345678"}},
      {"tel +86 13812345678", {"+86 13812345678"}},
      {"+86-138-1234-5678", {"+86-138-1234-5678"}},
      {"0086 13812345678", {"0086 13812345678"}},
      {"8613812345678", {"8613812345678"}},
      {"call 138 1234 5678 now", {"138 1234 5678"}},
      {"138-1234-5678", {"138-1234-5678"}},
      {"手机：１３８１２３４５６７８", {"１３８１２３４５６７８"}},
      {"＋８６ １３８－１２３４－５６７８", {"＋８６ １３８－１２３４－５６７８"}},
      {"19912345678 and 16612345678", {"19912345678", "16612345678"}},
      {"12812345678", {}},             // second digit 2
      {"1381234567", {}},              // 10 digits
      {"138123456789", {}},            // 12 digits
      {"订单20240506123", {}},
      {"99913812345678", {}},          // inside a longer digit run
      {"a13812345678", {}},
      {"13812345678b", {}},
      {"138-1234 5678", {}},           // mixed separators
      {"138 1234 5678 9", {}},         // a longer list of groups
      {"12 138 1234 5678", {}},
      {"138  1234  5678", {}},         // double spaces
  });
}

TEST(SafetyPii, BankCard) {
  expect_table(PiiType::kBankCard, {
      {"6222021234567890128", {"6222021234567890128"}},  // UnionPay, 19 digits
      {"6228480012345671", {"6228480012345671"}},
      {"visa 4111111111111111.", {"4111111111111111"}},
      {"4111 1111 1111 1111", {"4111 1111 1111 1111"}},
      {"4111-1111-1111-1111", {"4111-1111-1111-1111"}},
      {"6222 0212 3456 7890 128", {"6222 0212 3456 7890 128"}},
      {"5555555555554444", {"5555555555554444"}},
      {"2221000000000009", {"2221000000000009"}},
      {"amex 378282246310005", {"378282246310005"}},
      {"3782 822463 10005", {"3782 822463 10005"}},
      {"3528000000000007", {"3528000000000007"}},
      {"卡号４１１１１１１１１１１１１１１１", {"４１１１１１１１１１１１１１１１"}},
      {"4111111111111112", {}},        // Luhn
      {"1234567812345670", {}},        // Luhn fine, no known network
      {"41111111111111111", {}},       // Visa has no 17-digit cards
      {"41111111111111111111", {}},    // 20 digits
      {"x4111111111111111", {}},
      {"4111 1111 1111 1111 1", {}},   // 17 digits
      {"4111 1111-1111 1111", {}},     // mixed separators
      {"4111 11111 1111 111", {}},     // not groups of 4
      {"9 4111 1111 1111 1111 2", {}},
  });
}

TEST(SafetyPii, Uscc) {
  expect_table(PiiType::kCnUscc, {
      {"统一社会信用代码：91350100M000100Y43", {"91350100M000100Y43"}},
      {"91110108MA01ABCD1E", {"91110108MA01ABCD1E"}},
      {"12100000400000123X", {"12100000400000123X"}},
      {"Y14403001234567893", {"Y14403001234567893"}},
      {"９１３５０１００Ｍ０００１００Ｙ４３", {"９１３５０１００Ｍ０００１００Ｙ４３"}},
      {"91350100M000100Y44", {}},   // check character
      {"91350100M000100Y4", {}},    // 17 characters
      {"91350100M000100Y433", {}},  // 19
      {"91350100m000100Y43", {}},   // lower case is not the code's alphabet
      {"X91350100M000100Y43", {}},
  });
}

TEST(SafetyPii, PassportNeedsAContextWord) {
  expect_table(PiiType::kPassport, {
      {"护照号码：E12345678", {"E12345678"}},
      {"Passport No. G12345678", {"G12345678"}},
      {"my passport is EA1234567, thanks", {"EA1234567"}},
      {"PASSPORT E98765432", {"E98765432"}},
      {"護照 G00000001", {"G00000001"}},
      {"E12345678 is my passport number", {"E12345678"}},  // the word may follow
      {"G12345678（护照）", {"G12345678"}},
      {"订单号E12345678", {}},                       // no context word: an order number
      {"E12345678" + std::string(33, ' ') + "passport", {}},
      {"Invoice G12345678", {}},
      {"护照E1234567", {}},                          // 7 digits
      {"护照 EI1234567", {}},                        // I is never used
      {"护照 G123456789", {}},
      {"护照 E12345678X", {}},
      {"护照" + std::string(40, ' ') + "E12345678", {}},  // the word is too far away
  });
}

TEST(SafetyPii, Email) {
  expect_table(PiiType::kEmail, {
      {"john.smith@example.com", {"john.smith@example.com"}},
      {"请联系zhang_wei@qq.com。", {"zhang_wei@qq.com"}},
      {"mail a@b.co.", {"a@b.co"}},
      {"sales+cn@mail.example.org", {"sales+cn@mail.example.org"}},
      {"123456789@qq.com", {"123456789@qq.com"}},
      {"<x@example.com.cn>", {"x@example.com.cn"}},
      {"邮箱 wang＠example．cn。", {"wang＠example．cn"}},  // full-width signs
      {"admin@localhost", {}},
      {"a@b", {}},
      {"a@b.c", {}},                // one-letter TLD
      {"x@example.com2", {}},
      {"a@-b.com", {}},
      {"@example.com", {}},
      {std::string(65, 'a') + "@example.com", {}},  // local part over 64
      {std::string(64, 'a') + "@example.com", {std::string(64, 'a') + "@example.com"}},
  });
}

TEST(SafetyPii, Ipv4) {
  expect_table(PiiType::kIpv4, {
      {"192.168.1.1", {"192.168.1.1"}},
      {"IP:10.0.0.1。", {"10.0.0.1"}},
      {"0.0.0.0 and 255.255.255.255", {"0.0.0.0", "255.255.255.255"}},
      {"http://10.0.0.1:8080/x", {"10.0.0.1"}},
      {"10.0.0.0/8", {"10.0.0.0"}},
      {"server 8.8.8.8.", {"8.8.8.8"}},
      {"256.1.1.1", {}},
      {"1.2.3.4.5", {}},
      {"v1.2.3.4", {}},
      {"1.2.3", {}},
      {"01.2.3.4", {}},
      {"192.168.001.1", {}},
      {"1.2.3.4a", {}},
      {"2024.05.06", {}},
  });
}

TEST(SafetyPii, Ipv6) {
  expect_table(PiiType::kIpv6, {
      {"2001:db8::1", {"2001:db8::1"}},
      {"fe80::1", {"fe80::1"}},
      {"::1", {"::1"}},
      {"1:2:3:4:5:6:7:8", {"1:2:3:4:5:6:7:8"}},
      {"::ffff:192.168.1.1", {"::ffff:192.168.1.1"}},
      {"[2001:db8::8a2e:370:7334]:443", {"2001:db8::8a2e:370:7334"}},
      {"prefix fe80:: only", {"fe80::"}},
      {"12:30:45", {}},
      {"00:1a:2b:3c:4d:5e", {}},
      {"1::2::3", {}},
      {"12345::1", {}},
      {"std::string", {}},
      {"::", {}},
      {"1:2:3:4:5:6:7:8:9", {}},
      {"a:b:c", {}},
  });
}

TEST(SafetyPii, OverlapsGoToTheLongestMatch) {
  const std::string text = "QQ邮箱13812345678@qq.com，手机13812345678";
  const auto all = find_pii(text);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].type, PiiType::kEmail);
  EXPECT_EQ(all[1].type, PiiType::kCnMobile);
  EXPECT_EQ(found_values(text, {PiiType::kCnMobile}), (std::vector<std::string>{"13812345678", "13812345678"}));
  // An IPv4 tail inside an IPv6 address belongs to the IPv6 address.
  EXPECT_EQ(found_values("::ffff:10.0.0.1", all_pii_types()), (std::vector<std::string>{"::ffff:10.0.0.1"}));
  // Offsets are bytes in the original text.
  const auto m = find_pii("手机１３８１２３４５６７８");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].begin, 6u);
  EXPECT_EQ(m[0].end, 6u + 33u);
}

TEST(SafetyPii, Validators) {
  EXPECT_TRUE(detail::resident_id_check_ok("11010519491231002X"));
  EXPECT_TRUE(detail::resident_id_check_ok("11010519491231002x"));
  EXPECT_FALSE(detail::resident_id_check_ok("110105194912310021"));
  EXPECT_TRUE(detail::luhn_ok("4111111111111111"));
  EXPECT_FALSE(detail::luhn_ok("4111111111111112"));
  EXPECT_TRUE(detail::uscc_check_ok("91350100M000100Y43"));
  EXPECT_FALSE(detail::uscc_check_ok("91350100M000100Y4I"));
}

// ---- redaction ----

TEST(SafetyPii, MaskKeepsAFewCharacters) {
  const auto policy = redact_all(PiiAction::kMask);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"身份证110105194912310021号", "身份证110105194912310021号"},  // invalid: untouched
      {"身份证11010519491231002X号", "身份证110***********002X号"},
      {"13812345678", "138****5678"},
      {"+86 138 1234 5678", "+86 138 **** 5678"},
      {"4111 1111 1111 1111", "4111 **** **** 1111"},
      {"91350100M000100Y43", "9135**********0Y43"},
      {"passport E12345678", "passport E*****678"},
      {"john.smith@example.com", "j***@example.com"},
      {"192.168.1.20", "192.168.*.*"},
      {"2001:db8:85a3::8a2e:370:7334", "2001:db8:*"},
      {"手机１３８１２３４５６７８", "手机１３８****５６７８"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(redact(in, policy).text, want) << in;
}

TEST(SafetyPii, PlaceholderHashAndBlock) {
  const std::string text = "call 13812345678 or mail john.smith@example.com";
  EXPECT_EQ(redact(text, redact_all(PiiAction::kPlaceholder)).text, "call [CN_MOBILE] or mail [EMAIL]");
  // First 12 hex digits of HMAC-SHA256("k", canonical value), computed independently (Python hmac).
  EXPECT_EQ(redact(text, redact_all(PiiAction::kHash, "k")).text,
            "call [CN_MOBILE:c365caf352e3] or mail [EMAIL:34f256458a53]");
  // Other spellings of one number hash alike; another secret hashes differently.
  EXPECT_EQ(redact("+86 138-1234-5678", redact_all(PiiAction::kHash, "k")).text, "[CN_MOBILE:c365caf352e3]");
  EXPECT_EQ(redact("１３８１２３４５６７８", redact_all(PiiAction::kHash, "k")).text, "[CN_MOBILE:c365caf352e3]");
  EXPECT_NE(redact(text, redact_all(PiiAction::kHash, "other")).text,
            redact(text, redact_all(PiiAction::kHash, "k")).text);

  RedactionPolicy policy;
  policy.actions[PiiType::kEmail] = PiiAction::kMask;
  policy.actions[PiiType::kCnMobile] = PiiAction::kBlock;
  const Redacted r = redact(text, policy);
  EXPECT_TRUE(r.blocked);
  EXPECT_EQ(r.blocked_by, PiiType::kCnMobile);
  EXPECT_EQ(r.text, "call [CN_MOBILE] or mail j***@example.com");  // a blocked value never leaks either
  ASSERT_EQ(r.matches.size(), 2u);
  EXPECT_EQ(r.matches[0], (PiiMatch{PiiType::kCnMobile, 5, 16}));
  EXPECT_EQ(r.matches[1], (PiiMatch{PiiType::kEmail, 25, 47}));
}

TEST(SafetyPii, OnlyThePolicysTypesAreTouched) {
  const std::string text = "call 13812345678 or mail john.smith@example.com";
  EXPECT_EQ(redact(text, RedactionPolicy{}).text, text);
  RedactionPolicy policy;
  policy.actions[PiiType::kEmail] = PiiAction::kPlaceholder;
  const Redacted r = redact(text, policy);
  EXPECT_EQ(r.text, "call 13812345678 or mail [EMAIL]");
  EXPECT_FALSE(r.blocked);
  EXPECT_EQ(r.matches.size(), 1u);
}

// ---- the stream ----

struct StreamRun {
  std::string text;
  std::vector<PiiMatch> matches;
  bool blocked = false;
};

// `text` through a StreamRedactor, cut at `cuts` (sorted byte offsets; repeats make empty chunks).
StreamRun stream_run(std::string_view text, const std::vector<std::size_t>& cuts, const RedactionPolicy& policy) {
  StreamRedactor s(policy);
  StreamRun out;
  std::size_t prev = 0;
  for (const std::size_t cut : cuts) {
    out.text += s.push(text.substr(prev, cut - prev));
    prev = cut;
  }
  out.text += s.push(text.substr(prev));
  out.text += s.finish();
  out.matches = s.matches();
  out.blocked = s.blocked();
  return out;
}

std::vector<std::size_t> random_cuts(std::size_t n, std::mt19937& rng) {
  std::vector<std::size_t> cuts(std::uniform_int_distribution<std::size_t>(0, std::min<std::size_t>(n, 16))(rng));
  for (auto& c : cuts) c = std::uniform_int_distribution<std::size_t>(0, n)(rng);
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

std::vector<std::size_t> every_byte(std::size_t n) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < n; ++i) cuts.push_back(i);
  return cuts;
}

RedactionPolicy random_policy(std::mt19937& rng) {
  RedactionPolicy policy;
  policy.hash_secret = "stream-test";
  for (const PiiType t : all_pii_types()) {
    const int a = std::uniform_int_distribution<int>(0, 4)(rng);
    if (a < 4) policy.actions[t] = static_cast<PiiAction>(a);  // 4: the type is not looked for
  }
  return policy;
}

std::string show_cuts(const std::vector<std::size_t>& cuts) {
  std::string s;
  for (const auto c : cuts) s += std::to_string(c) + " ";
  return s;
}

::testing::AssertionResult stream_equals_whole(const std::string& text, const std::vector<std::size_t>& cuts,
                                               const RedactionPolicy& policy) {
  const Redacted whole = redact(text, policy);
  const StreamRun s = stream_run(text, cuts, policy);
  if (s.text != whole.text || s.matches != whole.matches || s.blocked != whole.blocked) {
    return ::testing::AssertionFailure() << "text: " << text << "\ncuts: " << show_cuts(cuts) << "\nstream: " << s.text
                                         << "\nwhole:  " << whole.text << "\nmatches " << s.matches.size() << " vs "
                                         << whole.matches.size();
  }
  return ::testing::AssertionSuccess();
}

TEST(SafetyPiiStream, AnySplitOfTheLabelledSetGivesTheWholeResult) {
  ASSERT_FALSE(labelled().empty());
  std::mt19937 rng(24);
  const RedactionPolicy mask = redact_all(PiiAction::kMask);
  for (const auto& row : labelled()) {
    const RedactionPolicy policy = random_policy(rng);
    ASSERT_TRUE(stream_equals_whole(row.text, random_cuts(row.text.size(), rng), policy));
    ASSERT_TRUE(stream_equals_whole(row.text, every_byte(row.text.size()), mask));
    // No value that redact() finds survives, however the text was cut.
    const StreamRun s = stream_run(row.text, random_cuts(row.text.size(), rng), mask);
    for (const auto& m : redact(row.text, mask).matches) {
      EXPECT_EQ(s.text.find(row.text.substr(m.begin, m.end - m.begin)), std::string::npos) << row.text;
    }
  }
}

// Texts made of Chinese, English, PII values, near misses, digits, separators and invalid UTF-8.
std::string random_mix(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {
      "你好", "身份证", "手机号码是", "，", "。", "护照号码", "邮箱：", "的", "请联系", "Ｅ", "１３８", "\n", " ", " ", "-",
      "hello", "call me at ", "passport ", "Email: ", " and ", "version ", "@", ".", ":", "::", "+86", "0086 ", "x",
      "X",
      "11010519491231002X", "13812345678", "138 1234 5678", "4111 1111 1111 1111", "6222021234567890128",
      "91350100M000100Y43", "E12345678", "G1234567", "john.smith@example.com", "a@b", "192.168.1.1", "1.2.3.4.5",
      "fe80::1", "2001:db8::8a2e:370:7334", "12:30:45", "\xff", "\xe4\xbd", "\xc3", "\xed\xa0\x80", "😀"};
  std::string out;
  const int n = std::uniform_int_distribution<int>(1, 30)(rng);
  for (int i = 0; i < n; ++i) {
    if (std::uniform_int_distribution<int>(0, 5)(rng) == 0) {
      const int digits = std::uniform_int_distribution<int>(1, 20)(rng);
      for (int d = 0; d < digits; ++d) out += static_cast<char>('0' + std::uniform_int_distribution<int>(0, 9)(rng));
    } else {
      out += kPieces[std::uniform_int_distribution<std::size_t>(0, kPieces.size() - 1)(rng)];
    }
  }
  return out;
}

TEST(SafetyPiiStream, AnySplitOfRandomMixesGivesTheWholeResult) {
  std::mt19937 rng(2024);
  for (int i = 0; i < 1500; ++i) {
    const std::string text = random_mix(rng);
    const RedactionPolicy policy = random_policy(rng);
    ASSERT_TRUE(stream_equals_whole(text, random_cuts(text.size(), rng), policy));
    ASSERT_TRUE(stream_equals_whole(text, random_cuts(text.size(), rng), redact_all(PiiAction::kPlaceholder)));
    if (i % 10 == 0) {
      ASSERT_TRUE(stream_equals_whole(text, every_byte(text.size()), policy));
    }
  }
}

TEST(SafetyPiiStream, OrdinaryTextIsEmittedAtOnce) {
  StreamRedactor s(redact_all(PiiAction::kMask));
  for (const std::string piece : {"今天下午三点在会议室开会，", "请准时参加。", "The meeting is over. ", "See you, ",
                                  "谢谢！\n", "（备注：无）", "Done. "}) {
    EXPECT_EQ(s.push(piece), piece);
    EXPECT_EQ(s.held_bytes(), 0u) << piece;
  }
  // Character by character, too; a character cut in the middle waits only for its own bytes.
  const std::string zh = "天气预报说明天有雨";
  for (std::size_t i = 0; i < zh.size(); ++i) {
    EXPECT_EQ(s.push(zh.substr(i, 1)), i % 3 == 2 ? zh.substr(i - 2, 3) : "");
    EXPECT_EQ(s.held_bytes(), (i + 1) % 3);
  }
  EXPECT_EQ(s.finish(), "");
}

TEST(SafetyPiiStream, HoldsWhatMayStillBecomePii) {
  StreamRedactor s(redact_all(PiiAction::kMask));
  EXPECT_EQ(s.push("contact john"), "contact ");  // "john" may be the start of an address
  EXPECT_EQ(s.held_bytes(), 4u);
  EXPECT_EQ(s.push(".smith@example"), "");
  EXPECT_EQ(s.push(".com or 138"), "j***@example.com or ");
  EXPECT_EQ(s.push("1234"), "");
  EXPECT_EQ(s.push("5678。"), "138****5678。");
  EXPECT_EQ(s.held_bytes(), 0u);
  EXPECT_EQ(s.push("护照 E1234"), "护照 ");
  EXPECT_EQ(s.finish(), "E1234");
  ASSERT_EQ(s.matches().size(), 2u);
  EXPECT_EQ(s.matches()[1], (PiiMatch{PiiType::kCnMobile, 34, 45}));
}

TEST(SafetyPiiStream, WhatIsHeldIsBounded) {
  // The longest read: an email's local part, '@', a 127-character domain and one more character.
  constexpr std::size_t kBound = 64 + 1 + 127 + 2;
  const std::vector<std::string> units = {"7", "a", "a.", "1.", "1 ", "1-", ":", "a:", "E1", "ab@", "a.b", "+86"};
  for (const auto& unit : units) {
    StreamRedactor s(redact_all(PiiAction::kPlaceholder));
    std::size_t most = 0;
    for (int i = 0; i < 2000; ++i) {
      (void)s.push(unit);
      most = std::max(most, s.held_bytes());
    }
    EXPECT_LE(most, kBound) << unit;
  }
  StreamRedactor s(redact_all(PiiAction::kPlaceholder));
  std::string domain = "x@";
  for (int i = 0; i < 100; ++i) domain += "ab.";
  std::size_t most = 0;
  for (const char c : domain) {
    (void)s.push(std::string(1, c));
    most = std::max(most, s.held_bytes());
  }
  EXPECT_LE(most, kBound);
}

TEST(SafetyPiiStream, ReportsBlocking) {
  RedactionPolicy policy;
  policy.actions[PiiType::kCnResidentId] = PiiAction::kBlock;
  StreamRedactor s(policy);
  EXPECT_EQ(s.push("我的身份证是1101051949"), "我的身份证是");
  EXPECT_FALSE(s.blocked());
  EXPECT_EQ(s.push("1231002X。"), "[CN_RESIDENT_ID]。");
  EXPECT_TRUE(s.blocked());
  EXPECT_EQ(s.blocked_by(), PiiType::kCnResidentId);
}

// ---- precision and recall over the labelled set ----

TEST(SafetyPiiEval, PrecisionRecallPerEntity) {
  ASSERT_FALSE(labelled_path().empty()) << "tests/data/pii/labelled.jsonl not found; set HEARTH_SOURCE_DIR";
  struct Counts {
    int positives = 0, tp = 0, fp = 0, fn = 0;
  };
  std::map<PiiType, Counts> counts;
  std::vector<std::string> errors;
  std::size_t positive_rows = 0;
  for (const auto& row : labelled()) {
    positive_rows += row.entities.empty() ? 0 : 1;
    std::multiset<std::pair<PiiType, std::string>> gold(row.entities.begin(), row.entities.end());
    for (const auto& e : row.entities) ++counts[e.first].positives;
    for (const auto& m : find_pii(row.text)) {
      const auto it = gold.find({m.type, row.text.substr(m.begin, m.end - m.begin)});
      if (it != gold.end()) {
        ++counts[m.type].tp;
        gold.erase(it);
      } else {
        ++counts[m.type].fp;
        errors.push_back(std::string("false positive ") + pii_type_name(m.type) + ": " + row.text);
      }
    }
    for (const auto& [type, value] : gold) {
      ++counts[type].fn;
      errors.push_back(std::string("missed ") + pii_type_name(type) + " " + value + ": " + row.text);
    }
  }
  const std::size_t negative_rows = labelled().size() - positive_rows;
  EXPECT_GE(positive_rows, 500u);
  EXPECT_GE(negative_rows, 500u);

  std::printf("\nPII detection over tests/data/pii/labelled.jsonl (%zu positive, %zu negative snippets; "
              "exact value match)\n\n| entity | positives | precision | recall |\n|---|---|---|---|\n",
              positive_rows, negative_rows);
  for (const PiiType t : all_pii_types()) {
    const Counts& c = counts[t];
    const double precision = c.tp + c.fp == 0 ? 1.0 : static_cast<double>(c.tp) / (c.tp + c.fp);
    const double recall = c.positives == 0 ? 1.0 : static_cast<double>(c.tp) / c.positives;
    std::printf("| %s | %d | %.3f | %.3f |\n", pii_type_name(t), c.positives, precision, recall);
    if (t == PiiType::kCnResidentId || t == PiiType::kBankCard || t == PiiType::kCnUscc) {
      EXPECT_GT(c.positives, 0);
      EXPECT_GE(precision, 0.95) << pii_type_name(t);
      EXPECT_GE(recall, 0.95) << pii_type_name(t);
    }
  }
  for (std::size_t i = 0; i < errors.size() && i < 20; ++i) std::printf("  %s\n", errors[i].c_str());
  std::fflush(stdout);
}

}  // namespace
}  // namespace hearth::safety
