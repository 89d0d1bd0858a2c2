#include "knowledge/knowledge_base.h"

#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/sha256.h"
#include "knowledge/extract.h"
#include "knowledge/static_embedder.h"
#include "knowledge/sync_plan.h"
#include "knowledge/text_tokenizer.h"

namespace hearth::knowledge {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxFileBytes = 64u << 20;

class StaticAdapter final : public Embedder {
 public:
  StaticAdapter(const StaticEmbedder& e, TextTokenizer& t, StaticVersion v) : e_(e), t_(t), v_(v) {}
  std::string name() const override { return StaticEmbedder::name_of(v_); }
  int dimensions() const override { return e_.dimensions(); }
  Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) override {
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (const std::string& t : texts) out.push_back(e_.embed(t, t_, v_));
    return out;
  }

 private:
  const StaticEmbedder& e_;
  TextTokenizer& t_;
  StaticVersion v_;
};

std::vector<std::string> split_globs(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = s.find(',', start);
    std::string g = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    g.erase(0, g.find_first_not_of(' '));
    g.erase(g.find_last_not_of(' ') + 1);
    if (!g.empty()) out.push_back(g);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool matches_any(const std::vector<std::string>& globs, const std::string& rel) {
  const std::string base = fs::path(rel).filename().string();
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) {
    return fnmatch(g.c_str(), rel.c_str(), 0) == 0 || fnmatch(g.c_str(), base.c_str(), 0) == 0;
  });
}

bool supported(const fs::path& p) {
  std::string ext = p.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const char* kExt[] = {".txt", ".text", ".rst", ".log", ".csv", ".md", ".markdown",
                               ".html", ".htm", ".xhtml", ".pdf", ".docx"};
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; });
}

Result<std::string> read_file(const fs::path& p, std::size_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (ec) return invalid_argument(fmt::format("'{}': {}", p.string(), ec.message()), "file");
  if (size > max_bytes) {
    return invalid_argument(fmt::format("'{}' is {} bytes, over the {}-byte limit", p.string(), size, max_bytes),
                            "file");
  }
  std::ifstream f(p, std::ios::binary);
  if (!f) return invalid_argument(fmt::format("'{}' cannot be read", p.string()), "file");
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string join_path(const std::vector<std::string>& headings) {
  std::string out;
  for (const std::string& h : headings) {
    if (!out.empty()) out += " > ";
    out += h;
  }
  return out;
}

std::int64_t unix_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
}

bool changed(const SyncCounters& c) { return c.documents_added + c.documents_changed + c.documents_removed > 0; }

bool is_url(const std::string& s) { return s.starts_with("http://") || s.starts_with("https://"); }

bool under(const std::string& uri, const std::string& root) {
  if (is_url(root)) return uri == root;  // a URL source is exactly one page
  return uri == root || (uri.size() > root.size() && uri.compare(0, root.size(), root) == 0 && uri[root.size()] == '/');
}

}  // namespace

std::unique_ptr<Embedder> make_static_embedder(const StaticEmbedder& embedder, TextTokenizer& tokenizer,
                                               StaticVersion version) {
  return std::make_unique<StaticAdapter>(embedder, tokenizer, version);
}

std::unique_ptr<Embedder> make_static_embedder(const StaticEmbedder& embedder, TextTokenizer& tokenizer) {
  return make_static_embedder(embedder, tokenizer, StaticVersion::kAllButTheTop);
}

KnowledgeBase::KnowledgeBase(KnowledgeStore& store, Embedder& embedder, ChunkerOptions chunking)
    : KnowledgeBase(store, embedder, chunking, std::make_shared<VectorIndexCache>(store.path())) {}

KnowledgeBase::KnowledgeBase(KnowledgeStore& store, Embedder& embedder, ChunkerOptions chunking,
                             std::shared_ptr<VectorIndexCache> indexes)
    : KnowledgeBase(store, embedder, chunking, std::move(indexes), std::make_shared<KeywordIndexCache>()) {}

KnowledgeBase::KnowledgeBase(KnowledgeStore& store, Embedder& embedder, ChunkerOptions chunking,
                             std::shared_ptr<VectorIndexCache> indexes,
                             std::shared_ptr<KeywordIndexCache> keyword_indexes)
    : store_(store),
      embedder_(embedder),
      chunker_(chunking),
      indexes_(std::move(indexes)),
      keyword_indexes_(std::move(keyword_indexes)) {}

