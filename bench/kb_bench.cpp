// Knowledge-base benchmark (issue #3): retrieval quality, ingest throughput and query latency of
// the real KnowledgeBase on real corpora. bench/knowledge.sh builds the corpora and queries with
// bench/kb_corpora.py, runs the three modes and prints the tables. Never a test: it reports
// numbers and fails only when it cannot run.
//
//   kb_bench ingest  --db F --collection C --source DIR [--source DIR...]
//       a fresh database; documents/s and chunks/s of KnowledgeBase::add_source, and the share of
//       that time spent in the embedder
//   kb_bench eval    --db F --collection C --root DIR --queries TSV [--masked] [--split test]
//       recall@1/5/10 and MRR@10 of BM25 (alpha 0), static embeddings (alpha 1), hybrid (alpha
//       0.5, relative scores), hybrid RRF, and any --alpha given (or, with --sweep, alpha 0.0,
//       0.1, ..., 1.0 and RRF); each query's rank per method goes to --ranks
//   kb_bench latency --db F --collection C --queries TSV [--queries TSV...]
//       search latency per mode, the modes interleaved query by query, after a warm-up
//
// A query (a TSV row: split, query, file, heading path) is answered when a hit's document is
// `file` (relative to --root) and, if a heading path is given, the hit's heading path starts
// with it: the chunk lies in that section or one of its subsections. With --masked the
// section's own heading reads "§" in the indexed files (kb_corpora.py), so that is what the
// hit's heading path holds.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "knowledge/knowledge_base.h"
#include "knowledge/static_embedder.h"
#include "knowledge/store.h"
#include "knowledge/text_tokenizer.h"

namespace fs = std::filesystem;
namespace kn = hearth::knowledge;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "kb_bench: {}\n", what);
  std::exit(2);
}

template <class T>
T must(hearth::Result<T> r, const char* what) {
  if (!r) die(fmt::format("{}: {}", what, r.error().message));
  return std::move(*r);
}

void emit(const json& j) {
  fmt::print("{}\n", j.dump());
  std::fflush(stdout);
}

const char* mode_name(kn::VectorMode m) {
  switch (m) {
    case kn::VectorMode::kExact: return "exact";
    case kn::VectorMode::kAnn: return "ann";
    default: return "auto";
  }
}

// The embedder, timed: ingest reports how much of its time embedding takes.
class TimedEmbedder final : public kn::Embedder {
 public:
  explicit TimedEmbedder(kn::Embedder& inner) : inner_(inner) {}
  std::string name() const override { return inner_.name(); }
  int dimensions() const override { return inner_.dimensions(); }
  hearth::Result<std::vector<std::vector<float>>> embed(std::span<const std::string> texts) override {
    const auto t0 = Clock::now();
    auto r = inner_.embed(texts);
    seconds_ += seconds_since(t0);
    return r;
  }
  double seconds() const { return seconds_; }

 private:
  kn::Embedder& inner_;
  double seconds_ = 0;
};

struct Env {
  std::unique_ptr<kn::KnowledgeStore> store;
  std::unique_ptr<kn::TextTokenizer> tokenizer;
  std::unique_ptr<kn::StaticEmbedder> glove;
  std::unique_ptr<kn::Embedder> embedder;
  std::unique_ptr<TimedEmbedder> timed;
  std::unique_ptr<kn::KnowledgeBase> kb;
};

Env open_env(const std::string& db, const std::string& embeddings) {
  Env e;
  e.store = must(kn::open_sqlite_store(db), "open store");
  e.tokenizer = must(kn::TextTokenizer::create(), "tokenizer");
  e.glove = must(kn::StaticEmbedder::load(embeddings), "load static embeddings");
  e.embedder = kn::make_static_embedder(*e.glove, *e.tokenizer);
  e.timed = std::make_unique<TimedEmbedder>(*e.embedder);
  e.kb = std::make_unique<kn::KnowledgeBase>(*e.store, *e.timed);
  return e;
}

// ingest -----------------------------------------------------------------------------------

