#include "cli/kb_commands.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/log.h"
#include "knowledge/embedders/embedder_factory.h"
#include "knowledge/fetch/curl_fetcher.h"
#include "knowledge/knowledge_base.h"
#include "knowledge/static_embedder.h"
#include "models/catalog.h"
#include "models/registry.h"

namespace hearth {
namespace fs = std::filesystem;
using namespace hearth::knowledge;

namespace {

int fail(const Error& e) {
  fmt::print(stderr, "error: {}\n", e.message);
  return 1;
}

std::string default_db(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("HEARTH_KB_DB")) return env;
  return "data/knowledge.sqlite";
}

std::string default_embeddings(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("HEARTH_STATIC_EMBEDDINGS")) return env;
  const char* home = std::getenv("HOME");
  return fmt::format("{}/.cache/hearth/embeddings/glove-6b-100d-v1.bin", home ? home : ".");
}

void print_progress(std::size_t done, std::size_t total, const std::string& uri) {
  if (!isatty(STDERR_FILENO)) return;
  const int width = 30;
  const int filled = total ? static_cast<int>(width * done / total) : width;
  fmt::print(stderr, "\r[{}{}] {}/{} {:<40.40}", std::string(static_cast<std::size_t>(filled), '#'),
             std::string(static_cast<std::size_t>(width - filled), ' '), done, total,
             fs::path(uri).filename().string());
  if (done == total) fmt::print(stderr, "\n");
}

// The model catalog for a gguf embedder, found as `hearth run` and `hearth serve` find theirs:
// --config, $HEARTH_CONFIG or ./config/hearth.toml, plus any --model files.
Result<Config> catalog_for(const KbArgs& a, const std::string& spec) {
  const std::string path = default_config_path(a.config);
  Config config;
  if (!path.empty()) {
    auto loaded = load_config(path);
    if (!loaded) return loaded.take_error();
    config = std::move(*loaded);
  } else if (a.models.empty()) {
    return not_found(fmt::format("embedder '{}' needs the model catalog: pass --config FILE (or set HEARTH_CONFIG), "
                                 "or --model FILE.gguf",
                                 spec));
  } else {
    config.source = "<command line>";
    config.models.dir = fs::absolute("models").string();
  }
  for (const std::string& m : a.models) {
    ModelEntry e = entry_for_file(m);
    if (config.find(e.id)) return invalid_argument(fmt::format("model id '{}' is already in the catalog", e.id));
    config.entries.push_back(std::move(e));
  }
  return config;
}

int print_report(const SyncReport& r) {
  const SyncCounters& c = r.counters;
  fmt::print("documents: {} added, {} changed, {} removed, {} unchanged, {} failed\n", c.documents_added,
             c.documents_changed, c.documents_removed, c.documents_unchanged, c.documents_failed);
  fmt::print("chunks: {} embedded, {} reused\n", c.chunks_embedded, c.chunks_reused);
  for (const DocumentError& e : r.errors) fmt::print(stderr, "skipped {}: {}\n", e.uri, e.message);
  return 0;
}

}  // namespace

