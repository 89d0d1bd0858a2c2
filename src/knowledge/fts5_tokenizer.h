// Registers TextTokenizer with SQLite's FTS5 as the tokenizer "hearth", so BM25 search sees
// the same words for Chinese and English that the rest of Hearth does:
//   CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'hearth');
//
// Thread-safety: call once per connection, before the connection is shared. Each FTS5 table
// gets its own TextTokenizer, used only by the thread that is using the connection.
#pragma once

#include "core/result.h"

struct sqlite3;

namespace hearth::knowledge {

Status register_fts5_tokenizer(sqlite3* db);

}  // namespace hearth::knowledge