std::uintmax_t file_bytes(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

int run_ingest(const std::string& db, const std::string& collection, const std::vector<std::string>& sources,
               const std::string& embeddings) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix, ec);
  fs::remove_all(db + ".ann", ec);
  if (fs::path(db).has_parent_path()) fs::create_directories(fs::path(db).parent_path(), ec);
  Env e = open_env(db, embeddings);
  must(e.kb->create_collection(collection), "create collection");
  kn::SyncCounters total;
  const auto t0 = Clock::now();
  for (const std::string& src : sources) {
    const double embed_before = e.timed->seconds();
    const auto ts = Clock::now();
    std::size_t last_shown = 0;
    auto progress = [&](std::size_t done, std::size_t todo, const std::string&) {
      if (done == todo || done - last_shown >= 5000) {
        fmt::print(stderr, "  {} {}/{} documents, {:.0f} s\n", fs::path(src).filename().string(), done, todo,
                   seconds_since(ts));
        last_shown = done;
      }
    };
    const kn::SyncReport r = must(e.kb->add_source(collection, src, "", "", progress), "add source");
    const double s = seconds_since(ts);
    const kn::SyncCounters& c = r.counters;
    emit({{"kind", "ingest_source"}, {"source", src}, {"documents", c.documents_added}, {"failed", c.documents_failed},
          {"chunks", c.chunks_embedded}, {"seconds", s}, {"embed_seconds", e.timed->seconds() - embed_before},
          {"documents_per_s", c.documents_added / s}, {"chunks_per_s", c.chunks_embedded / s}});
    for (std::size_t i = 0; i < r.errors.size() && i < 5; ++i) {
      fmt::print(stderr, "  skipped {}: {}\n", r.errors[i].uri, r.errors[i].message);
    }
    total.documents_added += c.documents_added;
    total.documents_failed += c.documents_failed;
    total.chunks_embedded += c.chunks_embedded;
  }
  const double s = seconds_since(t0);
  e.kb.reset();
  e.store.reset();  // checkpoint the WAL before measuring the file
  emit({{"kind", "ingest"}, {"collection", collection}, {"db", db}, {"documents", total.documents_added},
        {"failed", total.documents_failed}, {"chunks", total.chunks_embedded}, {"seconds", s},
        {"embed_seconds", e.timed->seconds()}, {"documents_per_s", total.documents_added / s},
        {"chunks_per_s", total.chunks_embedded / s}, {"db_bytes", file_bytes(db)}});
  return 0;
}

// queries ----------------------------------------------------------------------------------

struct Query {
  std::string split, text, file, heading_path;
};

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

std::vector<Query> load_queries(const std::string& path, const std::string& split) {
  std::ifstream f(path);
  if (!f) die(fmt::format("cannot read {}", path));
  std::vector<Query> out;
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    auto cols = split_tabs(line);
    if (cols.size() < 4) die(fmt::format("{}: a row without 4 columns: {}", path, line));
    if (split.empty() || cols[0] == split) out.push_back({cols[0], cols[1], cols[2], cols[3]});
  }
  return out;
}

// A heading as comparable text: ASCII letters and digits lowercased, other ASCII dropped, other
// characters (UTF-8 bytes, such as "§") kept. The extractor and chunker may space or escape
// punctuation differently from the Markdown the corpus script wrote; the words are the same.
std::string normalize(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      out += ch;
    } else if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    }
  }
  return out;
}

std::vector<std::string> heading_parts(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t sep = path.find(" > ", start);
    out.push_back(normalize(path.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start)));
    if (sep == std::string_view::npos) return out;
    start = sep + 3;
  }
}

struct Target {
  std::string uri;                    // absolute, as the store has it
  std::vector<std::string> section;   // empty: the whole document
};

Target target_of(const Query& q, const std::string& root, bool masked) {
  Target t{(fs::path(root) / q.file).string(), heading_parts(q.heading_path)};
  if (masked && !t.section.empty()) t.section.back() = normalize("§");
  return t;
}

bool answers(const kn::SearchHit& h, const Target& t) {
  if (h.hit.document_uri != t.uri) return false;
  const auto parts = heading_parts(h.hit.chunk.heading_path);
  return parts.size() >= t.section.size() && std::equal(t.section.begin(), t.section.end(), parts.begin());
}

