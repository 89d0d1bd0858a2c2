#include "core/subprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace hearth {
namespace {

using namespace std::chrono_literals;

TEST(Subprocess, InputBecomesStdinAndStdoutIsCollected) {
  std::string big(3u << 20, 'x');  // more than a pipe holds: the input is a memory file
  big += "end";
  auto r = run_subprocess({"/bin/cat"}, big, 10s, 8u << 20);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out, big);
}

TEST(Subprocess, ExitStatusSignalTimeoutAndOutputLimit) {
  auto exit3 = run_subprocess({"/bin/sh", "-c", "exit 3"}, "", 10s, 1024);
  ASSERT_TRUE(exit3);
  EXPECT_EQ(exit3->exit_code, 3);

  auto killed = run_subprocess({"/bin/sh", "-c", "kill -SEGV $$"}, "", 10s, 1024);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->signal, SIGSEGV);

  const auto start = std::chrono::steady_clock::now();
  auto hang = run_subprocess({"/bin/sleep", "30"}, "", 300ms, 1024);
  ASSERT_TRUE(hang);
  EXPECT_TRUE(hang->timed_out);
  EXPECT_EQ(hang->signal, SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);

  // Closing stdout does not buy more time.
  auto closed = run_subprocess({"/bin/sh", "-c", "exec >&-; sleep 30"}, "", 300ms, 1024);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->timed_out);

  auto flood = run_subprocess({"/bin/sh", "-c", "yes"}, "", 10s, 100000);
  ASSERT_TRUE(flood);
  EXPECT_TRUE(flood->output_over_limit);
  EXPECT_LE(flood->out.size(), 100000u);
}

TEST(Subprocess, NoInheritedDescriptorsAndMissingProgram) {
  const int fd = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: a child would inherit it
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, 57), 57);
  auto fds = run_subprocess({"/bin/sh", "-c", "ls /proc/self/fd"}, "", 10s, 4096);
  ::close(57);
  ::close(fd);
  ASSERT_TRUE(fds);
  EXPECT_THAT(fds->out, ::testing::HasSubstr("\n2\n"));
  EXPECT_THAT(fds->out, ::testing::Not(::testing::HasSubstr("57")));
  auto missing = run_subprocess({"/nonexistent/helper"}, "", 10s, 1024);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr("/nonexistent/helper"));
}

}  // namespace
}  // namespace hearth
