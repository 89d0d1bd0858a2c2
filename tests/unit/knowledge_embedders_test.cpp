// Embedder specs, RemoteEmbedder against a scripted local HTTP server, and ModelEmbedder with the
// generated BERT test model (when $HEARTH_MODELS has it).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "knowledge/embedders/embedder_factory.h"
#include "knowledge/fusion.h"
#include "knowledge/embedders/model_embedder.h"
#include "knowledge/embedders/model_reranker.h"
#include "knowledge/embedders/remote_embedder.h"
#include "models/catalog.h"
#include "models/registry.h"
#include "net/outbound_policy.h"

namespace hearth::knowledge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// ---- spec parsing ----

TEST(EmbedderSpec, StaticForms) {
  for (const char* s : {"", "static", "static:glove-100d", "static:glove-6b-100d-v2"}) {
    auto spec = parse_embedder_spec(s);
    ASSERT_TRUE(spec) << s;
    EXPECT_EQ(spec->kind, EmbedderSpec::Kind::kStatic);
    EXPECT_EQ(spec->static_version, StaticVersion::kAllButTheTop);
    EXPECT_EQ(spec->canonical(), "static:glove-6b-100d-v2");
  }
  // Collections made before version 2 keep embedding their queries as their chunks were.
  auto v1 = parse_embedder_spec("static:glove-6b-100d");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->static_version, StaticVersion::kAverage);
  EXPECT_EQ(v1->canonical(), "static:glove-6b-100d");
  auto v3 = parse_embedder_spec("static:glove-6b-100d-v3");
  ASSERT_FALSE(v3);
  EXPECT_THAT(v3.error().message, HasSubstr("static:glove-6b-100d-v2"));
}

TEST(EmbedderSpec, Gguf) {
  auto spec = parse_embedder_spec("gguf:hearth-tiny-bert-embed");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->kind, EmbedderSpec::Kind::kGguf);
  EXPECT_EQ(spec->model, "hearth-tiny-bert-embed");
  EXPECT_EQ(spec->canonical(), "gguf:hearth-tiny-bert-embed");
}

TEST(EmbedderSpec, OpenAIWithDefaults) {
  auto spec = parse_embedder_spec("openai:https://api.openai.com/v1/#text-embedding-3-small");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->kind, EmbedderSpec::Kind::kOpenAI);
  EXPECT_EQ(spec->base_url, "https://api.openai.com/v1");
  EXPECT_EQ(spec->model, "text-embedding-3-small");
  EXPECT_EQ(spec->batch, 64);
  EXPECT_EQ(spec->dimensions, 0);
  EXPECT_EQ(spec->retries, 4);
  EXPECT_EQ(spec->canonical(), "openai:https://api.openai.com/v1#text-embedding-3-small");
}

TEST(EmbedderSpec, OpenAIOptionsAndCanonicalOrder) {
  auto spec = parse_embedder_spec(
      "openai:http://127.0.0.1:8080/v1#nomic-ai/nomic-embed:v1.5?retries=1&dims=768&batch=16&key_env=MY_KEY&timeout=30"
      "&connect_timeout=3");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->model, "nomic-ai/nomic-embed:v1.5");
  EXPECT_EQ(spec->key_env, "MY_KEY");
  EXPECT_EQ(spec->batch, 16);
  EXPECT_EQ(spec->dimensions, 768);
  EXPECT_EQ(spec->timeout_s, 30);
  EXPECT_EQ(spec->connect_timeout_s, 3);
  EXPECT_EQ(spec->retries, 1);
  const std::string canonical = spec->canonical();
  EXPECT_EQ(canonical,
            "openai:http://127.0.0.1:8080/v1#nomic-ai/nomic-embed:v1.5?key_env=MY_KEY&batch=16&dims=768&timeout=30"
            "&connect_timeout=3&retries=1");
  auto again = parse_embedder_spec(canonical);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->canonical(), canonical);
  // Options equal to their defaults are left out.
  EXPECT_EQ(parse_embedder_spec("openai:http://h/v1#m?batch=64&key_env=HEARTH_EMBEDDINGS_API_KEY")->canonical(),
            "openai:http://h/v1#m");
}