Result<CollectionInfo> KnowledgeBase::create_collection(const std::string& name) {
  return store_.create_collection(name, embedder_.name(), embedder_.dimensions());
}

Status KnowledgeBase::delete_collection(const std::string& name) {
  auto c = store_.collection(name);
  if (!c) return c.take_error();
  HEARTH_TRY(store_.delete_collection(name));
  indexes_->drop(c->id);
  keyword_indexes_->drop(c->id);
  return {};
}

Status KnowledgeBase::check_embedder(const CollectionInfo& c) const {
  if (embedder_.name() != c.embedder || embedder_.dimensions() != c.dimensions) {
    return invalid_argument(fmt::format("collection '{}' was built with {} ({} dimensions), not {}", c.name,
                                        c.embedder, c.dimensions, embedder_.name()));
  }
  return {};
}

void KnowledgeBase::maintain_index(const std::string& collection, bool changed) {
  auto c = store_.collection(collection);
  if (!c) return;
  // An existing index is kept current; a large collection without one gets one.
  const bool big = c->chunks >= static_cast<std::int64_t>(kIndexAfterSyncMinChunks);
  if (indexes_->has_index(c->id) ? changed : big) {
    auto st = indexes_->refresh(store_, *c);
    // Not fatal: the next search reconciles the index with the store again.
    if (!st) spdlog::warn("knowledge: the vector index of '{}' is not up to date: {}", c->name, st.error().message);
  }
  // The in-memory keyword index is kept current only where one exists (it is built by the first
  // search that wants it, and lives as long as this process).
  if (changed && keyword_indexes_->has_index(c->id)) {
    auto st = keyword_indexes_->refresh(store_, *c);
    if (!st) spdlog::warn("knowledge: the keyword index of '{}' is not up to date: {}", c->name, st.error().message);
  }
}

Status KnowledgeBase::build_index(const std::string& collection) {
  auto c = store_.collection(collection);
  if (!c) return c.take_error();
  return indexes_->refresh(store_, *c);
}

Result<SyncReport> KnowledgeBase::put_document(const std::string& collection, const std::string& uri,
                                               const std::string& bytes, const std::string& metadata_json) {
  auto c = store_.collection(collection);
  if (!c) return c.take_error();
  HEARTH_TRY(check_embedder(*c));
  if (uri.empty()) return invalid_argument("a document needs a URI", "uri");
  if (bytes.size() > kMaxFileBytes) {
    return invalid_argument(
        fmt::format("the document is {} bytes, over the {}-byte limit", bytes.size(), kMaxFileBytes), "file");
  }
  auto stored = store_.documents(c->id);
  if (!stored) return stored.take_error();
  const auto it = std::find_if(stored->begin(), stored->end(), [&](const StoredDoc& d) { return d.uri == uri; });
  SyncReport report;
  auto st = index_document(*c, uri, bytes, sha256_hex(bytes), it == stored->end() ? 0 : it->id, report, metadata_json);
  if (!st) {
    // A file that cannot be extracted is the document's problem (param "file"); bad metadata,
    // embedder and store failures are errors of the request.
    if (st.error().param == "file") return report;
    return st.take_error();
  }
  ++(it == stored->end() ? report.counters.documents_added : report.counters.documents_changed);
  // The index is not saved for one document: the next search reconciles it in memory (the
  // revision moved), and the next sync or load saves it.
  return report;
}

Result<SyncReport> KnowledgeBase::add_source(const std::string& collection, const std::string& path,
                                             const std::string& include, const std::string& exclude,
                                             const SyncProgress& progress) {
  SourceOptions options;
  options.include = include;
  options.exclude = exclude;
  return add_source(collection, path, options, progress);
}

