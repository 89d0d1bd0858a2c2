#include "knowledge/embedders/embedder_factory.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

#include "knowledge/embedders/model_embedder.h"
#include "knowledge/embedders/remote_embedder.h"
#include "knowledge/static_embedder.h"
#include "knowledge/text_tokenizer.h"

namespace hearth::knowledge {
namespace {

// The static embedder with a tokenizer of its own, so each instance can live on its own thread.
class OwnedStaticEmbedder final : public Embedder {
 public:
  OwnedStaticEmbedder(const StaticEmbedder& vectors, StaticVersion version, std::unique_ptr<TextTokenizer> tokenizer)
      : vectors_(vectors), version_(version), tokenizer_(std::move(tokenizer)) {}
  std::string name() const override { return StaticEmbedder::name_of(version_); }
  int dimensions() const override { return vectors_.dimensions(); }
  Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) override {
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (const std::string& t : texts) out.push_back(vectors_.embed(t, *tokenizer_, version_));
    return out;
  }

 private:
  const StaticEmbedder& vectors_;
  StaticVersion version_;
  std::unique_ptr<TextTokenizer> tokenizer_;
};

Error bad_spec(const std::string& spec, const std::string& why) {
  return invalid_argument(fmt::format("embedder '{}': {}", spec, why), "embedder");
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

Result<int> parse_int(const std::string& spec, std::string_view key, std::string_view value, int lo, int hi) {
  int v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size() || v < lo || v > hi) {
    return bad_spec(spec, fmt::format("{}={} is not a whole number in {}..{}", key, value, lo, hi));
  }
  return v;
}

bool valid_env_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Status parse_openai_options(const std::string& spec, std::string_view query, EmbedderSpec& out) {
  std::size_t start = 0;
  while (start <= query.size()) {
    const std::size_t amp = query.find('&', start);
    const std::string_view kv = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    const std::size_t eq = kv.find('=');
    if (kv.empty() || eq == std::string_view::npos) {
      return bad_spec(spec, fmt::format("option '{}' is not key=value", kv));
    }
    const std::string_view key = kv.substr(0, eq), value = kv.substr(eq + 1);
    if (key == "key_env") {
      if (!valid_env_name(value)) return bad_spec(spec, fmt::format("key_env '{}' is not a variable name", value));
      out.key_env = std::string(value);
    } else if (key == "batch") {
      auto v = parse_int(spec, key, value, 1, 2048);
      if (!v) return v.take_error();
      out.batch = *v;
    } else if (key == "dims") {
      auto v = parse_int(spec, key, value, 1, 65536);
      if (!v) return v.take_error();
      out.dimensions = *v;
    } else if (key == "timeout") {
      auto v = parse_int(spec, key, value, 1, 3600);
      if (!v) return v.take_error();
      out.timeout_s = *v;
    } else if (key == "connect_timeout") {
      auto v = parse_int(spec, key, value, 1, 600);
      if (!v) return v.take_error();
      out.connect_timeout_s = *v;
    } else if (key == "retries") {
      auto v = parse_int(spec, key, value, 0, 10);
      if (!v) return v.take_error();
      out.retries = *v;
    } else {
      return bad_spec(spec, fmt::format("unknown option '{}' (known: key_env, batch, dims, timeout, connect_timeout, "
                                        "retries)",
                                        key));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return {};
}

Result<EmbedderSpec> parse_openai(const std::string& spec, std::string_view rest) {
  EmbedderSpec out;
  out.kind = EmbedderSpec::Kind::kOpenAI;
  const std::size_t hash = rest.rfind('#');
  if (hash == std::string_view::npos) {
    return bad_spec(spec, "an openai embedder is written 'openai:<base url>#<model>', e.g. "
                          "'openai:https://api.openai.com/v1#text-embedding-3-small'");
  }
  std::string_view url = rest.substr(0, hash), model = rest.substr(hash + 1);
  if (!starts_with(url, "http://") && !starts_with(url, "https://")) {
    return bad_spec(spec, "the base URL must start with http:// or https://");
  }
  const std::size_t scheme = url.find("://") + 3;
  while (url.size() > scheme && url.back() == '/') url.remove_suffix(1);
  const std::string_view host = url.substr(scheme);
  if (host.empty() || host.front() == '/' || url.find_first_of(" \t\r\n?#") != std::string_view::npos) {
    return bad_spec(spec, "the base URL has no host or holds spaces, '?' or '#'");
  }
  const std::size_t q = model.find('?');
  if (q != std::string_view::npos) {
    HEARTH_TRY(parse_openai_options(spec, model.substr(q + 1), out));
    model = model.substr(0, q);
  }
  if (model.empty() || model.find_first_of(" \t\r\n") != std::string_view::npos) {
    return bad_spec(spec, "the model name after '#' is empty or holds spaces");
  }
  out.base_url = std::string(url);
  out.model = std::string(model);
  return out;
}

}  // namespace

std::string EmbedderSpec::canonical() const {
  switch (kind) {
    case Kind::kStatic:
      return StaticEmbedder::name_of(static_version);
    case Kind::kGguf:
      return "gguf:" + model;
    case Kind::kOpenAI:
      break;
  }
  const EmbedderSpec defaults;
  std::string opts;
  auto add = [&opts](const std::string& kv) { opts += (opts.empty() ? "?" : "&") + kv; };
  if (!key_env.empty() && key_env != kDefaultApiKeyEnv) add("key_env=" + key_env);
  if (batch != defaults.batch) add(fmt::format("batch={}", batch));
  if (dimensions != 0) add(fmt::format("dims={}", dimensions));
  if (timeout_s != defaults.timeout_s) add(fmt::format("timeout={}", timeout_s));
  if (connect_timeout_s != defaults.connect_timeout_s) add(fmt::format("connect_timeout={}", connect_timeout_s));
  if (retries != defaults.retries) add(fmt::format("retries={}", retries));
  return fmt::format("openai:{}#{}{}", base_url, model, opts);
}

Result<EmbedderSpec> parse_embedder_spec(const std::string& spec) {
  if (spec.empty() || spec == "static" || spec == "static:glove-100d" || spec == StaticEmbedder::kName) {
    return EmbedderSpec{};
  }
  if (spec == StaticEmbedder::kNameV1) {
    EmbedderSpec v1;
    v1.static_version = StaticVersion::kAverage;
    return v1;
  }
  if (starts_with(spec, "static:")) {
    return bad_spec(spec, fmt::format("the static embedder is '{}' (or 'static'; '{}' for the first version)",
                                      StaticEmbedder::kName, StaticEmbedder::kNameV1));
  }
  if (starts_with(spec, "gguf:")) {
    EmbedderSpec out;
    out.kind = EmbedderSpec::Kind::kGguf;
    out.model = spec.substr(5);
    if (out.model.empty() || out.model.find_first_of(" \t\r\n") != std::string::npos) {
      return bad_spec(spec, "write 'gguf:<model id>' with a catalog model id or alias");
    }
    return out;
  }
  if (starts_with(spec, "openai:")) return parse_openai(spec, std::string_view(spec).substr(7));
  return bad_spec(spec, "unknown kind; use 'static', 'gguf:<model id>' or 'openai:<base url>#<model>'");
}

namespace {

Result<std::unique_ptr<Embedder>> build(const std::string& spec_text, const EmbedderEnv& env, int known_dimensions,
                                        const std::string& name) {
  auto spec = parse_embedder_spec(spec_text);
  if (!spec) return spec.take_error();
  switch (spec->kind) {
    case EmbedderSpec::Kind::kStatic: {
      if (!env.static_vectors) {
        return unavailable(fmt::format("embedder '{}' needs the static word vectors, which are not loaded here",
                                       spec_text));
      }
      auto tokenizer = TextTokenizer::create();
      if (!tokenizer) return tokenizer.take_error();
      return std::unique_ptr<Embedder>(
          new OwnedStaticEmbedder(*env.static_vectors, spec->static_version, std::move(*tokenizer)));
    }
    case EmbedderSpec::Kind::kGguf: {
      if (!env.models) {
        return unavailable(fmt::format("embedder '{}' needs the model catalog, which is not available here", spec_text));
      }
      auto e = ModelEmbedder::create(*env.models, spec->model, known_dimensions, name);
      if (!e) return e.take_error();
      return std::unique_ptr<Embedder>(std::move(*e));
    }
    case EmbedderSpec::Kind::kOpenAI:
      break;
  }
  const std::string var = spec->key_env.empty() ? kDefaultApiKeyEnv : spec->key_env;
  const char* key = env.getenv ? env.getenv(var.c_str()) : std::getenv(var.c_str());
  if (!spec->key_env.empty() && (key == nullptr || *key == '\0')) {
    return invalid_argument(fmt::format("embedder '{}': the environment variable {} (key_env) is not set", spec_text,
                                        var),
                            "embedder");
  }
  RemoteEmbedderOptions o;
  o.base_url = spec->base_url;
  o.model = spec->model;
  o.api_key = key ? key : "";
  o.name = name.empty() ? spec->canonical() : name;
  o.batch_size = spec->batch;
  o.dimensions = spec->dimensions ? spec->dimensions : known_dimensions;
  o.timeout = std::chrono::seconds(spec->timeout_s);
  o.connect_timeout = std::chrono::seconds(spec->connect_timeout_s);
  o.max_retries = spec->retries;
  o.sleep = env.sleep;
  return std::unique_ptr<Embedder>(new RemoteEmbedder(std::move(o)));
}

}  // namespace

Result<std::unique_ptr<Embedder>> make_embedder(const std::string& spec, const EmbedderEnv& env) {
  return build(spec, env, 0, {});
}

Result<std::unique_ptr<Embedder>> make_collection_embedder(const CollectionInfo& collection, const EmbedderEnv& env) {
  auto e = build(collection.embedder, env, collection.dimensions, collection.embedder);
  if (!e) {
    Error err = e.take_error();
    err.message = fmt::format("collection '{}': {}", collection.name, err.message);
    return err;
  }
  return e;
}

Result<int> probe_dimensions(Embedder& embedder) {
  if (embedder.dimensions() > 0) return embedder.dimensions();
  const std::string probe[] = {"dimension probe"};
  auto v = embedder.embed(probe);
  if (!v) return v.take_error();
  if (embedder.dimensions() <= 0) {
    return internal_error(fmt::format("embedder '{}' did not learn its dimensions from a probe", embedder.name()));
  }
  return embedder.dimensions();
}

}  // namespace hearth::knowledge