TEST(EmbedderSpec, MalformedSpecsNameTheSpec) {
  const char* bad[] = {
      "glove",                          // unknown kind
      "static:word2vec",                // unknown static vectors
      "gguf:",                          // no model
      "gguf:two words",                 //
      "openai:http://127.0.0.1/v1",     // no '#model'
      "openai:ftp://host/v1#m",         // scheme
      "openai:http://#m",               // no host
      "openai:http://h/v1#",            // empty model
      "openai:http://h/v1#m?batch=0",   // out of range
      "openai:http://h/v1#m?batch=9999",
      "openai:http://h/v1#m?batch=x",
      "openai:http://h/v1#m?dims=-3",
      "openai:http://h/v1#m?retries=11",
      "openai:http://h/v1#m?colour=red",  // unknown option
      "openai:http://h/v1#m?batch",       // not key=value
      "openai:http://h/v1#m?",            // empty option
      "openai:http://h/v1#m?key_env=1BAD",
  };
  for (const char* s : bad) {
    auto spec = parse_embedder_spec(s);
    ASSERT_FALSE(spec) << s;
    EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument) << s;
    EXPECT_THAT(spec.error().message, HasSubstr(fmt::format("'{}'", s)));
    EXPECT_EQ(spec.error().param, "embedder");
  }
}

TEST(EmbedderFactory, MissingEnvironmentIsAClearError) {
  EmbedderEnv env;
  auto s = make_embedder("static", env);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("static word vectors"));
  auto g = make_embedder("gguf:some-model", env);
  ASSERT_FALSE(g);
  EXPECT_THAT(g.error().message, HasSubstr("model catalog"));
  env.getenv = [](const char*) -> const char* { return nullptr; };
  auto o = make_embedder("openai:http://127.0.0.1:9/v1#m?key_env=HEARTH_TEST_UNSET_KEY", env);
  ASSERT_FALSE(o);
  EXPECT_THAT(o.error().message, HasSubstr("HEARTH_TEST_UNSET_KEY"));
  auto bad = make_embedder("nonsense", env);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("'nonsense'"));
}

// A collection's stored spec picks the static version its queries are embedded with.
TEST(EmbedderFactory, StaticVersionsFollowTheSpec) {
  const char* path = std::getenv("HEARTH_STATIC_EMBEDDINGS");
  if (!path) GTEST_SKIP() << "HEARTH_STATIC_EMBEDDINGS is not set (scripts/test.sh sets it)";
  auto vectors = StaticEmbedder::load(path);
  ASSERT_TRUE(vectors) << vectors.error().message;
  auto tok = TextTokenizer::create();
  ASSERT_TRUE(tok);
  EmbedderEnv env;
  env.static_vectors = vectors->get();
  const std::string text[] = {"How do I configure the network interface?"};
  for (StaticVersion v : {StaticVersion::kAverage, StaticVersion::kAllButTheTop}) {
    auto e = make_embedder(StaticEmbedder::name_of(v), env);
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ((*e)->name(), StaticEmbedder::name_of(v));
    auto out = (*e)->embed(text);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->at(0), (*vectors)->embed(text[0], **tok, v));
  }
  auto v1 = (*vectors)->embed(text[0], **tok, StaticVersion::kAverage);
  EXPECT_LT(cosine(v1, (*vectors)->embed(text[0], **tok)), 0.99) << "the versions differ";
}

TEST(EmbedderFactory, CollectionEmbedderKeepsTheStoredName) {
  EmbedderEnv env;
  CollectionInfo c;
  c.name = "docs";
  c.embedder = "openai:http://127.0.0.1:9/v1#m?batch=8";
  c.dimensions = 12;
  auto e = make_collection_embedder(c, env);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ((*e)->name(), c.embedder);
  EXPECT_EQ((*e)->dimensions(), 12);
  c.embedder = "gguf:x";
  auto g = make_collection_embedder(c, env);
  ASSERT_FALSE(g);
  EXPECT_THAT(g.error().message, HasSubstr("collection 'docs'"));
}

