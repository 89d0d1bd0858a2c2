#include "knowledge/embedders/remote_embedder.h"

#include "net/curl.h"
#include "net/outbound_policy.h"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <thread>

namespace hearth::knowledge {
using json = nlohmann::json;
namespace {

constexpr std::size_t kMaxResponseBytes = 256u << 20;

struct Reply {
  long status = 0;
  std::string body;
  std::string retry_after;  // the header's value, if any
  bool truncated = false;
};

size_t on_body(char* data, size_t size, size_t n, void* ud) {
  auto* r = static_cast<Reply*>(ud);
  const size_t bytes = size * n;
  if (r->body.size() + bytes > kMaxResponseBytes) {
    r->truncated = true;
    return 0;  // aborts the transfer
  }
  r->body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t n, void* ud) {
  auto* r = static_cast<Reply*>(ud);
  const size_t bytes = size * n;
  std::string_view line(data, bytes);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      std::equal(kName.begin(), kName.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string v(line.substr(kName.size()));
    v.erase(0, v.find_first_not_of(" \t"));
    v.erase(v.find_last_not_of(" \t\r\n") + 1);
    r->retry_after = v;
  }
  return bytes;
}

// Retry-After: delay-seconds or an HTTP date. Negative when absent or unreadable.
std::chrono::milliseconds parse_retry_after(const std::string& v) {
  if (v.empty()) return std::chrono::milliseconds(-1);
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::chrono::milliseconds(-1);
    return std::chrono::seconds(std::stol(v));
  }
  const std::time_t when = curl::getdate(v.c_str());
  if (when < 0) return std::chrono::milliseconds(-1);
  return std::chrono::seconds(std::max<std::time_t>(0, when - std::time(nullptr)));
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  if (s.size() > max) out += "...";
  return out;
}

// The server's own words: error.message of an OpenAI error body, else common alternatives, else
// the start of the body.
std::string server_message(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_string()) return e->get<std::string>();
      if (e->is_object()) {
        if (auto m = e->find("message"); m != e->end() && m->is_string()) return m->get<std::string>();
      }
    }
    for (const char* key : {"message", "detail"}) {
      if (auto m = j.find(key); m != j.end() && m->is_string()) return m->get<std::string>();
    }
  }
  std::string trimmed = body;
  trimmed.erase(0, trimmed.find_first_not_of(" \t\r\n"));
  trimmed.erase(trimmed.find_last_not_of(" \t\r\n") + 1);
  return trimmed.empty() ? "(no message)" : printable(trimmed, 300);
}

Error status_error(long status, const std::string& url, const std::string& body) {
  const std::string msg = fmt::format("embedding service {} answered {}: {}", url, status, server_message(body));
  switch (status) {
    case 401: return Error(ErrorCode::kUnauthenticated, msg);
    case 403: return Error(ErrorCode::kPermissionDenied, msg);
    case 404: return Error(ErrorCode::kNotFound, msg);
    case 413: return Error(ErrorCode::kPayloadTooLarge, msg);
    case 429: return resource_exhausted(msg);
    default: break;
  }
  if (status >= 500) return unavailable(msg);
  return invalid_argument(msg, "embedder");
}

bool retryable_transport(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

Result<std::vector<float>> decode_base64_floats(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string bytes;
  unsigned acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) return internal_error("the embedding is neither a number array nor base64");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bytes.size() % sizeof(float) != 0) return internal_error("a base64 embedding is not a whole number of floats");
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

Status normalize(std::vector<float>& v) {
  double norm = 0;
  for (float x : v) {
    if (!std::isfinite(x)) return internal_error("the embedding service returned a non-finite value");
    norm += static_cast<double>(x) * x;
  }
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (float& x : v) x = static_cast<float>(x / norm);
  }
  return {};
}

}  // namespace