Result<SyncReport> KnowledgeBase::add_source(const std::string& collection, const std::string& path,
                                             const SourceOptions& options, const SyncProgress& progress) {
  auto c = store_.collection(collection);
  if (!c) return c.take_error();
  std::string uri = path;
  if (is_url(path)) {
    if (!fetcher_) return invalid_argument(fmt::format("'{}': URL sources are not available here", path), "path");
  } else {
    auto abs = paths_.resolve(path);
    if (!abs) return abs.take_error();
    uri = abs->string();
  }
  SourceRecord src{0, uri, options.include, options.exclude, options.interval_seconds};
  auto id = store_.put_source(c->id, src);
  if (!id) return id.take_error();
  src.id = *id;
  SyncReport report;
  HEARTH_TRY(sync_source(*c, src, report, progress, options.max_document_bytes));
  maintain_index(collection, changed(report.counters));
  return report;
}

Result<SyncReport> KnowledgeBase::sync(const std::string& collection, const SyncProgress& progress) {
  auto c = store_.collection(collection);
  if (!c) return c.take_error();
  auto sources = store_.sources(c->id);
  if (!sources) return sources.take_error();
  SyncReport report;
  for (const SourceRecord& s : *sources) HEARTH_TRY(sync_source(*c, s, report, progress, kMaxFileBytes));
  maintain_index(collection, changed(report.counters));
  return report;
}

Status KnowledgeBase::sync_source(const CollectionInfo& c, const SourceRecord& src, SyncReport& report,
                                  const SyncProgress& progress, std::size_t max_document_bytes) {
  HEARTH_TRY(check_embedder(c));
  // The source's files now (a source that vanished counts as empty: its documents go).
  const fs::path root(src.uri);
  const auto include = split_globs(src.include);
  const auto exclude = split_globs(src.exclude);
  std::vector<SourceDoc> current;
  std::map<std::string, std::string> contents;  // uri -> bytes, for the files that will be indexed
  std::map<std::string, std::string> names;     // uri -> the file name extraction goes by (URLs)
  std::vector<fs::path> files;
  std::error_code ec;
  if (is_url(src.uri)) {
    fetch_url(src.uri, max_document_bytes, current, contents, names, report);
  } else if (auto allowed = paths_.resolve(root); !allowed && allowed.error().code == ErrorCode::kPermissionDenied) {
    return allowed.take_error();  // recorded before the directory was disallowed: nothing is read
  } else if (fs::is_regular_file(root, ec)) {
    files.push_back(root);
  } else if (fs::is_directory(root, ec)) {
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && supported(it->path())) files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    const std::string rel = f == root ? f.filename().string() : fs::relative(f, root, ec).string();
    if (!include.empty() && !matches_any(include, rel)) continue;
    if (matches_any(exclude, rel)) continue;
    if (auto inside = paths_.resolve(f); !inside) {  // a symlink leading out of the allowed directories
      report.errors.push_back({f.string(), inside.error().message});
      ++report.counters.documents_failed;
      continue;
    }
    auto bytes = read_file(f, max_document_bytes);
    if (!bytes) {
      report.errors.push_back({f.string(), bytes.error().message});
      ++report.counters.documents_failed;
      continue;
    }
    current.push_back({f.string(), sha256_hex(*bytes)});
    contents[f.string()] = std::move(*bytes);
  }
  auto stored_all = store_.documents(c.id);
  if (!stored_all) return stored_all.take_error();
  std::vector<StoredDoc> stored;
  for (StoredDoc& d : *stored_all) {
    if (under(d.uri, src.uri)) stored.push_back(std::move(d));
  }
  // A file that failed to read keeps its stored version: leave it out of the removal plan.
  std::erase_if(stored, [&](const StoredDoc& d) {
    return std::any_of(report.errors.begin(), report.errors.end(), [&](const DocumentError& e) { return e.uri == d.uri; });
  });
  auto plan = plan_sync(stored, current);
  if (!plan) return plan.take_error();
  report.counters.documents_unchanged += plan->unchanged;

  const std::size_t total = plan->added.size() + plan->changed.size() + plan->removed.size();
  std::size_t done = 0;
  auto step = [&](const std::string& uri) {
    if (progress) progress(++done, total, uri);
  };
  for (const SourceDoc& d : plan->added) {
    if (index_document(c, d.uri, contents[d.uri], d.content_hash, 0, report, "{}", names[d.uri])) {
      ++report.counters.documents_added;
    }
    step(d.uri);
  }
  for (const auto& [old, now] : plan->changed) {
    if (index_document(c, now.uri, contents[now.uri], now.content_hash, old.id, report, "{}", names[now.uri])) {
      ++report.counters.documents_changed;
    }
    step(now.uri);
  }
  for (const StoredDoc& d : plan->removed) {
    HEARTH_TRY(store_.remove_document(d.id));
    ++report.counters.documents_removed;
    step(d.uri);
  }
  return src.id == 0 ? Status{} : store_.mark_source_synced(src.id, unix_now());
}

