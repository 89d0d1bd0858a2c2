#include "auth/secret_file.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

namespace hearth::auth {
namespace fs = std::filesystem;
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Error io_error(std::string_view what, const std::string& path, int err) {
  return unavailable(fmt::format("cannot {} the API-key secret '{}': {}", what, path, std::strerror(err)));
}

Status write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return internal_error(std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  return {};
}

void sync_directory(const fs::path& dir) {
  Fd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) (void)::fsync(d.get());
}

// Writes a new secret to a temporary file beside `path` and links it into place. If another
// process linked its own first, that one stays (and is the one read).
Status create_secret(const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) fs::create_directories(dir, ec);
  auto secret = random_bytes(kSecretBytes);
  if (!secret) return secret.take_error();
  auto tag = random_bytes(6);
  if (!tag) return tag.take_error();
  std::string suffix;
  for (unsigned char c : *tag) suffix += fmt::format("{:02x}", c);
  const std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), suffix);
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) return io_error("create", tmp, errno);
    const bool ok = ::fchmod(fd.get(), 0600) == 0 && write_all(fd.get(), *secret).ok() && ::fsync(fd.get()) == 0;
    const int err = errno;
    if (!ok || ::close(fd.release()) != 0) {
      ::unlink(tmp.c_str());
      return io_error("write", tmp, ok ? errno : err);
    }
  }
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  if (rc != 0 && (err == EPERM || err == EOPNOTSUPP || err == ENOSYS || err == EXDEV)) {
    // A file system without hard links: rename (a concurrent creator's secret may be replaced).
    rc = ::rename(tmp.c_str(), path.c_str());
    err = errno;
  }
  ::unlink(tmp.c_str());
  if (rc != 0 && err != EEXIST) return io_error("create", path, err);
  sync_directory(dir);
  return {};
}

Result<std::string> read_secret(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return invalid_argument(fmt::format("the API-key secret '{}' is not a regular file", path));
  }
  if ((st.st_mode & 077) != 0) {
    return Error(ErrorCode::kPermissionDenied,
                 fmt::format("the API-key secret '{}' is open to group or others (mode {:04o}); "
                             "fix: chmod 600 '{}'",
                             path, st.st_mode & 07777, path));
  }
  if (st.st_size != static_cast<off_t>(kSecretBytes)) {
    return invalid_argument(fmt::format(
        "the API-key secret '{}' has {} bytes, not {}: not a Hearth secret file; fix: restore the right file, or "
        "remove it to make a new one (every existing API key then stops working)",
        path, st.st_size, kSecretBytes));
  }
  std::string secret(kSecretBytes, '\0');
  std::size_t done = 0;
  while (done < secret.size()) {
    const ssize_t n = ::read(fd.get(), secret.data() + done, secret.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("read", path, errno);
    if (n == 0) return unavailable(fmt::format("the API-key secret '{}' was cut short while reading", path));
    done += static_cast<std::size_t>(n);
  }
  return secret;
}

}  // namespace

Result<std::string> random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return internal_error("RAND_bytes failed: no secure random numbers");
  }
  return out;
}

Result<std::string> load_or_create_secret(const std::string& path) {
  if (path.empty()) return invalid_argument("the API-key secret file is not set");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return io_error("stat", path, errno);
    HEARTH_TRY(create_secret(path));
  }
  return read_secret(path);
}

}  // namespace hearth::auth
