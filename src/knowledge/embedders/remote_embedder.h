// RemoteEmbedder: vectors from an OpenAI-compatible embeddings service (OpenAI, a llama-server,
// Ollama's /v1, another Hearth), with libcurl.
//
// Each request is POST <base_url>/embeddings with {"model", "input": [texts], "encoding_format":
// "float"} and up to batch_size texts. Connection errors, timeouts, 429 and 5xx are retried with exponential
// backoff (initial_backoff doubling up to max_backoff), or after the server's Retry-After when it
// sends one (capped at max_retry_after). Other 4xx are not retried: the error names the status and
// the server's own message (error.message of an OpenAI error body, else the body's start). A
// response must hold one vector per input with distinct `index` values (results are put back in
// input order by index), all of one dimension: the configured one, else the first one seen.
// Vectors are L2-normalized here, whatever the service does. Float arrays and base64 strings
// (little-endian float32) are both accepted.
//
// Thread-safety: one thread at a time per instance (it keeps a curl handle for connection reuse
// and learns its dimensions); counters() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "knowledge/knowledge_base.h"

namespace hearth::knowledge {

struct RemoteEmbedderOptions {
  std::string base_url;   // e.g. "https://api.openai.com/v1" (no trailing '/')
  std::string model;
  std::string api_key;    // empty: no Authorization header
  std::string name;       // what name() returns; empty: "openai:<base_url>#<model>"
  int batch_size = 64;
  int dimensions = 0;     // 0: learned from the first response
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{120'000};  // one request, whole
  int max_retries = 4;    // attempts after the first
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  std::chrono::milliseconds max_retry_after{120'000};
  // How to wait before a retry; null: std::this_thread::sleep_for. Tests record instead.
  std::function<void(std::chrono::milliseconds)> sleep;
};

class RemoteEmbedder final : public Embedder {
 public:
  explicit RemoteEmbedder(RemoteEmbedderOptions options);
  ~RemoteEmbedder() override;
  RemoteEmbedder(const RemoteEmbedder&) = delete;
  RemoteEmbedder& operator=(const RemoteEmbedder&) = delete;

  std::string name() const override;
  int dimensions() const override { return dims_; }
  // One vector per text, in order. Errors: unavailable (unreachable, 5xx after the retries),
  // resource_exhausted (429 after the retries), deadline_exceeded (timeouts), unauthenticated
  // (401), permission_denied (403), not_found (404), invalid_argument (other 4xx), internal
  // (a malformed response: bad JSON, wrong count, index or dimensions).
  Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) override;

  struct Counters {
    std::uint64_t requests = 0;  // HTTP attempts, retries included
    std::uint64_t retries = 0;
    std::uint64_t failures = 0;  // embed() calls that returned an error
    std::uint64_t texts = 0;     // texts embedded successfully
  };
  Counters counters() const;

 private:
  struct Http;
  Result<std::vector<std::vector<float>>> embed_batch(std::span<const std::string> texts);

  RemoteEmbedderOptions opt_;
  std::string url_;
  int dims_ = 0;
  std::unique_ptr<Http> http_;
  std::atomic<std::uint64_t> requests_{0}, retries_{0}, failures_{0}, texts_{0};
};

// Parses one /embeddings response body for `expected` inputs. `dimensions` is checked when
// non-zero, else set from the vectors. Exposed for tests.
Result<std::vector<std::vector<float>>> parse_embeddings_response(const std::string& body, std::size_t expected,
                                                                  int& dimensions);

}  // namespace hearth::knowledge