// ---- a scripted embeddings server on 127.0.0.1:0 ----

// The outbound policy refuses loopback unless listed: list 127.0.0.1 while a test talks to its
// fake server, and put the rules before back after.
struct AllowLoopback {
  AllowLoopback() { net::set_outbound_rules(net::compile_outbound_policy({"127.0.0.1"}).value()); }
  ~AllowLoopback() { net::set_outbound_rules(previous); }
  net::OutboundRules previous = net::outbound_rules();
  AllowLoopback(const AllowLoopback&) = delete;
  AllowLoopback& operator=(const AllowLoopback&) = delete;
};

struct FakeRequest {
  std::string method, path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json json_body() const { return json::parse(body, nullptr, false); }
};

struct FakeResponse {
  int status = 200;
  std::string body;
  std::string extra_headers;  // "Name: value\r\n" lines
};

class FakeEmbeddingServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&, int call)>;

  explicit FakeEmbeddingServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeEmbeddingServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string base_url() const { return fmt::format("http://127.0.0.1:{}/v1", port_); }
  std::vector<FakeRequest> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }

  void handle(int c) {
    std::string data;
    char buf[65536];
    std::size_t header_end = std::string::npos;
    while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      data.append(buf, static_cast<std::size_t>(n));
    }
    FakeRequest req;
    std::istringstream head(data.substr(0, header_end));
    std::string line;
    std::getline(head, line);
    std::istringstream first(line);
    first >> req.method >> req.path;
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      req.headers[name] = value;
    }
    const std::size_t length = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
    req.body = data.substr(header_end + 4);
    while (req.body.size() < length) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.body.append(buf, static_cast<std::size_t>(n));
    }
    int call = 0;
    {
      std::lock_guard lk(mu_);
      requests_.push_back(req);
      call = static_cast<int>(requests_.size()) - 1;
    }
    const FakeResponse r = handler_(req, call);
    const std::string out = fmt::format(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n{}",
        r.status, r.body.size(), r.extra_headers, r.body);
    std::size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }

  AllowLoopback allow_;
  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<FakeRequest> requests_;
  std::thread thread_;
};

// The vector a fake service gives text "t<k>": (k + 1, 1, 0), before normalization; other texts
// get (length, 0, 1).
std::vector<float> fake_vector(const std::string& text) {
  if (text.size() < 2 || text[0] != 't' || text.find_first_not_of("0123456789", 1) != std::string::npos) {
    return {static_cast<float>(text.size()), 0.0f, 1.0f};
  }
  return {static_cast<float>(std::stoi(text.substr(1)) + 1), 1.0f, 0.0f};
}

std::vector<float> normalized(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

// An OpenAI-style answer for the request's inputs, data in reverse order (index says where).
FakeResponse answer(const FakeRequest& req) {
  const json in = req.json_body()["input"];
  json data = json::array();
  for (std::size_t i = in.size(); i-- > 0;) {
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", fake_vector(in[i].get<std::string>())}});
  }
  return {200, json{{"object", "list"}, {"data", data}, {"model", "m"}}.dump(), {}};
}

std::vector<std::string> texts(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(fmt::format("t{}", i));
  return out;
}

struct SleepLog {
  std::vector<std::chrono::milliseconds> waits;
  std::function<void(std::chrono::milliseconds)> fn() {
    return [this](std::chrono::milliseconds d) { waits.push_back(d); };
  }
};

RemoteEmbedderOptions options_for(const FakeEmbeddingServer& server, SleepLog& sleeps) {
  RemoteEmbedderOptions o;
  o.base_url = server.base_url();
  o.model = "fake-embed";
  o.connect_timeout = std::chrono::seconds(5);
  o.timeout = std::chrono::seconds(20);
  o.sleep = sleeps.fn();
  return o;
}

TEST(RemoteEmbedder, OrdersByIndexNormalizesAndSendsTheRequest) {
  FakeEmbeddingServer server([](const FakeRequest& r, int) { return answer(r); });
  SleepLog sleeps;
  RemoteEmbedderOptions o = options_for(server, sleeps);
  o.api_key = "sk-test";
  RemoteEmbedder e(o);
  EXPECT_EQ(e.dimensions(), 0);
  EXPECT_EQ(e.name(), "openai:" + server.base_url() + "#fake-embed");
  const auto in = texts(4);
  auto v = e.embed(in);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const auto want = normalized(fake_vector(in[static_cast<std::size_t>(i)]));
    for (std::size_t d = 0; d < 3; ++d) EXPECT_NEAR((*v)[static_cast<std::size_t>(i)][d], want[d], 1e-6) << i;
  }
  EXPECT_EQ(e.dimensions(), 3);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/v1/embeddings");
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Bearer sk-test");
  const json body = reqs[0].json_body();
  EXPECT_EQ(body["model"], "fake-embed");
  EXPECT_EQ(body["input"], json(in));
  EXPECT_EQ(e.counters().requests, 1u);
  EXPECT_EQ(e.counters().texts, 4u);
  EXPECT_TRUE(sleeps.waits.empty());
}

