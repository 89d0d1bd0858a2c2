// The embedded SQLite implementation of KnowledgeStore (see store.h).
#include <fnmatch.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "knowledge/ann_index.h"
#include "knowledge/fts5_tokenizer.h"
#include "knowledge/sqlite_schema.h"
#include "knowledge/store.h"
#include "knowledge/text_tokenizer.h"

namespace hearth::knowledge {
namespace {

using namespace sqlite_schema;  // NOLINT: the schema constants

constexpr std::size_t kMaxQueryWords = 64;
// Keyword search matches the rarest words while their chunk counts add up to at most this (or a
// tenth of all chunks, if more); see selective_words().
constexpr std::int64_t kPostingsBudget = 20000;
constexpr std::size_t kMaxFilterTerms = 64;

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

Error db_error(sqlite3* db, std::string_view what) {
  const int code = sqlite3_errcode(db);
  std::string msg = fmt::format("knowledge store: {}: {}", what, sqlite3_errmsg(db));
  if (code == SQLITE_FULL || code == SQLITE_NOMEM) return resource_exhausted(std::move(msg));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return unavailable(std::move(msg));
  return internal_error(std::move(msg));
}

// A prepared statement with positional binding.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK) stmt_.reset(s);
  }
  bool ok() const { return stmt_ != nullptr; }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_.get(), i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(int i, std::span<const float> v) {
    if (v.empty()) {
      sqlite3_bind_null(stmt_.get(), i);
    } else {
      sqlite3_bind_blob(stmt_.get(), i, v.data(), static_cast<int>(v.size_bytes()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  // For the next execution with new bindings.
  void reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int step() { return sqlite3_step(stmt_.get()); }
  std::int64_t i64(int col) { return sqlite3_column_int64(stmt_.get(), col); }
  std::string text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col))) : std::string();
  }
  double real(int col) { return sqlite3_column_double(stmt_.get(), col); }
  std::vector<float> floats(int col) {
    const void* p = sqlite3_column_blob(stmt_.get(), col);
    const auto n = static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)) / sizeof(float);
    std::vector<float> v(n);
    if (n) std::memcpy(v.data(), p, n * sizeof(float));
    return v;
  }
  std::span<const float> floats_view(int col) {
    const void* p = sqlite3_column_blob(stmt_.get(), col);
    const auto n = static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)) / sizeof(float);
    return {static_cast<const float*>(p), n};
  }

 private:
  std::unique_ptr<sqlite3_stmt, StmtFinalize> stmt_;
};

// Runs `s` to the end, turning each row into a T with `row`.
template <typename T, typename F>
Result<std::vector<T>> all_rows(sqlite3* db, Stmt& s, std::string_view what, F&& row) {
  std::vector<T> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(row(s));
  if (rc != SQLITE_DONE) return db_error(db, what);
  return out;
}

bool valid_collection_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

// FTS5 query text: each of the query's distinct words (the first kMaxQueryWords) as a quoted
// string, any of them matching. The cap keeps a pasted paragraph a fast query.
// An FTS5 MATCH expression: any of the words, each quoted.
std::string fts_match(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += " OR ";
    out += '"';
    for (char c : w) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  return out;
}

// SQL function hearth_uri_glob(pattern, uri): 1 when the glob matches the URI or its file name
// (fnmatch(3) without flags, as source include/exclude globs match).
void uri_glob_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const auto* pattern = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const auto* uri = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
  if (!pattern || !uri) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  const char* slash = std::strrchr(uri, '/');
  const bool match = fnmatch(pattern, uri, 0) == 0 || (slash && fnmatch(pattern, slash + 1, 0) == 0);
  sqlite3_result_int(ctx, match ? 1 : 0);
}

// The SQL that restricts chunks (alias k) to the documents passing a filter, and its text
// parameters, numbered from `first_param`. `collection_param` names the collection id's.
struct FilterSql {
  std::string sql;
  std::vector<std::string> params;
  int first_param = 0;
};

