// How a fetched page is named for extraction: Content-Type first, then the URL's extension; the
// curl fetcher's time limit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "knowledge/fetch/curl_fetcher.h"
#include "knowledge/url_fetcher.h"
#include "net/outbound_policy.h"

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

// A server that accepts the connection (the kernel does, from the backlog) and never answers:
// the fetch ends with the total time limit, as a deadline error naming the URL.
TEST(CurlFetcher, ASilentServerTimesOut) {
  // The server is on loopback, which the outbound policy refuses unless listed.
  auto rules = net::compile_outbound_policy({"127.0.0.1"});
  ASSERT_TRUE(rules.ok());
  net::set_outbound_rules(*rules);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = fmt::format("http://127.0.0.1:{}/page.html", ntohs(addr.sin_port));
  FetchLimits limits;
  limits.connect_timeout_s = 1;
  limits.timeout_s = 1;
  auto r = make_curl_fetcher()->fetch(url, limits);
  net::set_outbound_rules(net::OutboundRules{});  // the default again
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("timed out"));
  EXPECT_THAT(r.error().message, ::testing::HasSubstr(url));
}

}  // namespace
}  // namespace hearth::knowledge