// Whether any chunk of the collection answers the target: a query whose section the corpus
// script and the chunker disagree on would count as a miss for every method alike.
std::size_t count_unreachable(kn::KnowledgeStore& store, const std::string& collection,
                              const std::vector<Target>& targets) {
  const auto c = must(store.collection(collection), "collection");
  const auto docs = must(store.documents(c.id), "documents");
  std::map<std::string, std::int64_t> by_uri;
  for (const auto& d : docs) by_uri[d.uri] = d.id;
  std::size_t missing = 0;
  for (const Target& t : targets) {
    auto it = by_uri.find(t.uri);
    bool found = false;
    if (it != by_uri.end()) {
      const auto stored = must(store.chunk_hashes(it->second), "chunk hashes");
      std::vector<std::int64_t> ids;
      for (const auto& s : stored) ids.push_back(s.id);
      for (const kn::ChunkHit& ch : must(store.chunks(ids), "chunks")) {
        kn::SearchHit h{ch, 0, {}, {}};
        found = found || answers(h, t);
      }
    }
    if (!found && ++missing <= 3) fmt::print(stderr, "  no chunk answers {} [{}]\n", t.uri, fmt::join(t.section, " > "));
  }
  return missing;
}

// eval -------------------------------------------------------------------------------------

struct Method {
  std::string name;
  kn::SearchOptions options;
};

std::vector<Method> eval_methods(double mmr, const std::vector<double>& alphas, bool sweep, kn::VectorMode mode) {
  auto make = [&](std::string name, std::optional<double> alpha, bool rrf) {
    kn::SearchOptions o;
    o.top_k = 10;
    o.alpha = alpha;
    o.rrf = rrf;
    o.mmr_lambda = mmr;
    o.vector_mode = mode;
    return Method{std::move(name), o};
  };
  std::vector<Method> m;
  if (sweep) {
    for (int i = 0; i <= 10; ++i) m.push_back(make(fmt::format("alpha-{:.1f}", i / 10.0), i / 10.0, false));
    m.push_back(make("rrf", 0.5, true));
    return m;
  }
  m.push_back(make("bm25", 0.0, false));
  m.push_back(make("vector", 1.0, false));
  m.push_back(make("hybrid", std::nullopt, false));  // the collection's default alpha
  m.push_back(make("hybrid-0.5", 0.5, false));
  m.push_back(make("rrf", 0.5, true));
  for (double a : alphas) m.push_back(make(fmt::format("hybrid-a{:.2f}", a), a, false));
  return m;
}

int run_eval(const std::string& db, const std::string& collection, const std::string& root_arg,
             const std::string& queries_path, const std::string& split, bool masked, double mmr,
             const std::vector<double>& alphas, bool sweep, const std::string& ranks_path, const std::string& label,
             kn::VectorMode mode, const std::string& embeddings) {
  Env e = open_env(db, embeddings);
  std::error_code ec;
  const std::string root = fs::weakly_canonical(fs::absolute(root_arg, ec), ec).string();
  const auto queries = load_queries(queries_path, split);
  if (queries.empty()) die(fmt::format("no '{}' queries in {}", split, queries_path));
  std::vector<Target> targets;
  for (const Query& q : queries) targets.push_back(target_of(q, root, masked));
  const std::size_t unreachable = count_unreachable(*e.store, collection, targets);
  if (unreachable > 0) fmt::print(stderr, "  {} of {} targets have no chunk in the collection\n", unreachable, targets.size());

  const double default_alpha = kn::default_alpha(must(e.store->collection(collection), "collection").embedder);
  std::ofstream ranks;
  if (!ranks_path.empty()) ranks.open(ranks_path, std::ios::app);
  for (const Method& m : eval_methods(mmr, alphas, sweep, mode)) {
    std::array<std::size_t, 3> hits_at{};  // @1, @5, @10
    double rr_sum = 0;
    const auto t0 = Clock::now();
    for (std::size_t qi = 0; qi < queries.size(); ++qi) {
      const auto hits = must(e.kb->search(collection, queries[qi].text, m.options), "search");
      int rank = 0;
      for (std::size_t i = 0; i < hits.size(); ++i) {
        if (answers(hits[i], targets[qi])) {
          rank = static_cast<int>(i) + 1;
          break;
        }
      }
      if (rank == 1) ++hits_at[0];
      if (rank >= 1 && rank <= 5) ++hits_at[1];
      if (rank >= 1) ++hits_at[2];
      if (rank >= 1) rr_sum += 1.0 / rank;
      if (ranks) ranks << json{{"set", label}, {"method", m.name}, {"q", qi}, {"rank", rank}}.dump() << '\n';
    }
    const double n = static_cast<double>(queries.size());
    const double s = seconds_since(t0);
    emit({{"kind", "eval"}, {"set", label}, {"split", split}, {"method", m.name}, {"alpha", m.options.alpha.value_or(default_alpha)},
          {"rrf", m.options.rrf}, {"mmr_lambda", m.options.mmr_lambda}, {"vector_mode", mode_name(mode)},
          {"queries", queries.size()}, {"unreachable", unreachable}, {"recall@1", hits_at[0] / n},
          {"recall@5", hits_at[1] / n}, {"recall@10", hits_at[2] / n}, {"mrr@10", rr_sum / n},
          {"ms_per_query", 1000 * s / n}});
    fmt::print(stderr, "  {:<14} R@1 {:.3f}  R@5 {:.3f}  R@10 {:.3f}  MRR {:.3f}  ({:.1f} ms/query)\n", m.name,
               hits_at[0] / n, hits_at[1] / n, hits_at[2] / n, rr_sum / n, 1000 * s / n);
  }
  return 0;
}

