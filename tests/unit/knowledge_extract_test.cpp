#include "knowledge/extract.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zip.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace hearth::knowledge {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> texts(const Extracted& e) {
  std::vector<std::string> out;
  for (const Block& b : e.blocks) {
    std::string t;
    if (b.kind == Block::Kind::kHeading) {
      t.append("H").append(std::to_string(b.level)).append(" ");
    }
    t.append(b.text);
    out.push_back(std::move(t));
  }
  return out;
}

Extracted ok(std::string_view name, std::string_view bytes) {
  auto r = extract_document(name, bytes);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? std::move(*r) : Extracted{};
}

TEST(KnowledgeExtract, PlainTextParagraphsAndChineseLineJoins) {
  const Extracted e = ok("notes.txt", "First line\r\ncontinues here.\n\n\n第一行\n第二行。\n  \nLast.");
  EXPECT_THAT(texts(e), ::testing::ElementsAre("First line continues here.", "第一行第二行。", "Last."));
  EXPECT_EQ(e.title, "notes") << "no heading: the file name";
  EXPECT_EQ(e.format, DocFormat::kText);
}

TEST(KnowledgeExtract, MarkdownHeadingsListsCodeAndTables) {
  const Extracted e = ok("guide.md",
                         "# Guide\n\nIntro *with* `code` and &amp; entity.\n\n## 安装\n\n- one\n- two\n\n"
                         "```\nmake\nmake install\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
  EXPECT_THAT(texts(e), ::testing::ElementsAre("H1 Guide", "Intro with code and & entity.", "H2 安装", "one", "two",
                                               "make\nmake install", "a", "b", "1", "2"));
  EXPECT_EQ(e.title, "Guide");
}

TEST(KnowledgeExtract, HtmlSkipsScriptsAndNavigation) {
  const Extracted e = ok("page.html",
                         "<html><head><title>The  Title</title><style>p{}</style></head><body>"
                         "<nav>Home | About</nav><h1>Main</h1><p>Hello <b>bold</b>&nbsp;world &lt;3</p>"
                         "<script>var x = 1;</script><ul><li>item one</li><li>项目二</li></ul>"
                         "<div>div text<p>nested para</p></div></body></html>");
  EXPECT_THAT(texts(e), ::testing::ElementsAre("H1 Main", "Hello bold world <3", "item one", "项目二", "div text",
                                               "nested para"));
  EXPECT_EQ(e.title, "The Title");
}

// Broken markup is read as browsers read it: whatever text the HTML5 parser recovers is kept.
TEST(KnowledgeExtract, MalformedHtmlKeepsTheTextItCanRecover) {
  const Extracted e = ok("broken.html",
                         "<html><body><h1>Pumps<p>Replace the seals<div><b>every spring</i></table>"
                         "<p>Check the valves</span>");
  // The unclosed <h1> holds the rest of the page as the HTML5 parser builds it, so no text is a
  // heading and the title falls back to the file name; every sentence is kept.
  EXPECT_THAT(texts(e), ::testing::ElementsAre("Pumps", "Replace the seals", "every spring", "Check the valves"));
  EXPECT_EQ(e.title, "broken");
}

// A one-page PDF with a Title and two text lines, offsets computed so the xref table is exact.
std::string make_pdf() {
  std::vector<std::string> objs = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
      "",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      "<< /Title (Quarterly Report) >>",
  };
  const std::string stream = "BT /F1 12 Tf 72 720 Td (Revenue grew in March.) Tj 0 -40 Td (Costs fell.) Tj ET";
  objs[3] = "<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "\nendstream";
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t o : offsets) {
    char line[32];
    std::snprintf(line, sizeof(line), "%010zu 00000 n \n", o);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R /Info 6 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

TEST(KnowledgeExtract, PdfTextWithPagesAndTitle) {
  const Extracted e = ok("report.pdf", make_pdf());
  ASSERT_FALSE(e.blocks.empty());
  std::string all;
  for (const Block& b : e.blocks) {
    all += b.text + " ";
    EXPECT_EQ(b.page, 1);
  }
  EXPECT_THAT(all, HasSubstr("Revenue grew in March."));
  EXPECT_THAT(all, HasSubstr("Costs fell."));
  EXPECT_EQ(e.title, "Quarterly Report");
}

std::string make_docx(const std::string& document_xml, const char* part = "word/document.xml") {
  const auto path = std::filesystem::temp_directory_path() / ("hearth-test-" + std::to_string(::getpid()) + ".docx");
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  EXPECT_NE(z, nullptr);
  zip_source_t* src = zip_source_buffer(z, document_xml.data(), document_xml.size(), 0);
  EXPECT_GE(zip_file_add(z, part, src, ZIP_FL_OVERWRITE), 0);
  EXPECT_EQ(zip_close(z), 0);
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  return bytes;
}

TEST(KnowledgeExtract, DocxParagraphsAndHeadingStyles) {
  const std::string xml =
      R"(<?xml version="1.0" encoding="UTF-8" standalone="yes"?>)"
      R"(<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>)"
      R"(<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Policy Manual</w:t></w:r></w:p>)"
      R"(<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Leave</w:t></w:r></w:p>)"
      R"(<w:p><w:r><w:t xml:space="preserve">Staff get </w:t></w:r><w:r><w:t>25 days.</w:t></w:r></w:p>)"
      R"(<w:p><w:r><w:t>员工每年享有带薪休假。</w:t></w:r></w:p>)"
      R"(<w:tbl><w:tr><w:tc><w:p><w:r><w:t>In a table</w:t></w:r></w:p></w:tc></w:tr></w:tbl>)"
      R"(</w:body></w:document>)";
  const Extracted e = ok("manual.docx", make_docx(xml));
  EXPECT_THAT(texts(e), ::testing::ElementsAre("H1 Policy Manual", "H2 Leave", "Staff get 25 days.",
                                               "员工每年享有带薪休假。", "In a table"));
  EXPECT_EQ(e.title, "Policy Manual");
}

// Bad input: each gets an error naming the file and the problem.
TEST(KnowledgeExtract, BadInputIsAClearError) {
  const std::string docx_without_body = make_docx("<x/>", "word/other.xml");
  const std::string docx_bad_xml = make_docx("<w:document><unclosed>");
  struct Case {
    std::string name, bytes, message;
  };
  const std::vector<Case> cases = {
      {"a.exe", "MZ", "unsupported file type '.exe'"},
      {"noext", "text", "unsupported file type '(none)'"},
      {"bin.txt", std::string("ab\0cd", 5), "binary file"},
      {"page.html", std::string("<p>\0</p>", 8), "binary file"},
      {"scripts.html", "<html><head><script>var x = 1;</script></head><body><div><br></div></body></html>",
       "no text to index"},
      {"empty.htm", "", "no text to index"},
      {"fake.pdf", "hello", "not a PDF"},
      {"broken.pdf", "%PDF-1.4\nthis is not a pdf at all", "not a readable PDF"},
      {"fake.docx", "hello", "not a DOCX"},
      {"broken.docx", std::string("PK\x03\x04garbage", 11), "not a valid DOCX"},
      {"other.docx", docx_without_body, "no word/document.xml"},
      {"badxml.docx", docx_bad_xml, "not well-formed XML"},
  };
  for (const Case& c : cases) {
    auto r = extract_document(c.name, c.bytes);
    ASSERT_FALSE(r) << c.name;
    EXPECT_THAT(r.error().message, HasSubstr(c.message)) << c.name;
    EXPECT_THAT(r.error().message, HasSubstr(c.name)) << c.name;
    EXPECT_EQ(r.error().param, "file");
  }
  auto big = extract_document("big.txt", std::string(100, 'a'), 50);
  ASSERT_FALSE(big);
  EXPECT_THAT(big.error().message, HasSubstr("over the 50-byte limit"));
}

// The PDF reader runs in its own process. Stand-ins for hearth-pdf-text that misbehave: each is
// an error for that one document, and this process carries on.
class PdfHelperFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hearth-pdf-helper-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  PdfReader helper(const std::string& name, const std::string& script) {
    const auto path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << script << "\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    PdfReader r;
    r.helper = path.string();
    r.timeout = std::chrono::milliseconds(1500);
    return r;
  }
  std::filesystem::path dir_;
};