Result<std::vector<std::vector<float>>> parse_embeddings_response(const std::string& body, std::size_t expected,
                                                                  int& dimensions) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return internal_error(fmt::format("the embedding service returned malformed JSON: {}", printable(body, 120)));
  }
  auto data = j.is_object() ? j.find("data") : j.end();
  if (!j.is_object() || data == j.end() || !data->is_array()) {
    return internal_error(fmt::format("the embedding service's response has no 'data' array: {}", printable(body, 120)));
  }
  if (data->size() != expected) {
    return internal_error(
        fmt::format("the embedding service returned {} embeddings for {} inputs", data->size(), expected));
  }
  std::vector<std::vector<float>> out(expected);
  std::vector<bool> seen(expected, false);
  for (std::size_t pos = 0; pos < data->size(); ++pos) {
    const json& item = (*data)[pos];
    if (!item.is_object()) return internal_error(fmt::format("data[{}] of the embedding response is not an object", pos));
    std::size_t index = pos;
    if (auto ix = item.find("index"); ix != item.end()) {
      if (!ix->is_number_integer() || ix->get<std::int64_t>() < 0 ||
          static_cast<std::uint64_t>(ix->get<std::int64_t>()) >= expected) {
        return internal_error(fmt::format("data[{}].index of the embedding response is {}, not 0..{}", pos, ix->dump(),
                                          expected - 1));
      }
      index = static_cast<std::size_t>(ix->get<std::int64_t>());
    }
    if (seen[index]) return internal_error(fmt::format("the embedding response repeats index {}", index));
    seen[index] = true;
    auto emb = item.find("embedding");
    std::vector<float> v;
    if (emb != item.end() && emb->is_array()) {
      v.reserve(emb->size());
      for (const json& x : *emb) {
        if (!x.is_number()) return internal_error(fmt::format("data[{}].embedding holds a non-number", pos));
        v.push_back(x.get<float>());
      }
    } else if (emb != item.end() && emb->is_string()) {
      auto decoded = decode_base64_floats(emb->get<std::string>());
      if (!decoded) return decoded.take_error();
      v = std::move(*decoded);
    } else {
      return internal_error(fmt::format("data[{}] of the embedding response has no 'embedding' array", pos));
    }
    if (v.empty()) return internal_error(fmt::format("data[{}].embedding is empty", pos));
    if (dimensions == 0) dimensions = static_cast<int>(v.size());
    if (static_cast<int>(v.size()) != dimensions) {
      return internal_error(fmt::format("the embedding service returned {}-dimensional vectors, expected {}", v.size(),
                                        dimensions));
    }
    HEARTH_TRY(normalize(v));
    out[index] = std::move(v);
  }
  return out;
}

struct RemoteEmbedder::Http {
  curl::Easy curl;
  curl::Slist headers;
};