TEST(RemoteEmbedder, BatchesRequests) {
  FakeEmbeddingServer server([](const FakeRequest& r, int) { return answer(r); });
  SleepLog sleeps;
  RemoteEmbedderOptions o = options_for(server, sleeps);
  o.batch_size = 2;
  RemoteEmbedder e(o);
  const auto in = texts(5);
  auto v = e.embed(in);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->size(), 5u);
  EXPECT_NEAR((*v)[4][0], normalized(fake_vector("t4"))[0], 1e-6);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  std::vector<std::size_t> sizes;
  for (const auto& r : reqs) sizes.push_back(r.json_body()["input"].size());
  EXPECT_THAT(sizes, ElementsAre(2u, 2u, 1u));
  EXPECT_EQ(e.counters().requests, 3u);
  EXPECT_FALSE(reqs[0].headers.count("authorization"));  // no key, no header
}

TEST(RemoteEmbedder, RetriesA500WithBackoff) {
  FakeEmbeddingServer server([](const FakeRequest& r, int call) {
    if (call < 2) return FakeResponse{500, R"({"error":{"message":"overloaded"}})", {}};
    return answer(r);
  });
  SleepLog sleeps;
  RemoteEmbedderOptions o = options_for(server, sleeps);
  RemoteEmbedder e(o);
  auto v = e.embed(texts(2));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(e.counters().retries, 2u);
  EXPECT_THAT(sleeps.waits, ElementsAre(std::chrono::milliseconds(500), std::chrono::milliseconds(1000)));
}

TEST(RemoteEmbedder, HonoursRetryAfterOn429) {
  FakeEmbeddingServer server([](const FakeRequest& r, int call) {
    if (call == 0) return FakeResponse{429, R"({"error":{"message":"slow down"}})", "Retry-After: 7\r\n"};
    return answer(r);
  });
  SleepLog sleeps;
  RemoteEmbedder e(options_for(server, sleeps));
  auto v = e.embed(texts(1));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_THAT(sleeps.waits, ElementsAre(std::chrono::milliseconds(7000)));
}

TEST(RemoteEmbedder, GivesUpAfterTheRetriesNamingTheServerMessage) {
  FakeEmbeddingServer server(
      [](const FakeRequest&, int) { return FakeResponse{503, R"({"error":{"message":"model is warming up"}})", {}}; });
  SleepLog sleeps;
  RemoteEmbedderOptions o = options_for(server, sleeps);
  o.max_retries = 2;
  RemoteEmbedder e(o);
  auto v = e.embed(texts(1));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(v.error().message, HasSubstr("503"));
  EXPECT_THAT(v.error().message, HasSubstr("model is warming up"));
  EXPECT_THAT(v.error().message, HasSubstr("after 3 attempts"));
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(e.counters().failures, 1u);
}

TEST(RemoteEmbedder, A401IsNotRetriedAndNamesTheMessage) {
  FakeEmbeddingServer server([](const FakeRequest&, int) {
    return FakeResponse{401, R"({"error":{"message":"Incorrect API key provided: sk-te***","type":"invalid_request_error"}})",
                        {}};
  });
  SleepLog sleeps;
  RemoteEmbedder e(options_for(server, sleeps));
  auto v = e.embed(texts(3));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(v.error().message, HasSubstr("401"));
  EXPECT_THAT(v.error().message, HasSubstr("Incorrect API key provided"));
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(sleeps.waits.empty());
}