Result<FilterSql> filter_sql(const SearchFilter& f, const char* collection_param, int first_param) {
  FilterSql out;
  out.first_param = first_param;
  if (f.empty()) return out;
  if (f.documents.size() > kMaxFilterTerms || f.metadata.size() > kMaxFilterTerms) {
    return invalid_argument(fmt::format("a filter has at most {} document globs and {} metadata terms",
                                        kMaxFilterTerms, kMaxFilterTerms),
                            "filter");
  }
  auto param = [&](const std::string& v) {
    out.params.push_back(v);
    return fmt::format("?{}", first_param + static_cast<int>(out.params.size()) - 1);
  };
  out.sql = fmt::format(" AND k.document_id IN (SELECT fd.id FROM documents fd WHERE fd.collection_id = {}",
                        collection_param);
  if (!f.documents.empty()) {
    std::string any;
    for (const std::string& g : f.documents) {
      if (g.empty()) return invalid_argument("document globs must not be empty", "filter.documents");
      any += fmt::format("{}hearth_uri_glob({}, fd.uri)", any.empty() ? "" : " OR ", param(g));
    }
    out.sql += " AND (" + any + ")";
  }
  for (const auto& [key, value] : f.metadata) {
    if (key.empty()) return invalid_argument("metadata filter keys must not be empty", "filter.metadata");
    const std::string k = param(key), v = param(value);
    out.sql += fmt::format(
        " AND EXISTS (SELECT 1 FROM json_each(fd.metadata) j WHERE j.key = {} AND (CASE j.type WHEN 'true' THEN "
        "'true' WHEN 'false' THEN 'false' ELSE CAST(j.atom AS TEXT) END) = {})",
        k, v);
  }
  out.sql += ")";
  return out;
}

// Checks that `text` is a JSON object of strings, numbers and booleans; returns it compacted.
Result<std::string> normalized_metadata(const std::string& text) {
  const auto j = nlohmann::json::parse(text.empty() ? std::string("{}") : text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return invalid_argument("document metadata must be a JSON object", "metadata");
  }
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string() && !value.is_number() && !value.is_boolean()) {
      return invalid_argument(
          fmt::format("metadata value of '{}' must be a string, number or boolean, not {}", key, value.type_name()),
          "metadata");
    }
  }
  return j.dump();
}

class SqliteStore final : public KnowledgeStore {
 public:
  SqliteStore(std::unique_ptr<sqlite3, DbClose> db, std::unique_ptr<TextTokenizer> tokenizer, std::string path)
      : db_(std::move(db)), tokenizer_(std::move(tokenizer)), path_(std::move(path)) {}

  std::string path() const override { return path_; }

  // Adds the columns an older schema lacks and seeds the id sequences, in one write transaction
  // (two processes may open an old database at once).
  Status migrate() {
    HEARTH_TRY(exec("BEGIN IMMEDIATE", "begin migration"));
    auto st = migrate_in_transaction();
    if (!st) {
      (void)exec("ROLLBACK", "rollback");
      return st;
    }
    return exec("COMMIT", "commit migration");
  }

  Status migrate_in_transaction() {
    bool recount = false;
    for (const AddedColumn& a : kAddedColumns) {
      Stmt s(db_.get(), "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2");
      if (!s.ok()) return db_error(db_.get(), "migrate");
      s.bind(1, std::string(a.table)).bind(2, std::string(a.column));
      if (s.step() != SQLITE_ROW) return db_error(db_.get(), "migrate");
      if (s.i64(0) > 0) continue;
      const std::string sql = fmt::format("ALTER TABLE {} ADD COLUMN {} {}", a.table, a.column, a.definition);
      HEARTH_TRY(exec(sql.c_str(), "migrate"));
      if (std::string_view(a.column).ends_with("_count")) recount = true;
    }
    HEARTH_TRY(exec(kMigrations, "migrate"));
    HEARTH_TRY(exec(kCountTriggers, "create the count triggers"));
    return recount ? exec(kRecount, "count documents and chunks") : Status{};
  }

  // Reserves `n` new ids of a sequence ('collections', 'chunks' or 'revisions'); returns the
  // last. Runs inside the caller's write transaction. `table`: whose ids must never be reached.
  Result<std::int64_t> reserve_ids(const char* sequence, const char* table, std::int64_t n) {
    const std::string sql = fmt::format(
        "UPDATE id_sequences SET last = max(last, {}) + ?2 WHERE name = ?1 RETURNING last",
        table ? fmt::format("coalesce((SELECT max(id) FROM {}), 0)", table) : std::string("0"));
    Stmt s(db_.get(), sql.c_str());
    if (!s.ok()) return db_error(db_.get(), "reserve ids");
    s.bind(1, std::string(sequence)).bind(2, n);
    const int rc = s.step();
    if (rc == SQLITE_DONE) return internal_error(fmt::format("knowledge store: no id sequence '{}'", sequence));
    if (rc != SQLITE_ROW) return db_error(db_.get(), "reserve ids");
    return s.i64(0);
  }

