// The SQLite knowledge store's schema and its migrations (issue #3); used by sqlite_store.cpp
// only. A database made by an older Hearth is brought up to date when opened: missing tables and
// triggers are created, missing columns added (kAddedColumns), and the id sequences and counts
// filled in from what is there.
#pragma once

namespace hearth::knowledge::sqlite_schema {

inline constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS collections (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  embedder TEXT NOT NULL,
  dimensions INTEGER NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (unixepoch()),
  revision INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS documents (
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  uri TEXT NOT NULL,
  title TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
  metadata TEXT NOT NULL DEFAULT '{}',
  UNIQUE (collection_id, uri)
);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  text TEXT NOT NULL,
  heading_path TEXT NOT NULL,
  char_start INTEGER NOT NULL,
  char_end INTEGER NOT NULL,
  page INTEGER NOT NULL,
  text_hash TEXT NOT NULL,
  search_text TEXT NOT NULL,  -- what BM25 sees: the document title, the heading path and the text
  vector BLOB
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(search_text, content = 'chunks', content_rowid = 'id',
                                                         tokenize = 'hearth');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
CREATE TABLE IF NOT EXISTS sources (
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  uri TEXT NOT NULL,
  include TEXT NOT NULL,
  exclude TEXT NOT NULL,
  interval_seconds INTEGER NOT NULL DEFAULT 0,
  last_synced_at INTEGER NOT NULL DEFAULT 0,
  UNIQUE (collection_id, uri)
);
-- The last id handed out for 'collections' and 'chunks' (never reused, unlike SQLite's rowids),
-- and the last collection revision.
CREATE TABLE IF NOT EXISTS id_sequences (
  name TEXT PRIMARY KEY,
  last INTEGER NOT NULL
);
)sql";

// Brings a database made by an older Hearth up to this schema; runs in a write transaction.
inline constexpr const char* kMigrations = R"sql(
INSERT OR IGNORE INTO id_sequences(name, last) SELECT 'collections', coalesce(max(id), 0) FROM collections;
INSERT OR IGNORE INTO id_sequences(name, last) SELECT 'chunks', coalesce(max(id), 0) FROM chunks;
INSERT OR IGNORE INTO id_sequences(name, last) VALUES ('revisions', 0);
)sql";

// Columns added after the first release: table, column, definition.
struct AddedColumn {
  const char* table;
  const char* column;
  const char* definition;
};
inline constexpr AddedColumn kAddedColumns[] = {
    {"collections", "revision", "INTEGER NOT NULL DEFAULT 0"},
    {"collections", "doc_count", "INTEGER NOT NULL DEFAULT 0"},
    {"collections", "chunk_count", "INTEGER NOT NULL DEFAULT 0"},
    {"documents", "chunk_count", "INTEGER NOT NULL DEFAULT 0"},
    {"documents", "metadata", "TEXT NOT NULL DEFAULT '{}'"},
    {"sources", "interval_seconds", "INTEGER NOT NULL DEFAULT 0"},
    {"sources", "last_synced_at", "INTEGER NOT NULL DEFAULT 0"},
};

// Counts kept by triggers, so that reading a collection (every search does) is O(1), not a
// count over its chunks. Chunks count into their document; documents into their collection. A
// document's delete subtracts whatever its count still is, so this holds whether its chunks go
// before it or after it (cascade).
inline constexpr const char* kCountTriggers = R"sql(
CREATE TRIGGER IF NOT EXISTS chunks_count_ai AFTER INSERT ON chunks BEGIN
  UPDATE documents SET chunk_count = chunk_count + 1 WHERE id = new.document_id;
END;
CREATE TRIGGER IF NOT EXISTS chunks_count_ad AFTER DELETE ON chunks BEGIN
  UPDATE documents SET chunk_count = chunk_count - 1 WHERE id = old.document_id;
END;
CREATE TRIGGER IF NOT EXISTS documents_count_au AFTER UPDATE OF chunk_count ON documents BEGIN
  UPDATE collections SET chunk_count = chunk_count + new.chunk_count - old.chunk_count WHERE id = new.collection_id;
END;
CREATE TRIGGER IF NOT EXISTS documents_count_ai AFTER INSERT ON documents BEGIN
  UPDATE collections SET doc_count = doc_count + 1, chunk_count = chunk_count + new.chunk_count
  WHERE id = new.collection_id;
END;
CREATE TRIGGER IF NOT EXISTS documents_count_ad AFTER DELETE ON documents BEGIN
  UPDATE collections SET doc_count = doc_count - 1, chunk_count = chunk_count - old.chunk_count
  WHERE id = old.collection_id;
END;
)sql";

// Run once when the count columns were just added to an older database.
inline constexpr const char* kRecount = R"sql(
UPDATE documents SET chunk_count = (SELECT count(*) FROM chunks k WHERE k.document_id = documents.id);
UPDATE collections SET
  doc_count = (SELECT count(*) FROM documents d WHERE d.collection_id = collections.id),
  chunk_count = (SELECT coalesce(sum(d.chunk_count), 0) FROM documents d WHERE d.collection_id = collections.id);
)sql";

}  // namespace hearth::knowledge::sqlite_schema