bool KnowledgeBase::fetch_url(const std::string& url, std::size_t max_bytes, std::vector<SourceDoc>& current,
                              std::map<std::string, std::string>& contents, std::map<std::string, std::string>& names,
                              SyncReport& report) {
  if (!fetcher_) {
    report.errors.push_back({url, "URL sources are not available here"});
    ++report.counters.documents_failed;
    return false;
  }
  FetchLimits limits = fetch_limits_;
  limits.max_bytes = std::min(limits.max_bytes, max_bytes);
  auto page = fetcher_->fetch(url, limits);
  if (!page) {
    report.errors.push_back({url, page.error().message});
    ++report.counters.documents_failed;
    return false;
  }
  current.push_back({url, sha256_hex(page->bytes)});
  names[url] = fetched_file_name(page->final_url, page->content_type);
  contents[url] = std::move(page->bytes);
  return true;
}

// Returns false (and records why) when the document could not be indexed; store failures too.
Status KnowledgeBase::index_document(const CollectionInfo& c, const std::string& uri, const std::string& bytes,
                                     const std::string& hash, std::int64_t replaces, SyncReport& report,
                                     const std::string& metadata_json, const std::string& file_name) {
  auto fail = [&](const Error& e) {
    report.errors.push_back({uri, e.message});
    ++report.counters.documents_failed;
    return e;
  };
  auto doc = extract_document(file_name.empty() ? fs::path(uri).filename().string() : file_name, bytes);
  if (!doc) return fail(doc.error());
  std::vector<ChunkRecord> records;
  std::vector<std::string> hashes, to_embed;
  for (Chunk& ch : chunker_.chunk(doc->blocks)) {
    ChunkRecord r;
    r.heading_path = join_path(ch.heading_path);
    r.text = std::move(ch.text);
    r.char_start = static_cast<std::int64_t>(ch.char_start);
    r.char_end = static_cast<std::int64_t>(ch.char_end);
    r.page = ch.page;
    // What is embedded includes the title and headings, so the hash covers them too.
    const std::string embed_text = doc->title + "\n" + r.heading_path + "\n" + r.text;
    r.text_hash = sha256_hex(embed_text);
    hashes.push_back(r.text_hash);
    records.push_back(std::move(r));
    to_embed.push_back(embed_text);
  }
  std::vector<StoredChunk> stored;
  if (replaces != 0) {
    auto s = store_.chunk_hashes(replaces);
    if (!s) return fail(s.error());
    stored = std::move(*s);
  }
  const ChunkPlan cp = plan_chunks(stored, hashes);
  std::vector<std::string> texts;
  for (std::size_t i : cp.embed) texts.push_back(std::move(to_embed[i]));
  auto vectors = embedder_.embed(texts);
  if (!vectors) return fail(vectors.error());
  for (std::size_t k = 0; k < cp.embed.size(); ++k) records[cp.embed[k]].vector = std::move((*vectors)[k]);
  std::vector<std::int64_t> reuse(records.size(), 0);
  for (const auto& [i, id] : cp.reuse) reuse[i] = id;
  auto put = store_.put_document(c.id, {uri, doc->title, hash, metadata_json}, std::move(records), reuse);
  if (!put) return fail(put.error());
  report.counters.chunks_embedded += cp.embed.size();
  report.counters.chunks_reused += cp.reuse.size();
  return {};
}