TEST(RemoteEmbedder, A400WithAPlainBodyQuotesIt) {
  FakeEmbeddingServer server([](const FakeRequest&, int) { return FakeResponse{400, "input too long\n", {}}; });
  SleepLog sleeps;
  RemoteEmbedder e(options_for(server, sleeps));
  auto v = e.embed(texts(1));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(v.error().message, HasSubstr("400: input too long"));
}

TEST(RemoteEmbedder, MalformedJsonIsAnError) {
  FakeEmbeddingServer server([](const FakeRequest&, int) { return FakeResponse{200, R"({"data": [)", {}}; });
  SleepLog sleeps;
  RemoteEmbedder e(options_for(server, sleeps));
  auto v = e.embed(texts(1));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInternal);
  EXPECT_THAT(v.error().message, HasSubstr("malformed JSON"));
  EXPECT_EQ(server.requests().size(), 1u);  // not retried
}

TEST(RemoteEmbedder, WrongDimensionsAreAnError) {
  FakeEmbeddingServer server([](const FakeRequest& r, int) { return answer(r); });
  SleepLog sleeps;
  RemoteEmbedderOptions o = options_for(server, sleeps);
  o.dimensions = 4;  // as a collection would expect
  RemoteEmbedder e(o);
  auto v = e.embed(texts(2));
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message, HasSubstr("3-dimensional vectors, expected 4"));
}

TEST(RemoteEmbedder, DimensionsMustStaySameAcrossBatches) {
  FakeEmbeddingServer server([](const FakeRequest& r, int call) {
    FakeResponse a = answer(r);
    if (call == 1) {
      json j = json::parse(a.body);
      for (auto& item : j["data"]) item["embedding"].push_back(0.5);
      a.body = j.dump();
    }
    return a;
  });
  SleepLog sleeps;
  RemoteEmbedderOptions o = options_for(server, sleeps);
  o.batch_size = 1;
  RemoteEmbedder e(o);
  auto v = e.embed(texts(2));
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message, HasSubstr("4-dimensional vectors, expected 3"));
}

TEST(RemoteEmbedder, CountAndIndexMismatchesAreErrors) {
  int dims = 0;
  auto few = parse_embeddings_response(R"({"data":[{"index":0,"embedding":[1,0]}]})", 2, dims);
  ASSERT_FALSE(few);
  EXPECT_THAT(few.error().message, HasSubstr("1 embeddings for 2 inputs"));
  auto dup = parse_embeddings_response(
      R"({"data":[{"index":0,"embedding":[1,0]},{"index":0,"embedding":[0,1]}]})", 2, dims);
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message, HasSubstr("repeats index 0"));
  auto range = parse_embeddings_response(R"({"data":[{"index":5,"embedding":[1,0]}]})", 1, dims);
  ASSERT_FALSE(range);
  auto nodata = parse_embeddings_response(R"({"object":"list"})", 1, dims);
  ASSERT_FALSE(nodata);
  EXPECT_THAT(nodata.error().message, HasSubstr("no 'data' array"));
  auto text = parse_embeddings_response(R"({"data":[{"index":0,"embedding":[1,"x"]}]})", 1, dims);
  ASSERT_FALSE(text);
}

TEST(RemoteEmbedder, AcceptsBase64Vectors) {
  // (3, 4) as little-endian float32: 00 00 40 40 00 00 80 40.
  int dims = 0;
  auto v = parse_embeddings_response(R"({"data":[{"index":0,"embedding":"AABAQAAAgEA="}]})", 1, dims);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(dims, 2);
  EXPECT_NEAR((*v)[0][0], 0.6, 1e-6);
  EXPECT_NEAR((*v)[0][1], 0.8, 1e-6);
}