TEST_F(PdfHelperFailures, CrashHangGarbageAndMissingHelper) {
  const std::string pdf = make_pdf();
  struct Case {
    std::string name, script, message;
  };
  const std::vector<Case> cases = {
      {"crash", "cat >/dev/null; kill -SEGV $$", "the PDF reader failed on this file (Segmentation fault)"},
      {"hang", "exec sleep 30", "took longer than 1500 ms"},
      {"exit7", "exit 7", "failed on this file (exit status 7)"},
      {"garbage", "printf 'T 99\\nshort'", "wrote malformed output"},
      {"unterminated", "printf 'T 2\\nhiP 1 3\\nabc'", "wrote malformed output"},
      {"notpdf", "exit 3", "'x.pdf' is not a readable PDF"},
      {"locked", "exit 4", "'x.pdf' is an encrypted PDF"},
  };
  for (const Case& c : cases) {
    const auto start = std::chrono::steady_clock::now();
    auto r = extract_document("x.pdf", pdf, 64u << 20, helper(c.name, c.script));
    ASSERT_FALSE(r) << c.name;
    EXPECT_THAT(r.error().message, HasSubstr(c.message)) << c.name;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << c.name;
  }
  PdfReader missing;
  missing.helper = (dir_ / "no-such-helper").string();
  auto r = extract_document("x.pdf", pdf, 64u << 20, missing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("no-such-helper"));
  // A well-behaved stand-in: pages and title come through the record format.
  auto good = extract_document("x.pdf", pdf, 64u << 20,
                               helper("good", "cat >/dev/null; printf 'T 3\\nTopP 2 5\\nHelloE\\n'"));
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->title, "Top");
  ASSERT_EQ(good->blocks.size(), 1u);
  EXPECT_EQ(good->blocks[0].text, "Hello");
  EXPECT_EQ(good->blocks[0].page, 2);
}

TEST(KnowledgeExtract, InvalidUtf8TextIsRepairedNotRejected) {
  const Extracted e = ok("latin1.txt", "caf\xe9 au lait");
  ASSERT_EQ(e.blocks.size(), 1u);
  EXPECT_EQ(e.blocks[0].text, "caf\xEF\xBF\xBD au lait");
}

}  // namespace
}  // namespace hearth::knowledge