RemoteEmbedder::RemoteEmbedder(RemoteEmbedderOptions options)
    : opt_(std::move(options)), dims_(opt_.dimensions), http_(std::make_unique<Http>()) {
  while (!opt_.base_url.empty() && opt_.base_url.back() == '/') opt_.base_url.pop_back();
  url_ = opt_.base_url + "/embeddings";
  opt_.batch_size = std::max(1, opt_.batch_size);
  opt_.max_retries = std::max(0, opt_.max_retries);
  if (!opt_.sleep) opt_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

RemoteEmbedder::~RemoteEmbedder() = default;

std::string RemoteEmbedder::name() const {
  return opt_.name.empty() ? fmt::format("openai:{}#{}", opt_.base_url, opt_.model) : opt_.name;
}

RemoteEmbedder::Counters RemoteEmbedder::counters() const {
  return {requests_.load(), retries_.load(), failures_.load(), texts_.load()};
}

Result<std::vector<std::vector<float>>> RemoteEmbedder::embed(std::span<const std::string> texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (std::size_t first = 0; first < texts.size(); first += static_cast<std::size_t>(opt_.batch_size)) {
    const std::size_t n = std::min(texts.size() - first, static_cast<std::size_t>(opt_.batch_size));
    auto batch = embed_batch(texts.subspan(first, n));
    if (!batch) {
      ++failures_;
      return batch.take_error();
    }
    for (auto& v : *batch) out.push_back(std::move(v));
  }
  texts_ += texts.size();
  return out;
}

Result<std::vector<std::vector<float>>> RemoteEmbedder::embed_batch(std::span<const std::string> texts) {
  json input = json::array();
  for (const std::string& t : texts) input.push_back(t);
  const std::string body = json{{"model", opt_.model}, {"input", std::move(input)}, {"encoding_format", "float"}}.dump(
      -1, ' ', false, json::error_handler_t::replace);

  HEARTH_TRY(net::check_url_host(url_));  // a forbidden literal address fails at once, untried
  if (!http_->curl) {
    HEARTH_TRY(curl::load());  // at the first request, not when the embedder is made
    http_->curl.reset(curl::easy_init());
    if (!http_->curl) return internal_error("libcurl could not create a handle");
    curl_slist* h = curl::slist_append(nullptr, "Content-Type: application/json");
    h = curl::slist_append(h, "Accept: application/json");
    h = curl::slist_append(h, "Expect:");  // no 100-continue round trip before large batches
    if (!opt_.api_key.empty()) h = curl::slist_append(h, ("Authorization: Bearer " + opt_.api_key).c_str());
    http_->headers.reset(h);
  }
  CURL* c = http_->curl.get();
  for (int attempt = 0;; ++attempt) {
    Reply reply;
    curl::easy_reset(c);
    curl::easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl::easy_setopt(c, CURLOPT_POST, 1L);
    curl::easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl::easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl::easy_setopt(c, CURLOPT_HTTPHEADER, http_->headers.get());
    curl::easy_setopt(c, CURLOPT_USERAGENT, "hearth/0.1");
    curl::easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt_.connect_timeout.count()));
    curl::easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opt_.timeout.count()));
    curl::easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl::easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever libcurl can decode
    curl::easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl::easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    curl::easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl::easy_setopt(c, CURLOPT_HEADERDATA, &reply);
    // Each attempt's connection goes to an allowed address (easy_reset cleared the last guard).
    net::OutboundGuard guard;
    HEARTH_TRY(guard.apply(c));
    ++requests_;
    const CURLcode rc = curl::easy_perform(c);
    // A refused address is the configuration's answer, not a transient failure: not retried.
    if (rc != CURLE_OK && guard.refusal()) return *guard.refusal();
    curl::easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);

    Error error;
    bool retry = false;
    std::chrono::milliseconds wait(-1);
    if (reply.truncated) {
      return internal_error(fmt::format("the embedding service {} sent more than {} bytes", url_, kMaxResponseBytes));
    } else if (rc != CURLE_OK) {
      retry = retryable_transport(rc);
      const std::string msg = fmt::format("embedding service {}: {}", url_, curl::easy_strerror(rc));
      error = rc == CURLE_OPERATION_TIMEDOUT ? Error(ErrorCode::kDeadlineExceeded, msg) : unavailable(msg);
    } else if (reply.status < 200 || reply.status >= 300) {
      retry = reply.status == 429 || reply.status >= 500;
      error = status_error(reply.status, url_, reply.body);
      wait = parse_retry_after(reply.retry_after);
    } else {
      int dims = dims_;
      auto vectors = parse_embeddings_response(reply.body, texts.size(), dims);
      if (!vectors) {
        Error e = vectors.take_error();
        e.message = fmt::format("{} (from {}, model '{}')", e.message, url_, opt_.model);
        return e;
      }
      dims_ = dims;
      return vectors;
    }
    if (!retry || attempt >= opt_.max_retries) {
      if (attempt > 0) error.message += fmt::format(" (after {} attempts)", attempt + 1);
      return error;
    }
    if (wait.count() < 0) {
      const auto backoff = opt_.initial_backoff * (std::int64_t{1} << std::min(attempt, 20));
      wait = std::min(backoff, opt_.max_backoff);
    } else {
      wait = std::min(wait, opt_.max_retry_after);
    }
    ++retries_;
    opt_.sleep(wait);
  }
}

}  // namespace hearth::knowledge
