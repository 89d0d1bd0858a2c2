// `hearth kb ...`: knowledge collections from the command line (issue #3).
#pragma once

#include <string>
#include <vector>

namespace hearth {

struct KbArgs {
  std::string db;          // default: $HEARTH_KB_DB, else data/knowledge.sqlite
  std::string embeddings;  // default: $HEARTH_STATIC_EMBEDDINGS, else the file setup builds
  std::string embedder;    // create: the collection's embedder spec (default: static)
  std::string config;      // model catalog for gguf embedders (default as `hearth run`)
  std::vector<std::string> models;  // GGUF files for gguf embedders (ids: the file stems)
  std::string collection;
  std::vector<std::string> paths;  // add: files/directories; rm: document URIs
  std::string include, exclude;    // globs separated by ','
  std::string query;
  int top_k = 5;
  double alpha = -1;  // < 0: the collection's default (0.1 for static embeddings, else 0.5)
  bool rrf = false;
  bool json = false;
  int chunk_tokens = 256;
  int overlap_tokens = 32;
};

// action: create, add, sync, search, ls, rm
int cmd_kb(const std::string& action, const KbArgs& args);

}  // namespace hearth