Result<std::vector<Scored>> KnowledgeBase::vector_candidates(const CollectionInfo& c, const std::string& query,
                                                             const SearchOptions& opt, std::size_t n,
                                                             std::vector<float>& query_vector) {
  HEARTH_TRY(check_embedder(c));
  const std::string q[] = {query};
  ++counters_.query_embeddings;
  auto qv = embedder_.embed(q);
  if (!qv) return qv.take_error();
  if (qv->size() != 1) return internal_error("the embedder returned no vector for the query");
  query_vector = qv->front();
  // The index cannot filter, so a filtered search scans exactly.
  const bool ann = opt.filter.empty() &&
                   (opt.vector_mode == VectorMode::kAnn ||
                    (opt.vector_mode == VectorMode::kAuto && c.chunks >= static_cast<std::int64_t>(opt.exact_below)));
  Result<std::vector<Scored>> found = std::vector<Scored>{};
  if (ann) {
    ++counters_.ann_vector_searches;
    found = indexes_->search(store_, c, qv->front(), n, std::max(opt.ef, n));
  } else {
    ++counters_.exact_vector_searches;
    found = store_.vector_search(c.id, qv->front(), n, opt.filter);
  }
  if (found) std::erase_if(*found, [](const Scored& s) { return s.score <= 0; });  // unrelated or no known words
  return found;
}

double default_alpha(const std::string& embedder) { return embedder.starts_with("static:") ? 0.1 : 0.5; }

bool KnowledgeBase::use_keyword_index(const CollectionInfo& c, const SearchOptions& opt) const {
  // The in-memory index cannot filter, so a filtered search asks FTS5.
  return opt.filter.empty() &&
         (opt.keyword_mode == KeywordMode::kMemory ||
          (opt.keyword_mode == KeywordMode::kAuto && c.chunks >= static_cast<std::int64_t>(opt.exact_below)));
}

Status KnowledgeBase::complete_scores(const CollectionInfo& c, const std::string& query, const SearchOptions& opt,
                                      std::span<const float> query_vector, std::vector<Scored>& keyword,
                                      std::vector<Scored>& semantic) {
  std::unordered_set<std::int64_t> in_keyword, in_semantic;
  for (const Scored& s : keyword) in_keyword.insert(s.id);
  for (const Scored& s : semantic) in_semantic.insert(s.id);
  std::vector<std::int64_t> need_bm25, need_cosine;
  for (const Scored& s : semantic) {
    if (!in_keyword.contains(s.id)) need_bm25.push_back(s.id);
  }
  for (const Scored& s : keyword) {
    if (!in_semantic.contains(s.id)) need_cosine.push_back(s.id);
  }
  if (!need_bm25.empty()) {
    auto scores = use_keyword_index(c, opt) ? keyword_indexes_->scores(store_, c, query, need_bm25)
                                            : store_.keyword_scores(c.id, query, need_bm25);
    if (!scores) return scores.take_error();
    for (std::size_t i = 0; i < need_bm25.size(); ++i) keyword.push_back({need_bm25[i], (*scores)[i]});
  }
  if (!need_cosine.empty()) {
    auto vectors = store_.chunk_vectors(need_cosine);
    if (!vectors) return vectors.take_error();
    // Unrelated (cosine <= 0) counts as 0, as a missing score would.
    for (const ChunkVector& v : *vectors) semantic.push_back({v.id, std::max(0.0, cosine(query_vector, v.vector))});
  }
  return {};
}

Result<std::vector<Scored>> KnowledgeBase::keyword_candidates(const CollectionInfo& c, const std::string& query,
                                                             const SearchOptions& opt, std::size_t n) {
  ++counters_.keyword_searches;
  if (!use_keyword_index(c, opt)) return store_.keyword_search(c.id, query, n, opt.filter);
  ++counters_.indexed_keyword_searches;
  return keyword_indexes_->search(store_, c, query, n);
}

