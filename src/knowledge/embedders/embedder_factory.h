// Embedders from a spec string (issue #3): what a collection stores in CollectionInfo::embedder,
// and what `hearth kb create --embedder SPEC` and the HTTP API take.
//
// Specs:
//   static                      the default: GloVe 6B 100-d word vectors (StaticEmbedder), version 2
//   static:glove-100d           (all-but-the-top). The canonical name is "static:glove-6b-100d-v2".
//   static:glove-6b-100d-v2
//   static:glove-6b-100d        version 1 (the plain weighted average), as stored by collections
//                               made before version 2; their queries are embedded the same way.
//   gguf:<model>                a catalog embedding model (id or alias) run by the engine
//                               (ModelEmbedder). Canonical form: "gguf:<catalog id>".
//   openai:<base url>#<model>[?<options>]
//                               an OpenAI-compatible POST <base url>/embeddings (RemoteEmbedder),
//                               e.g. "openai:https://api.openai.com/v1#text-embedding-3-small".
//                               <base url> is http:// or https://, without a trailing '/'.
//                               Options, joined by '&':
//                                 key_env=VAR        the API key's environment variable (default
//                                                    HEARTH_EMBEDDINGS_API_KEY; unset: no
//                                                    Authorization header, but a key_env named
//                                                    explicitly must be set)
//                                 batch=N            texts per request, 1..2048 (default 64)
//                                 dims=N             expected dimensions (default: learned from
//                                                    the first response)
//                                 timeout=S          whole request, seconds (default 120)
//                                 connect_timeout=S  seconds (default 10)
//                                 retries=N          extra attempts on connection errors, 429
//                                                    and 5xx, 0..10 (default 4)
//                               The canonical form lists only options that differ from their
//                               defaults, in the order above.
// A collection keeps the canonical spec, so every later `add`, `sync` and `search` rebuilds the
// same embedder from it (make_collection_embedder). The key itself is never part of a spec.
//
// Dimensions: the static embedder knows them; a gguf or openai embedder learns them from its first
// result unless the spec (dims=) or the collection gives them, so dimensions() may be 0 right after
// make_embedder. Creating a collection therefore calls probe_dimensions() first.
//
// Thread-safety: the functions are thread-safe. Each returned Embedder is a fresh instance owned
// by the caller and used by one thread at a time (the static one owns its own TextTokenizer, as
// ICU break iterators are not thread-safe); make one per thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "knowledge/knowledge_base.h"
#include "knowledge/static_embedder.h"
#include "knowledge/store.h"

namespace hearth {
class ModelRegistry;
}

namespace hearth::knowledge {

struct EmbedderSpec {
  enum class Kind { kStatic, kGguf, kOpenAI };
  Kind kind = Kind::kStatic;
  StaticVersion static_version = StaticVersion::kAllButTheTop;  // static
  std::string model;     // gguf: catalog id or alias; openai: the remote model
  std::string base_url;  // openai: without a trailing '/'
  std::string key_env;   // openai: empty means HEARTH_EMBEDDINGS_API_KEY, optional
  int batch = 64;
  int dimensions = 0;    // 0: learn
  int timeout_s = 120;
  int connect_timeout_s = 10;
  int retries = 4;

  // The spec in canonical form (see above).
  std::string canonical() const;
};

inline constexpr const char* kDefaultEmbedderSpec = StaticEmbedder::kName;
inline constexpr const char* kDefaultApiKeyEnv = "HEARTH_EMBEDDINGS_API_KEY";

// invalid_argument naming the spec (param "embedder") when it is unknown or malformed.
Result<EmbedderSpec> parse_embedder_spec(const std::string& spec);

// What the embedders need from their surroundings. Pointers may be null where a context has no
// such thing (the CLI loads the GloVe file only for static specs; a process without a model
// catalog has no registry); a spec that needs a missing one gets a clear error.
struct EmbedderEnv {
  const StaticEmbedder* static_vectors = nullptr;  // must outlive the embedders made
  ModelRegistry* models = nullptr;                 // must outlive the embedders made
  // Environment lookup for API keys; null: std::getenv.
  std::function<const char*(const char*)> getenv;
  // How RemoteEmbedder waits between retries; null: sleeping. Tests make it instant.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// A fresh embedder for `spec`. Does no network I/O and loads no model (a gguf spec is only
// resolved against the catalog, so an unknown model fails here).
Result<std::unique_ptr<Embedder>> make_embedder(const std::string& spec, const EmbedderEnv& env);

// The embedder a collection was built with: its stored spec, with its dimensions expected, and
// name() equal to the stored spec, so KnowledgeBase accepts it.
Result<std::unique_ptr<Embedder>> make_collection_embedder(const CollectionInfo& collection, const EmbedderEnv& env);

// The embedder's dimensions, embedding one short probe text first when they are not known yet.
Result<int> probe_dimensions(Embedder& embedder);

}  // namespace hearth::knowledge