TEST(RemoteEmbedder, UnreachableServerIsRetriedThenUnavailable) {
  const AllowLoopback allow;
  int port = 0;
  {
    FakeEmbeddingServer gone([](const FakeRequest& r, int) { return answer(r); });
    port = std::stoi(gone.base_url().substr(std::string("http://127.0.0.1:").size()));
  }  // closed: connections are refused now
  SleepLog sleeps;
  RemoteEmbedderOptions o;
  o.base_url = fmt::format("http://127.0.0.1:{}/v1", port);
  o.model = "m";
  o.max_retries = 2;
  o.sleep = sleeps.fn();
  RemoteEmbedder e(o);
  auto v = e.embed(texts(1));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(v.error().message, HasSubstr("127.0.0.1"));
  EXPECT_EQ(e.counters().requests, 3u);
  EXPECT_EQ(sleeps.waits.size(), 2u);
}

TEST(RemoteEmbedder, FactoryPassesTheKeyFromTheNamedVariable) {
  FakeEmbeddingServer server([](const FakeRequest& r, int) { return answer(r); });
  EmbedderEnv env;
  env.getenv = [](const char* name) -> const char* {
    return std::string(name) == "TEAM_EMBED_KEY" ? "sk-team" : nullptr;
  };
  auto e = make_embedder("openai:" + server.base_url() + "#fake?key_env=TEAM_EMBED_KEY&batch=3", env);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ((*e)->name(), "openai:" + server.base_url() + "#fake?key_env=TEAM_EMBED_KEY&batch=3");
  auto dims = probe_dimensions(**e);
  ASSERT_TRUE(dims) << dims.error().message;
  EXPECT_EQ(*dims, 3);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Bearer sk-team");
}

// ---- ModelEmbedder with the generated BERT model ----

class ModelEmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("HEARTH_MODELS");
    if (!dir) GTEST_SKIP() << "HEARTH_MODELS is not set (scripts/test.sh sets it)";
    const std::string bert = (std::filesystem::path(dir) / "hearth-tiny-bert-embed.gguf").string();
    const std::string qwen = (std::filesystem::path(dir) / "hearth-tiny-qwen2.gguf").string();
    if (!std::filesystem::exists(bert)) GTEST_SKIP() << bert << " is missing";
    ModelEntry b = entry_for_file(bert);
    b.aliases = {"bert"};
    b.load.context_size = 32;  // small, so long texts must be split
    b.load.parallel = 2;
    b.load.threads = 1;
    config.entries.push_back(std::move(b));
    if (std::filesystem::exists(qwen)) {
      ModelEntry q = entry_for_file(qwen);
      q.load.context_size = 256;
      q.load.parallel = 1;
      q.load.threads = 1;
      config.entries.push_back(std::move(q));
    }
    config.models.memory_budget_bytes = 4ull << 30;
    registry = std::make_unique<ModelRegistry>(config);
  }
  Config config;
  std::unique_ptr<ModelRegistry> registry;
};

TEST_F(ModelEmbedderTest, IdenticalTextsGetIdenticalNormalizedVectors) {
  EmbedderEnv env;
  env.models = registry.get();
  auto e = make_embedder("gguf:bert", env);  // an alias resolves to the catalog id
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ((*e)->name(), "gguf:hearth-tiny-bert-embed");
  auto dims = probe_dimensions(**e);
  ASSERT_TRUE(dims) << dims.error().message;
  EXPECT_GT(*dims, 0);
  const std::vector<std::string> in = {"the printer jams", "network cables", "the printer jams"};
  auto v = (*e)->embed(in);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->size(), 3u);
  double dot02 = 0, dot01 = 0, norm = 0;
  for (int d = 0; d < *dims; ++d) {
    const auto i = static_cast<std::size_t>(d);
    dot02 += (*v)[0][i] * (*v)[2][i];
    dot01 += (*v)[0][i] * (*v)[1][i];
    norm += (*v)[1][i] * (*v)[1][i];
  }
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_NEAR(dot02, 1.0, 1e-4);
  EXPECT_LT(dot01, 0.9999);
}

