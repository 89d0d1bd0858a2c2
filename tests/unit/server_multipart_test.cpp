// multipart/form-data parsing: what curl -F and browsers send, and a table of broken bodies that
// must each get an error naming the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/multipart.h"

using namespace hearth;
using ::testing::HasSubstr;

namespace {

std::string body_of(const std::vector<std::pair<std::string, std::string>>& parts, const std::string& boundary) {
  std::string b;
  for (const auto& [head, content] : parts) b += "--" + boundary + "\r\n" + head + "\r\n\r\n" + content + "\r\n";
  return b + "--" + boundary + "--\r\n";
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(*multipart_boundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(*multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\""), "a b:c");
  EXPECT_THAT(multipart_boundary("application/json").error().message, HasSubstr("expected Content-Type multipart/form-data"));
  EXPECT_THAT(multipart_boundary("multipart/form-data").error().message, HasSubstr("has no boundary"));
  EXPECT_THAT(multipart_boundary("multipart/form-data; boundary=\"abc").error().message, HasSubstr("unterminated"));
  EXPECT_THAT(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')).error().message,
              HasSubstr("1-70 characters"));
}

TEST(Multipart, ParsesFileAndFieldsAsCurlSendsThem) {
  const std::string pdf = std::string("%PDF-1.4\r\n\x00\x01binary\r\n--not-the-boundary", 34);
  const std::string body = body_of({{"Content-Disposition: form-data; name=\"file\"; filename=\"手册.pdf\"\r\n"
                                     "Content-Type: application/pdf", pdf},
                                    {"Content-Disposition: form-data; name=\"metadata\"", "{\"team\":\"ops\"}"}},
                                   "------------------------d74496d66958873e");
  auto parts = parse_multipart(body, "------------------------d74496d66958873e");
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  const FormPart* file = find_part(*parts, "file");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->filename.value_or(""), "手册.pdf");
  EXPECT_EQ(file->content_type, "application/pdf");
  EXPECT_EQ(file->body, pdf);  // binary and CRLFs inside survive byte for byte
  EXPECT_EQ(find_part(*parts, "metadata")->body, "{\"team\":\"ops\"}");
  EXPECT_FALSE(find_part(*parts, "metadata")->filename.has_value());
  EXPECT_EQ(find_part(*parts, "nope"), nullptr);
}

TEST(Multipart, PreambleAndEmptyContent) {
  const std::string body = "ignored preamble\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--b--";
  auto parts = parse_multipart(body, "b");
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].body, "");
}

struct BadCase {
  const char* name;
  std::string body;
  const char* message;
};

TEST(Multipart, BrokenBodiesAreRejectedWithAReason) {
  const std::string d = "Content-Disposition: form-data; name=\"file\"";
  const std::vector<BadCase> cases = {
      {"no boundary at all", "just some bytes", "does not contain its boundary"},
      {"no closing boundary", "--b\r\n" + d + "\r\n\r\ncontent", "without its closing boundary"},
      {"no blank line", "--b\r\n" + d + "\r\ncontent\r\n--b--", "no blank line after its headers"},
      {"header without colon", "--b\r\nContent-Disposition form-data\r\n\r\nx\r\n--b--", "without ':'"},
      {"not form-data", "--b\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nx\r\n--b--", "is not form-data"},
      {"no name", "--b\r\nContent-Disposition: form-data; filename=\"a.txt\"\r\n\r\nx\r\n--b--", "no Content-Disposition name"},
      {"no disposition", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "no Content-Disposition name"},
      {"headerless part", "--b\r\n\r\nx\r\n--b--", "no Content-Disposition name"},
      {"delimiter right after delimiter", "--b\r\n\r\n--b\r\n" + d + "\r\n\r\nx\r\n--b--", "no Content-Disposition name"},
      {"garbage after delimiter", "--bxyz\r\n" + d + "\r\n\r\nx\r\n--b--", "not followed by CRLF"},
      {"unterminated quote", "--b\r\nContent-Disposition: form-data; name=\"file\r\n\r\nx\r\n--b--", "unterminated"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = parse_multipart(c.body, "b");
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message, HasSubstr(c.message));
  }
}

TEST(Multipart, EmptyContentWhoseBlankLineIsTheDelimiters) {
  // Found by fuzzing: "headers CRLF CRLF --b" shares one CRLF between the blank line and the
  // delimiter; the content is empty, not the rest of the body.
  auto parts = parse_multipart("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--b\r\n"
                               "Content-Disposition: form-data; name=\"c\"\r\n\r\nxyz\r\n--b--", "b");
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].body, "");
  EXPECT_EQ((*parts)[1].body, "xyz");
}

TEST(Multipart, PartCountIsBounded) {
  std::vector<std::pair<std::string, std::string>> parts;
  for (int i = 0; i < 5; ++i) parts.emplace_back("Content-Disposition: form-data; name=\"f\"", "x");
  EXPECT_TRUE(parse_multipart(body_of(parts, "b"), "b", 5));
  EXPECT_THAT(parse_multipart(body_of(parts, "b"), "b", 4).error().message, HasSubstr("more than 4 multipart parts"));
}

}  // namespace
