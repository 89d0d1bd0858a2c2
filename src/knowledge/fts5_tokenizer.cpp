#include "knowledge/fts5_tokenizer.h"

#include <sqlite3.h>

#include <fmt/format.h>

#include <climits>
#include <memory>

#include "knowledge/text_tokenizer.h"

namespace hearth::knowledge {
namespace {

// FTS5's opaque tokenizer handle is ours to define.
struct HearthFts5 {
  std::unique_ptr<TextTokenizer> tokenizer;
};

Fts5Tokenizer* as_handle(HearthFts5* t) { return reinterpret_cast<Fts5Tokenizer*>(t); }
HearthFts5* from_handle(Fts5Tokenizer* t) { return reinterpret_cast<HearthFts5*>(t); }

int create(void*, const char**, int n_args, Fts5Tokenizer** out) {
  *out = nullptr;
  if (n_args != 0) return SQLITE_ERROR;  // the tokenizer takes no options
  auto t = TextTokenizer::create();
  if (!t) return SQLITE_ERROR;
  *out = as_handle(new HearthFts5{std::move(*t)});
  return SQLITE_OK;
}

void destroy(Fts5Tokenizer* t) { delete from_handle(t); }

int tokenize(Fts5Tokenizer* handle, void* ctx, int /*flags*/, const char* text, int n_text,
             int (*emit)(void*, int, const char*, int, int, int)) {
  if (n_text < 0 || text == nullptr) return n_text == 0 ? SQLITE_OK : SQLITE_ERROR;
  try {
    for (const TextToken& t : from_handle(handle)->tokenizer->tokenize({text, static_cast<size_t>(n_text)})) {
      if (t.text.size() > INT_MAX) continue;
      const int rc = emit(ctx, 0, t.text.data(), static_cast<int>(t.text.size()), static_cast<int>(t.begin),
                          static_cast<int>(t.end));
      if (rc != SQLITE_OK) return rc;
    }
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

fts5_api* fts5_api_of(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr) != SQLITE_OK) return nullptr;
  sqlite3_bind_pointer(stmt, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
  sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  return api;
}

}  // namespace

Status register_fts5_tokenizer(sqlite3* db) {
  fts5_api* api = fts5_api_of(db);
  if (api == nullptr || api->iVersion < 2) return unavailable("this SQLite has no FTS5");
  fts5_tokenizer t{create, destroy, tokenize};
  const int rc = api->xCreateTokenizer(api, "hearth", nullptr, &t, nullptr);
  if (rc != SQLITE_OK) {
    return unavailable(fmt::format("could not register the FTS5 tokenizer: {}", sqlite3_errstr(rc)));
  }
  return {};
}

}  // namespace hearth::knowledge