// latency ----------------------------------------------------------------------------------

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

json summarize(const std::vector<double>& ms) {
  if (ms.empty()) return {{"queries", 0}};
  return {{"queries", ms.size()}, {"p50_ms", percentile(ms, 0.5)}, {"p95_ms", percentile(ms, 0.95)},
          {"p99_ms", percentile(ms, 0.99)},
          {"mean_ms", std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size())},
          {"max_ms", *std::max_element(ms.begin(), ms.end())}};
}

// Where a search's time goes: the store and index calls KnowledgeBase::search makes, each timed
// alone over the same queries (50 candidates, as search asks for).
void time_components(Env& e, const kn::CollectionInfo& c, const std::string& collection,
                     std::span<const std::string> queries) {
  std::map<std::string, std::vector<double>> ms;
  auto timed = [&](const char* name, auto&& f) {
    const auto t0 = Clock::now();
    auto r = f();
    ms[name].push_back(1000 * seconds_since(t0));
    return r;
  };
  constexpr std::size_t kCandidates = 50;
  for (const std::string& q : queries) {
    timed("store.collection (per search)", [&] { return must(e.store->collection(collection), "collection"); });
    const auto keyword = timed("store.keyword_search",
                               [&] { return must(e.store->keyword_search(c.id, q, kCandidates), "keyword"); });
    const std::string texts[] = {q};
    const auto qv = timed("embed query", [&] { return must(e.embedder->embed(texts), "embed"); });
    timed("store.vector_search (exact)",
          [&] { return must(e.store->vector_search(c.id, qv.front(), kCandidates), "vector search"); });
    timed("keyword index search", [&] {
      return must(e.kb->keyword_indexes()->search(*e.store, c, q, kCandidates), "keyword index search");
    });
    timed("ann index search (default ef)", [&] {
      const std::size_t ef = std::max(kn::SearchOptions{}.ef, kCandidates);  // as search() asks
      return must(e.kb->vector_indexes()->search(*e.store, c, qv.front(), kCandidates, ef), "ann search");
    });
    std::vector<std::int64_t> ids;
    for (const kn::Scored& k : keyword) ids.push_back(k.id);
    timed("store.chunks (candidates)", [&] { return must(e.store->chunks(ids), "chunks"); });
  }
  for (const auto& [name, v] : ms) {
    json j = summarize(v);
    j.update({{"kind", "component"}, {"component", name}});
    emit(j);
  }
}

