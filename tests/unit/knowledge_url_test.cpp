// How a fetched page is named for extraction: Content-Type first, then the URL's extension.
#include <gtest/gtest.h>

#include "knowledge/url_fetcher.h"

namespace hearth::knowledge {
namespace {

TEST(FetchedFileName, ContentTypeDecidesThenTheExtension) {
  EXPECT_EQ(fetched_file_name("https://example.com/docs/guide", "text/html"), "guide.html");
  EXPECT_EQ(fetched_file_name("https://example.com/docs/guide.html?x=1#top", "text/html"), "guide.html");
  EXPECT_EQ(fetched_file_name("https://example.com/", "text/html"), "index.html");
  EXPECT_EQ(fetched_file_name("https://example.com", ""), "index.html");
  EXPECT_EQ(fetched_file_name("https://example.com/report", "application/pdf"), "report.pdf");
  EXPECT_EQ(fetched_file_name("https://example.com/a/README.md", "text/plain"), "README.md");
  EXPECT_EQ(fetched_file_name("https://example.com/a/notes", "text/plain"), "notes.txt");
  EXPECT_EQ(fetched_file_name("https://example.com/a/spec.docx", "application/octet-stream"), "spec.docx");
  EXPECT_EQ(fetched_file_name("https://example.com/a/page", "application/octet-stream"), "page.html");
  EXPECT_EQ(fetched_file_name("http://例子.cn/文档/手册.PDF", "application/pdf"), "手册.PDF");  // the extension matches, case aside
}

}  // namespace
}  // namespace hearth::knowledge
