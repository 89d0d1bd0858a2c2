#include "models/downloader.h"

#include "net/curl.h"
#include "net/outbound_policy.h"
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/sha256.h"

namespace hearth {
namespace fs = std::filesystem;
namespace {

struct Transfer {
  std::FILE* file = nullptr;
  std::uint64_t offset = 0;  // bytes present before this attempt
  std::uint64_t written = 0;
  long status = 0;
  bool status_checked = false;
  bool bad_status = false;
  CURL* curl = nullptr;
  const DownloadOptions* opt = nullptr;
};

size_t on_data(char* data, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  if (!t->status_checked) {
    curl::easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    t->status_checked = true;
    // A 200 to a Range request means the server ignored it: start over.
    if (t->status == 200 && t->offset > 0) {
      if (std::fseek(t->file, 0, SEEK_SET) != 0 || ftruncate(fileno(t->file), 0) != 0) return 0;
      t->offset = 0;
    } else if (t->status != 200 && t->status != 206) {
      t->bad_status = true;
      return 0;
    }
  }
  const size_t bytes = size * n;
  if (std::fwrite(data, 1, bytes, t->file) != bytes) return 0;
  t->written += bytes;
  return bytes;
}

int on_progress(void* ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ud);
  if (t->opt->progress && t->status_checked && !t->bad_status) {
    const std::uint64_t total = dltotal > 0 ? t->offset + static_cast<std::uint64_t>(dltotal) : 0;
    t->opt->progress(t->offset + static_cast<std::uint64_t>(dlnow), total);
  }
  return 0;
}

// One attempt: appends to the .part file from its current size. Returns true when the server
// finished the body; false with `retry` when another attempt may help.
Result<bool> attempt(const DownloadOptions& opt, const std::string& part, bool& retry) {
  retry = false;
  std::error_code ec;
  const std::uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
  std::FILE* f = std::fopen(part.c_str(), have > 0 ? "r+b" : "wb");
  if (!f) return internal_error(fmt::format("cannot write {}", part));
  std::fseek(f, 0, SEEK_END);

  curl::Easy curl(curl::easy_init());
  Transfer t;
  t.file = f;
  t.offset = have;
  t.curl = curl.get();
  t.opt = &opt;
  curl::Slist headers;
  if (!opt.bearer_token.empty()) {
    headers.reset(curl::slist_append(nullptr, ("Authorization: Bearer " + opt.bearer_token).c_str()));
  }
  const std::string range = fmt::format("{}-", have);
  curl::easy_setopt(curl.get(), CURLOPT_URL, opt.url.c_str());
  curl::easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl::easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 10L);
  curl::easy_setopt(curl.get(), CURLOPT_USERAGENT, "hearth/0.1");
  curl::easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, opt.connect_timeout_s);
  curl::easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl::easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, opt.low_speed_timeout_s);
  curl::easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl::easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
  curl::easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
  curl::easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);
  curl::easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl::easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  if (headers) curl::easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  if (have > 0) curl::easy_setopt(curl.get(), CURLOPT_RANGE, range.c_str());
  // Every connection, the mirror a hub redirects to included, goes to an allowed address.
  net::OutboundGuard guard;
  if (auto applied = guard.apply(curl.get()); !applied) {
    std::fclose(f);
    return applied.take_error();
  }

  const CURLcode rc = curl::easy_perform(curl.get());
  long status = 0;
  curl::easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  const bool write_ok = std::fclose(f) == 0;
  if (!write_ok) return internal_error(fmt::format("writing {} failed (disk full?)", part));
  if (rc != CURLE_OK && guard.refusal()) return *guard.refusal();  // not retried: the answer stays no

  if (status == 416 && have > 0) return true;  // nothing left to fetch: the part file is complete
  if (t.bad_status || (rc == CURLE_OK && status >= 400)) {
    retry = status >= 500 || status == 429;
    Error e{status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
            fmt::format("{} answered HTTP {}", opt.url, status)};
    return e;
  }
  if (rc != CURLE_OK) {
    retry = true;
    return unavailable(fmt::format("download of {} interrupted: {}", opt.url, curl::easy_strerror(rc)));
  }
  return true;
}

}  // namespace

Result<DownloadResult> download_file(const DownloadOptions& opt) {
  if (opt.url.empty()) return invalid_argument("no URL to download from", "url");
  if (!opt.expected_sha256.empty() && !is_sha256_hex(opt.expected_sha256)) {
    return invalid_argument("the expected SHA-256 must be 64 hex digits", "sha256");
  }
  HEARTH_TRY(net::check_url_host(opt.url));  // before any file is created
  HEARTH_TRY(curl::load());
  const fs::path dest(opt.dest);
  if (dest.has_parent_path()) fs::create_directories(dest.parent_path());
  const std::string part = opt.dest + ".part";

  DownloadResult res;
  std::error_code ec;
  res.resumed_from = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
  Error last;
  for (res.attempts = 1; res.attempts <= opt.max_attempts; ++res.attempts) {
    bool retry = false;
    auto r = attempt(opt, part, retry);
    if (r) {
      last = Error{};
      break;
    }
    last = r.take_error();
    if (!retry) {
      std::error_code rm_ec;
      if (fs::exists(part, rm_ec) && fs::file_size(part, rm_ec) == 0) fs::remove(part, rm_ec);  // nothing to resume
      return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << std::min(res.attempts, 5)));
  }
  if (res.attempts > opt.max_attempts) return last;

  auto digest = sha256_file(part);
  if (!digest) return digest.take_error();
  res.sha256 = *digest;
  res.bytes = fs::file_size(part, ec);
  if (!opt.expected_sha256.empty() && res.sha256 != opt.expected_sha256) {
    fs::remove(part, ec);  // corrupt: never resume from it
    return Error{ErrorCode::kInvalidArgument,
                 fmt::format("SHA-256 mismatch for {}: expected {}, got {}; the partial file was removed", opt.url,
                             opt.expected_sha256, res.sha256)};
  }
  fs::rename(part, opt.dest, ec);
  if (ec) return internal_error(fmt::format("cannot move {} into place: {}", part, ec.message()));
  return res;
}

std::function<void(std::uint64_t, std::uint64_t)> terminal_progress(std::string label) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [label = std::move(label), tty, last](std::uint64_t done, std::uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    const bool finished = total > 0 && done >= total;
    if (!finished && now - *last < std::chrono::milliseconds(tty ? 100 : 2000)) return;
    *last = now;
    const double mib = static_cast<double>(done) / (1 << 20);
    std::string line;
    if (total > 0) {
      const double frac = static_cast<double>(done) / static_cast<double>(total);
      const int width = 30;
      const int fill = static_cast<int>(frac * width);
      line = fmt::format("{} [{}{}] {:5.1f}% {:.1f}/{:.1f} MiB", label, std::string(static_cast<size_t>(fill), '#'),
                         std::string(static_cast<size_t>(width - fill), '.'), frac * 100, mib,
                         static_cast<double>(total) / (1 << 20));
    } else {
      line = fmt::format("{} {:.1f} MiB", label, mib);
    }
    std::fprintf(stderr, tty ? "\r%s" : "%s\n", line.c_str());
    if (tty && finished) std::fprintf(stderr, "\n");
  };
}

}  // namespace hearth
