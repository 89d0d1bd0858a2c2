// Downloads model files over HTTP(S) with resume (Range requests on a .part file), progress
// reporting and SHA-256 verification. Hugging Face "resolve" URLs are plain URLs with redirects.
// Threading: download() blocks the calling thread; independent calls may run in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"

namespace hearth {

struct DownloadOptions {
  std::string url;
  std::string dest;             // final path; data goes to dest + ".part" until verified
  std::string expected_sha256;  // empty: computed and reported, not checked
  std::string bearer_token;     // e.g. a Hugging Face token; sent as Authorization
  long connect_timeout_s = 30;
  long low_speed_timeout_s = 60;  // abort when under 1 KiB/s for this long
  int max_attempts = 5;           // retries resume where the last attempt stopped
  // progress(done, total); total is 0 when the server does not say.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct DownloadResult {
  std::string sha256;
  std::uint64_t bytes = 0;
  std::uint64_t resumed_from = 0;  // bytes already present from an earlier attempt
  int attempts = 0;
};

Result<DownloadResult> download_file(const DownloadOptions& options);

// A terminal progress bar for download/verify progress callbacks (stderr).
std::function<void(std::uint64_t, std::uint64_t)> terminal_progress(std::string label);

}  // namespace hearth