int run_latency(const std::string& db, const std::string& collection, const std::vector<std::string>& query_files,
                std::size_t n, std::size_t warmup, const std::string& embeddings) {
  Env e = open_env(db, embeddings);
  // Queries from every file, taken in turn, so each kind is spread over the run; each is labelled
  // with its file's folder (the corpus it came from).
  std::vector<std::vector<Query>> per_file;
  std::vector<std::string> labels;
  for (const std::string& f : query_files) {
    per_file.push_back(load_queries(f, "test"));
    labels.push_back(fs::absolute(f).parent_path().filename().string());
  }
  std::vector<std::string> queries, query_label;
  for (std::size_t i = 0; queries.size() < n + warmup; ++i) {
    bool any = false;
    for (std::size_t f = 0; f < per_file.size() && queries.size() < n + warmup; ++f) {
      if (i < per_file[f].size()) {
        queries.push_back(per_file[f][i].text);
        query_label.push_back(labels[f]);
        any = true;
      }
    }
    if (!any) break;
  }
  if (queries.size() < n + warmup) die(fmt::format("only {} queries for {} + {} warm-up", queries.size(), n, warmup));
  const auto info = must(e.store->collection(collection), "collection");

  struct Mode {
    std::string name;
    kn::SearchOptions options;
    std::vector<double> ms;
  };
  auto make = [](std::string name, std::optional<double> alpha, kn::VectorMode m,
                 kn::KeywordMode k = kn::KeywordMode::kAuto) {
    kn::SearchOptions o;
    o.top_k = 10;
    o.alpha = alpha;
    o.vector_mode = m;
    o.keyword_mode = k;
    return Mode{std::move(name), o, {}};
  };
  // Hybrid as shipped (the auto modes: at this size the in-memory keyword index and the ANN
  // index) against FTS5 alone, the exact vector scan alone, each index alone, and the
  // brute-force hybrid (FTS5 and the exact scan).
  const double alpha = kn::default_alpha(info.embedder);
  std::vector<Mode> modes;
  modes.push_back(make("fts5-only (alpha 0)", 0.0, kn::VectorMode::kAuto, kn::KeywordMode::kFts5));
  modes.push_back(make("keyword index (alpha 0)", 0.0, kn::VectorMode::kAuto, kn::KeywordMode::kMemory));
  modes.push_back(make("exact vector (alpha 1)", 1.0, kn::VectorMode::kExact));
  modes.push_back(make("ann vector (alpha 1)", 1.0, kn::VectorMode::kAnn));
  modes.push_back(make(fmt::format("hybrid fts5 + exact (alpha {})", alpha), alpha, kn::VectorMode::kExact,
                       kn::KeywordMode::kFts5));
  modes.push_back(make(fmt::format("hybrid (default alpha {})", alpha), std::nullopt, kn::VectorMode::kAuto));
  // The first search of each mode includes whatever is loaded or built on first use.
  std::vector<double> first_ms;
  for (Mode& m : modes) {
    const auto t0 = Clock::now();
    must(e.kb->search(collection, queries[0], m.options), "search");
    first_ms.push_back(1000 * seconds_since(t0));
  }
  for (std::size_t i = 1; i < warmup; ++i) {
    for (Mode& m : modes) must(e.kb->search(collection, queries[i], m.options), "search");
  }
  // Interleaved, starting at a different mode each query: the machine's drift hits all alike.
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& q = queries[warmup + i];
    for (std::size_t k = 0; k < modes.size(); ++k) {
      Mode& m = modes[(i + k) % modes.size()];
      const auto t0 = Clock::now();
      must(e.kb->search(collection, q, m.options), "search");
      m.ms.push_back(1000 * seconds_since(t0));
    }
  }
  for (std::size_t k = 0; k < modes.size(); ++k) {
    const Mode& m = modes[k];
    json j = summarize(m.ms);
    j.update({{"kind", "latency"}, {"mode", m.name}, {"chunks", info.chunks}, {"documents", info.documents},
              {"warmup", warmup}, {"first_ms", first_ms[k]}});
    for (const std::string& label : labels) {
      std::vector<double> mine;
      for (std::size_t i = 0; i < n; ++i) {
        if (query_label[warmup + i] == label) mine.push_back(m.ms[i]);
      }
      j["by_queries"][label] = summarize(mine);
    }
    emit(j);
  }
  time_components(e, info, collection, std::span(queries).subspan(warmup, n));

  // ANN recall@10 against exact search: the same vector-only search (no MMR re-ranking), top 10,
  // at the default search breadth and around it (ef is raised to the 50 candidates anyway).
  {
    Mode exact = make("", 1.0, kn::VectorMode::kExact);
    exact.options.mmr_lambda = 1.0;
    std::vector<std::set<std::int64_t>> truth(n);
    for (std::size_t i = 0; i < n; ++i) {
      for (const auto& h : must(e.kb->search(collection, queries[warmup + i], exact.options), "search")) {
        truth[i].insert(h.hit.chunk.id);
      }
    }
    const std::size_t default_ef = kn::SearchOptions{}.ef;
    std::set<std::size_t> efs = {50, 100, 200, 400, default_ef};
    for (const std::size_t ef : efs) {
      Mode ann = make("", 1.0, kn::VectorMode::kAnn);
      ann.options.mmr_lambda = 1.0;
      ann.options.ef = ef;
      std::size_t found = 0, total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        const auto hits = must(e.kb->search(collection, queries[warmup + i], ann.options), "search");
        ann.ms.push_back(1000 * seconds_since(t0));
        for (const auto& h : hits) found += truth[i].count(h.hit.chunk.id);
        total += truth[i].size();
      }
      json j = summarize(ann.ms);
      j.update({{"kind", "ann_recall"}, {"k", 10}, {"ef", ef}, {"default", ef == default_ef},
                {"recall@10", total ? static_cast<double>(found) / static_cast<double>(total) : 0.0}});
      emit(j);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hearth knowledge-base benchmark: retrieval quality, ingest throughput, query latency"};
  app.require_subcommand(1);
  std::string db, collection, embeddings = kn::default_static_embeddings_path();
  app.add_option("--embeddings", embeddings, "GloVe file (scripts/embeddings.sh)");

  auto* ingest = app.add_subcommand("ingest", "fresh database; add the sources; documents/s and chunks/s");
  std::vector<std::string> sources;
  ingest->add_option("--db", db)->required();
  ingest->add_option("--collection", collection)->required();
  ingest->add_option("--source", sources)->required();

  auto* eval = app.add_subcommand("eval", "recall@1/5/10 and MRR@10 per method");
  std::string root, queries_path, split = "test", ranks_path, label, vector_mode = "auto";
  bool masked = false, sweep = false;
  double mmr = kn::SearchOptions{}.mmr_lambda;
  std::vector<double> alphas;
  eval->add_option("--db", db)->required();
  eval->add_option("--collection", collection)->required();
  eval->add_option("--root", root, "the source directory the query files are relative to")->required();
  eval->add_option("--queries", queries_path)->required();
  eval->add_option("--split", split, "dev or test");
  eval->add_flag("--masked", masked, "the section headings of the queries read '§' in the index");
  eval->add_option("--mmr", mmr, "MMR lambda (1: no diversity re-ranking)");
  eval->add_option("--alpha", alphas, "more relative-score hybrids at these alphas");
  eval->add_flag("--sweep", sweep, "alpha 0.0..1.0 in steps of 0.1 and RRF instead of the four methods");
  eval->add_option("--ranks", ranks_path, "append each query's rank per method (JSON lines)");
  eval->add_option("--label", label, "the set's name in the output");
  eval->add_option("--vector", vector_mode, "SearchOptions::vector_mode: auto, exact or ann")
      ->check(CLI::IsMember({"auto", "exact", "ann"}));

  auto* latency = app.add_subcommand("latency", "search latency per mode, interleaved");
  std::vector<std::string> query_files;
  std::size_t n = 400, warmup = 50;
  latency->add_option("--db", db)->required();
  latency->add_option("--collection", collection)->required();
  latency->add_option("--queries", query_files, "TSV files; their test queries are used in turn")->required();
  latency->add_option("-n", n, "timed queries per mode");
  latency->add_option("--warmup", warmup, "untimed queries first");

  CLI11_PARSE(app, argc, argv);
  if (*ingest) return run_ingest(db, collection, sources, embeddings);
  if (*eval) {
    const kn::VectorMode m = vector_mode == "exact" ? kn::VectorMode::kExact
                             : vector_mode == "ann" ? kn::VectorMode::kAnn
                                                    : kn::VectorMode::kAuto;
    return run_eval(db, collection, root, queries_path, split, masked, mmr, alphas, sweep, ranks_path,
                    label.empty() ? collection : label, m, embeddings);
  }
  return run_latency(db, collection, query_files, n, warmup, embeddings);
}