  // Gives the collection a new revision (inside the caller's write transaction).
  Status bump_revision(std::int64_t collection_id) {
    auto rev = reserve_ids("revisions", nullptr, 1);
    if (!rev) return rev.take_error();
    Stmt s(db_.get(), "UPDATE collections SET revision = ?1 WHERE id = ?2");
    if (!s.ok()) return db_error(db_.get(), "update revision");
    s.bind(1, *rev).bind(2, collection_id);
    if (s.step() != SQLITE_DONE) return db_error(db_.get(), "update revision");
    return {};
  }

  // Runs `body` in a write transaction, rolling back when it fails.
  template <typename T, typename F>
  Result<T> in_transaction(F&& body) {
    HEARTH_TRY(exec("BEGIN IMMEDIATE", "begin"));
    Result<T> result = body();
    if (!result) {
      (void)exec("ROLLBACK", "rollback");
      return result;
    }
    HEARTH_TRY(exec("COMMIT", "commit"));
    return result;
  }

  Status exec(const char* sql, std::string_view what) {
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db_.get(), what);
    return {};
  }

  Result<CollectionInfo> create_collection(const std::string& name, const std::string& embedder,
                                           int dimensions) override {
    if (!valid_collection_name(name)) {
      return invalid_argument(
          fmt::format("collection name '{}' must be 1-64 letters, digits, '-', '_' or '.'", name), "name");
    }
    if (dimensions < 1 || dimensions > 65536) {
      return invalid_argument(fmt::format("dimensions must be 1..65536, not {}", dimensions), "dimensions");
    }
    auto created = in_transaction<std::int64_t>([&]() -> Result<std::int64_t> {
      auto id = reserve_ids("collections", "collections", 1);
      if (!id) return id;
      Stmt s(db_.get(), "INSERT INTO collections(id, name, embedder, dimensions) VALUES (?1, ?2, ?3, ?4)");
      if (!s.ok()) return db_error(db_.get(), "create collection");
      s.bind(1, *id).bind(2, name).bind(3, embedder).bind(4, dimensions);
      if (s.step() != SQLITE_DONE) {
        if (sqlite3_extended_errcode(db_.get()) == SQLITE_CONSTRAINT_UNIQUE) {
          return invalid_argument(fmt::format("collection '{}' already exists", name), "name");
        }
        return db_error(db_.get(), "create collection");
      }
      return id;
    });
    if (!created) return created.take_error();
    return collection(name);
  }

  Result<std::vector<CollectionInfo>> query_collections(const std::string* name) {
    Stmt s(db_.get(),
           "SELECT c.id, c.name, c.embedder, c.dimensions, c.doc_count, c.chunk_count, c.revision "
           "FROM collections c WHERE ?1 IS NULL OR c.name = ?1 ORDER BY c.name");
    if (!s.ok()) return db_error(db_.get(), "list collections");
    if (name) s.bind(1, *name);
    return all_rows<CollectionInfo>(db_.get(), s, "list collections", [](Stmt& r) {
      return CollectionInfo{r.i64(0), r.text(1), r.text(2), static_cast<int>(r.i64(3)), r.i64(4), r.i64(5), r.i64(6)};
    });
  }

  Result<CollectionInfo> collection(const std::string& name) override {
    auto found = query_collections(&name);
    if (!found) return found.take_error();
    if (found->empty()) return not_found(fmt::format("no collection named '{}'", name));
    return found->front();
  }

  Result<std::vector<CollectionInfo>> list_collections() override { return query_collections(nullptr); }

  Status delete_collection(const std::string& name) override {
    auto c = collection(name);
    if (!c) return c.take_error();
    Stmt s(db_.get(), "DELETE FROM collections WHERE id = ?1");
    if (!s.ok()) return db_error(db_.get(), "delete collection");
    s.bind(1, c->id);
    if (s.step() != SQLITE_DONE) return db_error(db_.get(), "delete collection");
    // Best effort: a file left behind matches no collection (ids are never reused).
    const std::string index_file = ann_index_path(path_, c->id);
    std::error_code ec;
    if (!index_file.empty()) std::filesystem::remove(index_file, ec);
    return {};
  }

  Result<std::vector<StoredDoc>> documents(std::int64_t collection_id) override {
    Stmt s(db_.get(), "SELECT id, uri, content_hash FROM documents WHERE collection_id = ?1 ORDER BY uri");
    if (!s.ok()) return db_error(db_.get(), "list documents");
    s.bind(1, collection_id);
    return all_rows<StoredDoc>(db_.get(), s, "list documents",
                               [](Stmt& r) { return StoredDoc{r.i64(0), r.text(1), r.text(2)}; });
  }

  Result<std::vector<StoredChunk>> chunk_hashes(std::int64_t document_id) override {
    Stmt s(db_.get(), "SELECT id, text_hash FROM chunks WHERE document_id = ?1 ORDER BY ordinal");
    if (!s.ok()) return db_error(db_.get(), "list chunks");
    s.bind(1, document_id);
    return all_rows<StoredChunk>(db_.get(), s, "list chunks", [](Stmt& r) { return StoredChunk{r.i64(0), r.text(1)}; });
  }

  Result<std::int64_t> put_document(std::int64_t collection_id, const DocumentRecord& doc,
                                    std::vector<ChunkRecord> chunks,
                                    std::span<const std::int64_t> reuse_vectors_from) override {
    if (!reuse_vectors_from.empty() && reuse_vectors_from.size() != chunks.size()) {
      return invalid_argument("reuse_vectors_from must be empty or parallel to the chunks");
    }
    auto metadata = normalized_metadata(doc.metadata_json);
    if (!metadata) return metadata.take_error();
    return in_transaction<std::int64_t>(
        [&] { return write_document(collection_id, doc, *metadata, chunks, reuse_vectors_from); });
  }

  Result<std::int64_t> write_document(std::int64_t collection_id, const DocumentRecord& doc,
                                      const std::string& metadata, std::vector<ChunkRecord>& chunks,
                                      std::span<const std::int64_t> reuse) {
    int dims = 0;
    {
      Stmt s(db_.get(), "SELECT dimensions FROM collections WHERE id = ?1");
      if (!s.ok()) return db_error(db_.get(), "put document");
      s.bind(1, collection_id);
      if (s.step() != SQLITE_ROW) return not_found(fmt::format("no collection with id {}", collection_id));
      dims = static_cast<int>(s.i64(0));
    }
    // Vectors to carry over, read before the old chunks go.
    std::map<std::int64_t, std::vector<float>> carried;
    for (std::int64_t id : reuse) {
      if (id == 0) continue;
      Stmt s(db_.get(), "SELECT vector FROM chunks WHERE id = ?1");
      if (!s.ok()) return db_error(db_.get(), "put document");
      s.bind(1, id);
      if (s.step() != SQLITE_ROW) return not_found(fmt::format("no stored chunk {} to reuse", id));
      carried[id] = s.floats(0);
    }
    {
      Stmt s(db_.get(), "DELETE FROM documents WHERE collection_id = ?1 AND uri = ?2");
      if (!s.ok()) return db_error(db_.get(), "put document");
      s.bind(1, collection_id).bind(2, doc.uri);
      if (s.step() != SQLITE_DONE) return db_error(db_.get(), "replace document");
    }
    std::int64_t doc_id = 0;
    {
      Stmt s(db_.get(),
             "INSERT INTO documents(collection_id, uri, title, content_hash, metadata) VALUES (?1, ?2, ?3, ?4, ?5)");
      if (!s.ok()) return db_error(db_.get(), "put document");
      s.bind(1, collection_id).bind(2, doc.uri).bind(3, doc.title).bind(4, doc.content_hash).bind(5, metadata);
      if (s.step() != SQLITE_DONE) return db_error(db_.get(), "insert document");
      doc_id = sqlite3_last_insert_rowid(db_.get());
    }
    HEARTH_TRY(bump_revision(collection_id));
    auto last_id = reserve_ids("chunks", "chunks", static_cast<std::int64_t>(chunks.size()));
    if (!last_id) return last_id.take_error();
    const std::int64_t first_id = *last_id - static_cast<std::int64_t>(chunks.size()) + 1;
    Stmt ins(db_.get(),
             "INSERT INTO chunks(document_id, ordinal, text, heading_path, char_start, char_end, page, text_hash, "
             "vector, search_text, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!ins.ok()) return db_error(db_.get(), "put document");
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      ChunkRecord& c = chunks[i];
      if (!reuse.empty() && reuse[i] != 0) c.vector = carried[reuse[i]];
      if (!c.vector.empty() && static_cast<int>(c.vector.size()) != dims) {
        return invalid_argument(
            fmt::format("chunk {} has a {}-dimensional vector; the collection's are {}", i, c.vector.size(), dims),
            "vector");
      }
      ins.reset();
      ins.bind(1, doc_id).bind(2, static_cast<std::int64_t>(i)).bind(3, c.text).bind(4, c.heading_path);
      ins.bind(5, c.char_start).bind(6, c.char_end).bind(7, c.page).bind(8, c.text_hash).bind_blob(9, c.vector);
      ins.bind(10, doc.title + "\n" + c.heading_path + "\n" + c.text).bind(11, first_id + static_cast<std::int64_t>(i));
      if (ins.step() != SQLITE_DONE) return db_error(db_.get(), "insert chunk");
    }
    return doc_id;
  }

  Status remove_document(std::int64_t document_id) override {
    return in_transaction<void>([&]() -> Status {
      std::int64_t collection_id = 0;
      {
        Stmt s(db_.get(), "SELECT collection_id FROM documents WHERE id = ?1");
        if (!s.ok()) return db_error(db_.get(), "remove document");
        s.bind(1, document_id);
        const int rc = s.step();
        if (rc == SQLITE_DONE) return not_found(fmt::format("no document with id {}", document_id));
        if (rc != SQLITE_ROW) return db_error(db_.get(), "remove document");
        collection_id = s.i64(0);
      }
      Stmt s(db_.get(), "DELETE FROM documents WHERE id = ?1");
      if (!s.ok()) return db_error(db_.get(), "remove document");
      s.bind(1, document_id);
      if (s.step() != SQLITE_DONE) return db_error(db_.get(), "remove document");
      return bump_revision(collection_id);
    });
  }

  Result<std::vector<DocumentInfo>> document_infos(std::int64_t collection_id) override {
    Stmt s(db_.get(),
           "SELECT d.id, d.uri, d.title, d.content_hash, d.metadata, "
           "  (SELECT count(*) FROM chunks k WHERE k.document_id = d.id), d.updated_at "
           "FROM documents d WHERE d.collection_id = ?1 ORDER BY d.uri");
    if (!s.ok()) return db_error(db_.get(), "list documents");
    s.bind(1, collection_id);
    return all_rows<DocumentInfo>(db_.get(), s, "list documents", [](Stmt& r) {
      return DocumentInfo{r.i64(0), r.text(1), r.text(2), r.text(3), r.text(4), r.i64(5), r.i64(6)};
    });
  }

  Result<std::int64_t> put_source(std::int64_t collection_id, const SourceRecord& src) override {
    if (src.interval_seconds < 0) {
      return invalid_argument("a source's interval_seconds must not be negative", "interval_seconds");
    }
    Stmt s(db_.get(),
           "INSERT INTO sources(collection_id, uri, include, exclude, interval_seconds) VALUES (?1, ?2, ?3, ?4, ?5) "
           "ON CONFLICT (collection_id, uri) DO UPDATE SET include = excluded.include, exclude = excluded.exclude, "
           "interval_seconds = excluded.interval_seconds RETURNING id");
    if (!s.ok()) return db_error(db_.get(), "add source");
    s.bind(1, collection_id).bind(2, src.uri).bind(3, src.include).bind(4, src.exclude).bind(5, src.interval_seconds);
    if (s.step() != SQLITE_ROW) return db_error(db_.get(), "add source");
    const std::int64_t id = s.i64(0);
    if (s.step() != SQLITE_DONE) return db_error(db_.get(), "add source");
    return id;
  }

  Result<std::vector<SourceRecord>> sources(std::int64_t collection_id) override {
    Stmt s(db_.get(),
           "SELECT id, uri, include, exclude, interval_seconds, last_synced_at FROM sources "
           "WHERE collection_id = ?1 ORDER BY uri");
    if (!s.ok()) return db_error(db_.get(), "list sources");
    s.bind(1, collection_id);
    return all_rows<SourceRecord>(db_.get(), s, "list sources", [](Stmt& r) {
      return SourceRecord{r.i64(0), r.text(1), r.text(2), r.text(3), static_cast<int>(r.i64(4)), r.i64(5)};
    });
  }

  Status mark_source_synced(std::int64_t source_id, std::int64_t unix_seconds) override {
    Stmt s(db_.get(), "UPDATE sources SET last_synced_at = ?2 WHERE id = ?1");
    if (!s.ok()) return db_error(db_.get(), "mark source synced");
    s.bind(1, source_id).bind(2, unix_seconds);
    if (s.step() != SQLITE_DONE) return db_error(db_.get(), "mark source synced");
    if (sqlite3_changes(db_.get()) == 0) return not_found(fmt::format("no source with id {}", source_id));
    return {};
  }

  // The query's distinct words that are worth matching. BM25 ranks by rare words; a word in a
  // large share of the chunks adds almost nothing to the ranking but makes FTS5 score every chunk
  // it is in (a pasted paragraph's "the", "of", "which" match nearly all of them). So words are
  // taken rarest first (document frequency from fts5vocab) while their postings fit a budget,
  // and always the rarest two; words in no chunk are dropped.
  Result<std::vector<std::string>> selective_words(const std::string& query) {
    std::vector<std::string> words;
    std::unordered_set<std::string> seen;
    for (std::string& w : tokenizer_->words(query)) {
      if (words.size() == kMaxQueryWords) break;
      if (seen.insert(w).second) words.push_back(std::move(w));
    }
    if (words.size() <= 2) return words;
    Stmt df(db_.get(), "SELECT doc FROM temp.chunks_vocab WHERE term = ?1");
    Stmt total(db_.get(), "SELECT coalesce(sum(chunk_count), 0) FROM collections");
    if (!df.ok() || !total.ok() || total.step() != SQLITE_ROW) return db_error(db_.get(), "keyword search terms");
    const std::int64_t budget = std::max<std::int64_t>(kPostingsBudget, total.i64(0) / 10);
    std::vector<std::pair<std::int64_t, std::string>> by_rarity;
    for (std::string& w : words) {
      df.reset();
      df.bind(1, w);
      const int rc = df.step();
      if (rc == SQLITE_ROW && df.i64(0) > 0) by_rarity.emplace_back(df.i64(0), std::move(w));
      else if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(db_.get(), "keyword search terms");
    }
    std::stable_sort(by_rarity.begin(), by_rarity.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> kept;
    std::int64_t postings = 0;
    for (auto& [n, w] : by_rarity) {
      if (kept.size() >= 2 && postings + n > budget) break;
      postings += n;
      kept.push_back(std::move(w));
    }
    return kept;
  }

  Result<std::vector<Scored>> keyword_search(std::int64_t collection_id, const std::string& query,
                                             std::size_t limit, const SearchFilter& filter) override {
    auto where = filter_sql(filter, "?2", 4);
    if (!where) return where.take_error();
    auto words = selective_words(query);
    if (!words) return words.take_error();
    const std::string match = fts_match(*words);
    if (match.empty() || limit == 0) return std::vector<Scored>{};
    const std::string sql =
        "SELECT f.rowid, bm25(chunks_fts) FROM chunks_fts f JOIN chunks k ON k.id = f.rowid "
        "JOIN documents d ON d.id = k.document_id "
        "WHERE chunks_fts MATCH ?1 AND d.collection_id = ?2" +
        where->sql + " ORDER BY bm25(chunks_fts) LIMIT ?3";
    Stmt s(db_.get(), sql.c_str());
    if (!s.ok()) return db_error(db_.get(), "keyword search");
    s.bind(1, match).bind(2, collection_id).bind(3, static_cast<std::int64_t>(limit));
    bind_filter(s, *where);
    return all_rows<Scored>(db_.get(), s, "keyword search", [](Stmt& r) { return Scored{r.i64(0), -r.real(1)}; });
  }

  Result<std::vector<double>> keyword_scores(std::int64_t, const std::string& query,
                                             std::span<const std::int64_t> ids) override {
    std::vector<double> out(ids.size(), 0.0);
    auto words = selective_words(query);
    if (!words) return words.take_error();
    const std::string match = fts_match(*words);
    if (match.empty() || ids.empty()) return out;
    nlohmann::json list = nlohmann::json::array();
    for (std::int64_t id : ids) list.push_back(id);
    Stmt s(db_.get(),
           "SELECT f.rowid, bm25(chunks_fts) FROM chunks_fts f WHERE chunks_fts MATCH ?1 "
           "AND f.rowid IN (SELECT value FROM json_each(?2))");
    if (!s.ok()) return db_error(db_.get(), "keyword scores");
    s.bind(1, match).bind(2, list.dump());
    auto found = all_rows<Scored>(db_.get(), s, "keyword scores", [](Stmt& r) { return Scored{r.i64(0), -r.real(1)}; });
    if (!found) return found.take_error();
    std::unordered_map<std::int64_t, double> by_id;
    for (const Scored& f : *found) by_id[f.id] = f.score;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto it = by_id.find(ids[i]);
      if (it != by_id.end()) out[i] = it->second;
    }
    return out;
  }

  Result<std::vector<Scored>> vector_search(std::int64_t collection_id, std::span<const float> query,
                                            std::size_t limit, const SearchFilter& filter) override {
    auto where = filter_sql(filter, "?1", 2);
    if (!where) return where.take_error();
    if (limit == 0 || query.empty()) return std::vector<Scored>{};
    const std::string sql =
        "SELECT k.id, k.vector FROM chunks k JOIN documents d ON d.id = k.document_id "
        "WHERE d.collection_id = ?1 AND k.vector IS NOT NULL" +
        where->sql;
    Stmt s(db_.get(), sql.c_str());
    if (!s.ok()) return db_error(db_.get(), "vector search");
    s.bind(1, collection_id);
    bind_filter(s, *where);
    // Keep the best `limit` in a min-heap.
    auto worse = [](const Scored& a, const Scored& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); };
    std::priority_queue<Scored, std::vector<Scored>, decltype(worse)> best(worse);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      const auto v = s.floats_view(1);
      if (v.size() != query.size()) {
        return invalid_argument(
            fmt::format("the query vector has {} dimensions; the collection's have {}", query.size(), v.size()),
            "vector");
      }
      best.push({s.i64(0), cosine(query, v)});
      if (best.size() > limit) best.pop();
    }
    if (rc != SQLITE_DONE) return db_error(db_.get(), "vector search");
    std::vector<Scored> out;
    while (!best.empty()) {
      out.push_back(best.top());
      best.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  Result<std::vector<ChunkHit>> chunks(std::span<const std::int64_t> ids) override {
    Stmt s(db_.get(),
           "SELECT k.id, k.document_id, k.ordinal, k.text, k.heading_path, k.char_start, k.char_end, k.page, "
           "k.text_hash, k.vector, d.uri, d.title, d.metadata FROM chunks k JOIN documents d ON d.id = k.document_id "
           "WHERE k.id = ?1");
    if (!s.ok()) return db_error(db_.get(), "read chunks");
    std::vector<ChunkHit> out;
    for (std::int64_t id : ids) {
      Stmt& one = s;
      one.reset();
      one.bind(1, id);
      const int rc = one.step();
      if (rc == SQLITE_DONE) continue;  // removed since it was found
      if (rc != SQLITE_ROW) return db_error(db_.get(), "read chunks");
      ChunkHit h;
      h.chunk = {one.i64(0), one.i64(1), static_cast<int>(one.i64(2)), one.text(3), one.text(4), one.i64(5),
                 one.i64(6), static_cast<int>(one.i64(7)), one.text(8), one.floats(9)};
      h.document_uri = one.text(10);
      h.document_title = one.text(11);
      h.document_metadata_json = one.text(12);
      out.push_back(std::move(h));
    }
    return out;
  }

  Result<std::vector<std::int64_t>> vector_chunk_ids(std::int64_t collection_id) override {
    Stmt s(db_.get(),
           "SELECT k.id FROM chunks k JOIN documents d ON d.id = k.document_id "
           "WHERE d.collection_id = ?1 AND k.vector IS NOT NULL ORDER BY k.id");
    if (!s.ok()) return db_error(db_.get(), "list vectors");
    s.bind(1, collection_id);
    return all_rows<std::int64_t>(db_.get(), s, "list vectors", [](Stmt& r) { return r.i64(0); });
  }

  Result<std::vector<std::int64_t>> chunk_ids(std::int64_t collection_id) override {
    Stmt s(db_.get(),
           "SELECT k.id FROM chunks k JOIN documents d ON d.id = k.document_id "
           "WHERE d.collection_id = ?1 ORDER BY k.id");
    if (!s.ok()) return db_error(db_.get(), "list chunks");
    s.bind(1, collection_id);
    return all_rows<std::int64_t>(db_.get(), s, "list chunks", [](Stmt& r) { return r.i64(0); });
  }

  Result<std::vector<std::pair<std::int64_t, std::string>>> chunk_search_texts(
      std::span<const std::int64_t> ids) override {
    Stmt s(db_.get(), "SELECT search_text FROM chunks WHERE id = ?1");
    if (!s.ok()) return db_error(db_.get(), "read chunk texts");
    std::vector<std::pair<std::int64_t, std::string>> out;
    out.reserve(ids.size());
    for (std::int64_t id : ids) {
      s.reset();
      s.bind(1, id);
      const int rc = s.step();
      if (rc == SQLITE_ROW) out.emplace_back(id, s.text(0));
      else if (rc != SQLITE_DONE) return db_error(db_.get(), "read chunk texts");
    }
    return out;
  }

  Result<std::vector<ChunkVector>> chunk_vectors(std::span<const std::int64_t> ids) override {
    Stmt s(db_.get(), "SELECT vector FROM chunks WHERE id = ?1 AND vector IS NOT NULL");
    if (!s.ok()) return db_error(db_.get(), "read vectors");
    std::vector<ChunkVector> out;
    out.reserve(ids.size());
    for (std::int64_t id : ids) {
      s.reset();
      s.bind(1, id);
      const int rc = s.step();
      if (rc == SQLITE_DONE) continue;
      if (rc != SQLITE_ROW) return db_error(db_.get(), "read vectors");
      out.push_back({id, s.floats(0)});
    }
    return out;
  }

 private:
  static void bind_filter(Stmt& s, const FilterSql& f) {
    for (std::size_t i = 0; i < f.params.size(); ++i) s.bind(f.first_param + static_cast<int>(i), f.params[i]);
  }

  std::unique_ptr<sqlite3, DbClose> db_;
  std::unique_ptr<TextTokenizer> tokenizer_;
  const std::string path_;
};

}  // namespace

