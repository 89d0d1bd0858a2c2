#include "core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

extern char** environ;

namespace hearth {
namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct FileActions {
  posix_spawn_file_actions_t a;
  FileActions() { posix_spawn_file_actions_init(&a); }
  ~FileActions() { posix_spawn_file_actions_destroy(&a); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return internal_error(fmt::format("writing a helper's input failed: {}", std::strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

std::string executable_dir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : self.parent_path().string();
}

Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv, std::string_view input,
                                        std::chrono::milliseconds timeout, std::size_t max_output) {
  if (argv.empty()) return invalid_argument("run_subprocess needs a program");
  Fd in(::memfd_create("hearth-helper-input", MFD_CLOEXEC));
  if (in.fd < 0) return internal_error(fmt::format("memfd_create failed: {}", std::strerror(errno)));
  HEARTH_TRY(write_all(in.fd, input));
  if (::lseek(in.fd, 0, SEEK_SET) != 0) return internal_error("could not rewind a helper's input");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return internal_error(fmt::format("pipe2 failed: {}", std::strerror(errno)));
  Fd out_r(pipe_fds[0]), out_w(pipe_fds[1]);

  FileActions fa;
  posix_spawn_file_actions_adddup2(&fa.a, in.fd, 0);
  posix_spawn_file_actions_adddup2(&fa.a, out_w.fd, 1);
  posix_spawn_file_actions_addopen(&fa.a, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa.a, 3);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa.a, nullptr, args.data(), environ);
  if (rc != 0) return unavailable(fmt::format("could not start {}: {}", argv[0], std::strerror(rc)));
  out_w.reset();
  in.reset();

  SubprocessResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{out_r.fd, POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    const ssize_t n = ::read(out_r.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child closed stdout (normally: it exited)
    if (r.out.size() + static_cast<size_t>(n) > max_output) {
      r.output_over_limit = true;
      break;
    }
    r.out.append(buf, static_cast<size_t>(n));
  }
  if (r.timed_out || r.output_over_limit) ::kill(pid, SIGKILL);
  int status = 0;
  // A child that closed its stdout still gets only until the deadline to exit.
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, r.timed_out || r.output_over_limit ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return internal_error(fmt::format("waitpid failed: {}", std::strerror(errno)));
    if (w == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        r.timed_out = true;
        ::kill(pid, SIGKILL);
      } else {
        ::usleep(2000);
      }
    }
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

}  // namespace hearth