TEST_F(ModelEmbedderTest, LongTextsAreSplitToFitTheContext) {
  auto e = ModelEmbedder::create(*registry, "hearth-tiny-bert-embed");
  ASSERT_TRUE(e) << e.error().message;
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += fmt::format("word{} and more text ", i);
  const std::vector<std::string> in = {long_text, "short"};
  auto v = (*e)->embed(in);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*e)->split_inputs(), 1u);
  double norm = 0;
  for (float x : (*v)[0]) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
}

TEST_F(ModelEmbedderTest, AGenerativeModelIsRefused) {
  if (config.entries.size() < 2) GTEST_SKIP() << "no qwen2 test model";
  auto e = ModelEmbedder::create(*registry, "hearth-tiny-qwen2");
  ASSERT_TRUE(e);
  const std::string in[] = {"hello"};
  auto v = (*e)->embed(in);
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message, HasSubstr("not an embedding model"));
}

TEST_F(ModelEmbedderTest, UnknownModelListsTheCatalog) {
  auto e = ModelEmbedder::create(*registry, "no-such-model");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(e.error().message, HasSubstr("hearth-tiny-bert-embed"));
}

// ---- ModelReranker with the generated BERT reranker ----

TEST(ModelReranker, ScoresPairsDeterministicallyAndRefusesNonRerankers) {
  const char* dir = std::getenv("HEARTH_MODELS");
  if (!dir) GTEST_SKIP() << "HEARTH_MODELS is not set (scripts/test.sh sets it)";
  const auto path = [&](const char* f) { return (std::filesystem::path(dir) / f).string(); };
  if (!std::filesystem::exists(path("hearth-tiny-bert-reranker.gguf"))) GTEST_SKIP() << "no reranker model";
  Config config;
  for (const char* f : {"hearth-tiny-bert-reranker.gguf", "hearth-tiny-bert-embed.gguf"}) {
    ModelEntry m = entry_for_file(path(f));
    m.load.context_size = 64;  // long documents must be cut to fit
    m.load.parallel = 2;
    m.load.threads = 1;
    config.entries.push_back(std::move(m));
  }
  config.models.memory_budget_bytes = 4ull << 30;
  ModelRegistry registry(config);
  auto r = ModelReranker::create(registry, "hearth-tiny-bert-reranker");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->name(), "gguf:hearth-tiny-bert-reranker");
  std::string long_doc;
  for (int i = 0; i < 200; ++i) long_doc += "printer ";
  const std::vector<std::string> docs = {"the printer jams", "network cables", "the printer jams", long_doc, "打印机卡纸"};
  auto s = (*r)->score("printer problems", docs);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->size(), docs.size());
  EXPECT_NEAR((*s)[0], (*s)[2], 1e-5) << "the same pair scores the same in one batch";
  EXPECT_GT(std::abs((*s)[0] - (*s)[1]), 1e-6) << "different pairs score differently";
  for (double x : *s) EXPECT_TRUE(std::isfinite(x));
  // Alone (another batch), a pair scores as it did with the others.
  const std::vector<std::string> one = {"network cables"};
  auto alone = (*r)->score("printer problems", one);
  ASSERT_TRUE(alone) << alone.error().message;
  EXPECT_NEAR(alone->front(), (*s)[1], 1e-4);
  EXPECT_TRUE((*r)->score("q", std::vector<std::string>{})->empty());

  // An embedding model is not a reranker, and a reranker is not an embedding model.
  auto wrong = ModelReranker::create(registry, "hearth-tiny-bert-embed");
  ASSERT_TRUE(wrong);
  auto refused = (*wrong)->score("q", docs);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().param, "reranker");
  EXPECT_THAT(refused.error().message, HasSubstr("not a reranker"));
  EmbedderEnv env;
  env.models = &registry;
  auto as_embedder = make_embedder("gguf:hearth-tiny-bert-reranker", env);
  ASSERT_TRUE(as_embedder) << as_embedder.error().message;
  auto no = (*as_embedder)->embed(one);
  ASSERT_FALSE(no);
  EXPECT_THAT(no.error().message, HasSubstr("reranker"));
  EXPECT_FALSE(ModelReranker::create(registry, "no-such-model"));
}

}  // namespace
}  // namespace hearth::knowledge