Result<std::unique_ptr<KnowledgeStore>> open_sqlite_store(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, DbClose> db(raw);
  if (rc != SQLITE_OK) {
    return unavailable(fmt::format("cannot open the knowledge store '{}': {}", path,
                                   raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), 5000);
  HEARTH_TRY(register_fts5_tokenizer(db.get()));
  if (sqlite3_create_function(db.get(), "hearth_uri_glob", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                              nullptr, uri_glob_function, nullptr, nullptr) != SQLITE_OK) {
    return db_error(db.get(), "register hearth_uri_glob");
  }
  auto tokenizer = TextTokenizer::create();
  if (!tokenizer) return tokenizer.take_error();
  auto store = std::make_unique<SqliteStore>(std::move(db), std::move(*tokenizer), path);
  HEARTH_TRY(store->exec("PRAGMA journal_mode = WAL", "enable WAL"));
  HEARTH_TRY(store->exec("PRAGMA foreign_keys = ON", "enable foreign keys"));
  HEARTH_TRY(store->exec("PRAGMA synchronous = NORMAL", "set synchronous"));
  HEARTH_TRY(store->exec(kSchema, "create the schema"));
  HEARTH_TRY(store->migrate());
  // Per connection (nothing is added to the file): the index's document frequency per term.
  HEARTH_TRY(store->exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, row)",
                         "create the vocabulary view"));
  return std::unique_ptr<KnowledgeStore>(std::move(store));
}

}  // namespace hearth::knowledge
