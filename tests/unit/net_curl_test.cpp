// net/curl: libcurl loaded at run time. The transfers themselves are covered where they are
// used (downloads, remote embedders, URL sources); this checks the loading and the forwarding
// of C varargs (long, curl_off_t, pointers) to libcurl.
#include <gtest/gtest.h>

#include <string>

#include "net/curl.h"

namespace hearth {
namespace {

TEST(Curl, LoadsAndForwardsCalls) {
  ASSERT_TRUE(curl::load().ok());
  EXPECT_TRUE(curl::load().ok());  // once; the same outcome again
  EXPECT_STREQ(curl::easy_strerror(CURLE_OK), "No error");
  EXPECT_EQ(curl::getdate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(curl::getdate("not a date"), -1);

  CURL* h = curl::easy_init();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(curl::easy_setopt(h, CURLOPT_URL, "http://127.0.0.1:1/x"), CURLE_OK);
  EXPECT_EQ(curl::easy_setopt(h, CURLOPT_TIMEOUT, 5L), CURLE_OK);
  EXPECT_EQ(curl::easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(1) << 40), CURLE_OK);
  // A value libcurl checks: it must have arrived intact through the varargs.
  EXPECT_EQ(curl::easy_setopt(h, CURLOPT_MAXREDIRS, -2L), CURLE_BAD_FUNCTION_ARGUMENT);
  const char* url = nullptr;
  ASSERT_EQ(curl::easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url), CURLE_OK);
  ASSERT_NE(url, nullptr);
  EXPECT_EQ(std::string(url), "http://127.0.0.1:1/x");

  curl_slist* list = curl::slist_append(nullptr, "A: 1");
  list = curl::slist_append(list, "B: 2");
  ASSERT_NE(list, nullptr);
  EXPECT_STREQ(list->next->data, "B: 2");
  curl::slist_free_all(list);
  curl::easy_cleanup(h);
  curl::easy_cleanup(nullptr);  // as libcurl's: no-op
}

}  // namespace
}  // namespace hearth