int cmd_kb(const std::string& action, const KbArgs& a) {
  std::vector<std::string> allow;
  if (const std::string cfg = default_config_path(a.config); !cfg.empty()) {
    if (auto loaded = load_config(cfg)) allow = loaded->outbound.allow;  // a broken config is reported where it is needed
  }
  if (auto applied = apply_outbound_rules(std::move(allow)); !applied) return fail(applied.error());
  const std::string db = default_db(a.db);
  std::error_code ec;
  if (fs::path(db).has_parent_path()) fs::create_directories(fs::path(db).parent_path(), ec);
  auto store = open_sqlite_store(db);
  if (!store) return fail(store.error());

  if (action == "ls" && a.collection.empty()) {
    auto cols = (*store)->list_collections();
    if (!cols) return fail(cols.error());
    for (const CollectionInfo& c : *cols) {
      fmt::print("{:<24} {:>6} documents {:>8} chunks  {} ({}-d)\n", c.name, c.documents, c.chunks, c.embedder,
                 c.dimensions);
    }
    return 0;
  }
  if (action == "ls") {
    auto c = (*store)->collection(a.collection);
    if (!c) return fail(c.error());
    auto docs = (*store)->documents(c->id);
    if (!docs) return fail(docs.error());
    for (const StoredDoc& d : *docs) fmt::print("{}\t{}\n", d.id, d.uri);
    return 0;
  }
  if (action == "rm") {
    if (a.paths.empty()) {
      auto st = (*store)->delete_collection(a.collection);
      if (!st) return fail(st.error());
      fmt::print("deleted collection '{}'\n", a.collection);
      return 0;
    }
    auto c = (*store)->collection(a.collection);
    if (!c) return fail(c.error());
    auto docs = (*store)->documents(c->id);
    if (!docs) return fail(docs.error());
    int status = 0;
    for (const std::string& p : a.paths) {
      const std::string abs = fs::weakly_canonical(fs::absolute(p, ec), ec).string();
      auto it = std::find_if(docs->begin(), docs->end(), [&](const StoredDoc& d) { return d.uri == p || d.uri == abs; });
      if (it == docs->end()) {
        fmt::print(stderr, "error: no document '{}' in '{}'\n", p, a.collection);
        status = 1;
        continue;
      }
      auto st = (*store)->remove_document(it->id);
      if (!st) return fail(st.error());
      fmt::print("removed {}\n", it->uri);
    }
    return status;
  }

  // The rest needs the collection's embedder: the spec given to create, else the stored one.
  if (a.chunk_tokens < 16 || a.overlap_tokens < 0 || a.overlap_tokens >= a.chunk_tokens) {
    return fail(invalid_argument("--chunk-tokens must be at least 16 and above --overlap-tokens"));
  }
  std::optional<CollectionInfo> existing;
  if (action == "create") {
    if ((*store)->collection(a.collection)) {
      return fail(invalid_argument(fmt::format("collection '{}' already exists", a.collection)));
    }
  } else {
    auto c = (*store)->collection(a.collection);
    if (!c) return fail(c.error());
    existing = std::move(*c);
  }
  const std::string spec_text = existing ? existing->embedder : (a.embedder.empty() ? kDefaultEmbedderSpec : a.embedder);
  auto spec = parse_embedder_spec(spec_text);
  if (!spec) return fail(spec.error());

  // What the embedder needs; declared before it, so they outlive it.
  EmbedderEnv env;
  std::unique_ptr<StaticEmbedder> static_vectors;
  std::optional<Config> config;
  std::unique_ptr<ModelRegistry> registry;
  if (spec->kind == EmbedderSpec::Kind::kStatic) {
    auto loaded = StaticEmbedder::load(default_embeddings(a.embeddings));
    if (!loaded) return fail(loaded.error());
    static_vectors = std::move(*loaded);
    env.static_vectors = static_vectors.get();
  } else if (spec->kind == EmbedderSpec::Kind::kGguf) {
    init_logging("warn");  // model loading logs go to stderr, not into --json output
    auto cfg = catalog_for(a, spec_text);
    if (!cfg) return fail(cfg.error());
    config = std::move(*cfg);
    registry = std::make_unique<ModelRegistry>(*config);
    env.models = registry.get();
  }
  auto embedder = existing ? make_collection_embedder(*existing, env) : make_embedder(spec_text, env);
  if (!embedder) return fail(embedder.error());
  const std::unique_ptr<UrlFetcher> fetcher = make_curl_fetcher();  // URL sources; outlives kb
  KnowledgeBase kb(**store, **embedder,
                   ChunkerOptions{static_cast<std::size_t>(a.chunk_tokens), static_cast<std::size_t>(a.overlap_tokens)});
  kb.set_url_fetcher(fetcher.get());

  if (action == "create") {
    auto dims = probe_dimensions(**embedder);  // a remote or model embedder learns them now
    if (!dims) return fail(dims.error());
    auto c = kb.create_collection(a.collection);
    if (!c) return fail(c.error());
    fmt::print("created collection '{}' ({}, {} dimensions) in {}\n", c->name, c->embedder, c->dimensions, db);
    return 0;
  }
  if (action == "add") {
    SyncReport total;
    for (const std::string& p : a.paths) {
      auto r = kb.add_source(a.collection, p, a.include, a.exclude, print_progress);
      if (!r) return fail(r.error());
      SyncCounters& t = total.counters;
      const SyncCounters& c = r->counters;
      t.documents_added += c.documents_added;
      t.documents_changed += c.documents_changed;
      t.documents_removed += c.documents_removed;
      t.documents_unchanged += c.documents_unchanged;
      t.documents_failed += c.documents_failed;
      t.chunks_embedded += c.chunks_embedded;
      t.chunks_reused += c.chunks_reused;
      total.errors.insert(total.errors.end(), r->errors.begin(), r->errors.end());
    }
    return print_report(total);
  }
  if (action == "sync") {
    auto r = kb.sync(a.collection, print_progress);
    if (!r) return fail(r.error());
    return print_report(*r);
  }
  if (action == "search") {
    SearchOptions o;
    o.top_k = static_cast<std::size_t>(std::max(0, a.top_k));
    if (a.alpha >= 0) o.alpha = a.alpha;
    o.rrf = a.rrf;
    auto hits = kb.search(a.collection, a.query, o);
    if (!hits) return fail(hits.error());
    if (a.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const SearchHit& h : *hits) {
        out.push_back({{"score", h.score},
                       {"keyword", h.keyword ? nlohmann::json(*h.keyword) : nlohmann::json()},
                       {"semantic", h.semantic ? nlohmann::json(*h.semantic) : nlohmann::json()},
                       {"document", h.hit.document_uri},
                       {"title", h.hit.document_title},
                       {"heading_path", h.hit.chunk.heading_path},
                       {"char_start", h.hit.chunk.char_start},
                       {"char_end", h.hit.chunk.char_end},
                       {"page", h.hit.chunk.page},
                       {"text", h.hit.chunk.text}});
      }
      fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
      return 0;
    }
    int rank = 0;
    for (const SearchHit& h : *hits) {
      fmt::print("{}. {:.4f}  {}{}{}\n   {}{}\n", ++rank, h.score, h.hit.document_title,
                 h.hit.chunk.heading_path.empty() ? "" : " > ", h.hit.chunk.heading_path, h.hit.document_uri,
                 h.hit.chunk.page ? fmt::format(" (page {})", h.hit.chunk.page) : "");
      std::string excerpt = h.hit.chunk.text.substr(0, 200);
      for (char& ch : excerpt) {
        if (ch == '\n') ch = ' ';
      }
      fmt::print("   {}\n", excerpt);
    }
    return 0;
  }
  return fail(invalid_argument(fmt::format("unknown kb action '{}'", action)));
}

}  // namespace hearth