Result<std::vector<double>> KnowledgeBase::rerank(const std::string& query, const SearchOptions& opt,
                                                  std::vector<Fused>& kept, std::vector<ChunkHit>& chunks) {
  if (reranker_ == nullptr) return invalid_argument("rerank needs a reranker: none is configured", "rerank");
  const std::size_t m = std::min(kept.size(), std::max(opt.rerank_candidates, opt.top_k));
  kept.resize(m);
  chunks.resize(m);
  std::vector<std::string> texts;
  for (const ChunkHit& h : chunks) texts.push_back(h.chunk.text);
  auto scores = reranker_->score(query, texts);
  if (!scores) return scores.take_error();
  if (scores->size() != m) return internal_error("the reranker returned a score count unlike its inputs'");
  std::vector<std::size_t> order(m);
  for (std::size_t i = 0; i < m; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return (*scores)[a] > (*scores)[b]; });
  std::vector<Fused> k2;
  std::vector<ChunkHit> c2;
  std::vector<double> s2;
  for (std::size_t i : order) {
    k2.push_back(std::move(kept[i]));
    c2.push_back(std::move(chunks[i]));
    s2.push_back((*scores)[i]);
  }
  kept = std::move(k2);
  chunks = std::move(c2);
  return s2;
}

Result<std::vector<SearchHit>> KnowledgeBase::search(const std::string& collection, const std::string& query,
                                                     const SearchOptions& opt) {
  auto c = store_.collection(collection);
  if (!c) return c.take_error();
  if (opt.top_k == 0 || opt.top_k > 100) return invalid_argument("top_k must be 1..100", "top_k");
  if (!(opt.mmr_lambda >= 0 && opt.mmr_lambda <= 1)) return invalid_argument("mmr_lambda must be 0..1", "mmr_lambda");
  if (opt.ef == 0 || opt.ef > 10000) return invalid_argument("ef must be 1..10000", "ef");
  ++counters_.searches;
  const std::size_t n = std::max(opt.candidates, opt.top_k);
  std::vector<Scored> keyword, semantic;
  const double alpha = opt.alpha.value_or(default_alpha(c->embedder));
  if (alpha < 1.0) {
    auto k = keyword_candidates(*c, query, opt, n);
    if (!k) return k.take_error();
    keyword = std::move(*k);
  }
  std::vector<float> query_vector;
  if (alpha > 0.0) {
    auto v = vector_candidates(*c, query, opt, n, query_vector);
    if (!v) return v.take_error();
    semantic = std::move(*v);
  }
  if (opt.complete_scores && !opt.rrf && alpha > 0.0 && alpha < 1.0) {
    HEARTH_TRY(complete_scores(*c, query, opt, query_vector, keyword, semantic));
  }
  auto fused = opt.rrf ? fuse_rrf(keyword, semantic, alpha) : fuse_weighted(keyword, semantic, alpha);
  if (!fused) return fused.take_error();
  if (fused->size() > n) fused->resize(n);
  std::vector<std::int64_t> ids;
  for (const Fused& f : *fused) ids.push_back(f.id);
  auto chunks = store_.chunks(ids);
  if (!chunks) return chunks.take_error();
  // A chunk removed since the candidates were found is missing from `chunks`: drop it.
  std::vector<Fused> kept;
  for (std::size_t i = 0, j = 0; i < fused->size() && j < chunks->size(); ++i) {
    if ((*fused)[i].id == (*chunks)[j].chunk.id) {
      kept.push_back((*fused)[i]);
      ++j;
    }
  }
  std::vector<double> relevance;
  for (const Fused& f : kept) relevance.push_back(f.score);
  std::vector<std::optional<double>> reranked(kept.size());
  if (opt.rerank) {
    auto r = rerank(query, opt, kept, *chunks);
    if (!r) return r.take_error();
    relevance = std::move(*r);
    for (std::size_t i = 0; i < kept.size(); ++i) reranked[i] = relevance[i];
    // MMR weighs relevance against similarity (0..1), so the raw scores are scaled to 0..1.
    auto [lo, hi] = std::minmax_element(relevance.begin(), relevance.end());
    const double low = relevance.empty() ? 0 : *lo, span = relevance.empty() ? 0 : *hi - *lo;
    for (double& x : relevance) x = span > 0 ? (x - low) / span : 1.0;
  }
  auto sim = [&](std::size_t a, std::size_t b) {
    return cosine((*chunks)[a].chunk.vector, (*chunks)[b].chunk.vector);
  };
  std::vector<SearchHit> out;
  for (std::size_t i : select_mmr(relevance, sim, opt.mmr_lambda, opt.top_k)) {
    out.push_back({std::move((*chunks)[i]), kept[i].score, kept[i].keyword, kept[i].semantic, reranked[i]});
  }
  return out;
}

}  // namespace hearth::knowledge
