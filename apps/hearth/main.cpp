// hearth: the one binary. Subcommands: serve, run, models, make-test-model, kb, keys, tls, audit,
// privacy, users.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/kb_commands.h"
#include "cli/keys_commands.h"
#include "cli/privacy_commands.h"
#include "cli/users_commands.h"
#include "cli/tls_commands.h"
#include "core/memory.h"

int main(int argc, char** argv) {
  using namespace hearth;
  configure_allocator();
  CLI::App app{"Hearth: a self-hosted AI dialogue server for local GGUF models (OpenAI-compatible API)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hearth 0.1.0");

  ServeArgs serve;
  auto* s = app.add_subcommand("serve", "Serve the models of a catalog (and/or GGUF files) over HTTP");
  s->add_option("-c,--config", serve.config, "Config file (TOML); default: $HEARTH_CONFIG or ./config/hearth.toml");
  s->add_option("-m,--model", serve.models, "A GGUF file to serve (repeatable); its id is the file name stem");
  s->add_option("--host", serve.host, "Address to listen on (default 127.0.0.1)");
  s->add_option("--port", serve.port, "Port (0: any free port)");
  s->add_option("--port-file", serve.port_file, "Write the bound port to this file");
  s->add_option("--log-level", serve.log_level, "trace, debug, info, warn, error");
  s->add_option("--ctx-size", serve.context_size, "Context size for --model files");
  s->add_option("--parallel", serve.parallel, "Parallel sequences for --model files");
  s->add_option("--threads", serve.threads, "CPU threads for --model files");
  s->add_option("--batch-size", serve.batch_size, "Tokens per decode step for --model files (default 512)");
  s->add_option("--ubatch-size", serve.ubatch_size, "Tokens per llama.cpp micro-batch for --model files (default 256)");
  s->add_option("--prefill-spread", serve.prefill_spread,
                "For --model files: how much later (a fraction) the last prompt of a burst may complete so "
                "that the first ones answer sooner (default 0.05; 0: one big step)")
      ->check(CLI::Range(0.0, 1.0));
  s->add_flag("--mmap", serve.mmap, "Memory-map --model files instead of reading them into memory");
  s->add_flag("--no-huge-pages", serve.no_huge_pages,
              "For --model files: leave the weights in 4 KiB pages (huge_pages = false; by default Linux is asked to "
              "back them with transparent huge pages)");
  s->add_option("--flash-attn", serve.flash_attn, "auto, on or off for --model files (default auto: on where supported)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  s->add_option("--auth", serve.auth,
                "Who may call: none (no credentials; loopback only), keys (API keys from `hearth keys create`, "
                "and signed-in users), jwt (an identity provider's tokens; needs [auth.jwt]) or keys+jwt; "
                "default: [auth] mode, else none")
      ->check(CLI::IsMember({"none", "keys", "jwt", "keys+jwt"}));
  s->add_flag("--insecure-no-auth", serve.insecure_no_auth,
              "Allow --auth none on a non-loopback --host (anyone who can reach the port may use everything)");
  s->add_flag("--batch-invariant", serve.batch_invariant,
              "Output independent of concurrent requests for --model files: ggml's reference CPU kernels, weights "
              "not repacked (batch_invariant = true; long prompts are slower)");
  s->add_option("--tls-cert", serve.tls_cert,
                "PEM certificate: serve HTTPS and WSS only (with --tls-key; [tls] cert_file)");
  s->add_option("--tls-key", serve.tls_key, "PEM private key of --tls-cert ([tls] key_file)");
  s->add_option("--ui-dir", serve.ui_dir,
                "Serve the web app from this directory (a development build, e.g. web/dist) instead of the copy "
                "built into the binary ([ui] dir)");

  RunArgs run;
  auto* r = app.add_subcommand("run", "Chat with a model in the terminal (or complete one prompt)");
  r->add_option("model", run.model, "Catalog id/alias, or a GGUF file")->required();
  r->add_option("prompt", run.prompt, "One prompt; without it, an interactive chat starts");
  r->add_option("-c,--config", run.config, "Config file");
  r->add_option("--system", run.system, "System prompt");
  r->add_option("-n,--max-tokens", run.max_tokens, "Most tokens per answer")->check(CLI::PositiveNumber);
  r->add_option("--temperature", run.temperature, "Sampling temperature (0: greedy)")->check(CLI::Range(0.0, 2.0));
  r->add_option("--seed", run.seed, "Sampling seed");
  r->add_option("--ctx-size", run.context_size, "Context size")->check(CLI::Range(16, 1 << 20));
  r->add_option("--threads", run.threads, "CPU threads");
  r->add_flag("--raw", run.raw, "Complete the prompt as is, without the chat template");

  auto* m = app.add_subcommand("models", "Manage the model catalog's files");
  m->require_subcommand(1);
  std::string mconfig;
  m->add_option("-c,--config", mconfig, "Config file");
  auto* ml = m->add_subcommand("list", "List catalog models and their files");
  PullArgs pull;
  auto* mp = m->add_subcommand("pull", "Download a model (resumable, SHA-256 verified)");
  mp->add_option("what", pull.what, "Catalog id, or an http(s) URL (Hugging Face 'resolve' URLs work)")->required();
  mp->add_option("--sha256", pull.sha256, "Expected SHA-256 (overrides the catalog's)");
  mp->add_option("-o,--output", pull.output, "File name in the models directory (URLs only)");
  mp->add_option("--token", pull.token, "Bearer token (default: $HF_TOKEN)");
  std::vector<std::string> verify_ids, rm_ids;
  auto* mv = m->add_subcommand("verify", "Check model files against their catalog SHA-256");
  mv->add_option("ids", verify_ids, "Model ids (default: all)");
  auto* mr = m->add_subcommand("rm", "Delete model files");
  mr->add_option("ids", rm_ids, "Model ids")->required();
  for (auto* sub : {ml, mp, mv, mr}) sub->fallthrough();  // `models pull X --config C` works too

  MakeTestModelArgs mk;
  auto* t = app.add_subcommand("make-test-model",
                               "Write small random-weight GGUF models with real tokenizers (for tests and the default)");
  t->add_option("-p,--preset", mk.presets, "qwen2, llama3, deepseek-r1, bert, bert-reranker, qwen2-small, qwen2-small-q8_0, qwen2-0.5b (default: all but qwen2-0.5b)");
  t->add_option("-o,--out", mk.out_dir, "Output directory");
  t->add_option("--llama-models", mk.llama_models_dir, "llama.cpp's models/ directory (default: found in the cache)");
  t->add_option("--type", mk.type, "Weight type: f32, f16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k");
  t->add_option("--threads", mk.threads, "Threads for quantizing");
  t->add_flag("-f,--force", mk.force, "Overwrite existing files");

  KbArgs kb;
  auto* k = app.add_subcommand("kb", "Knowledge collections: ingest documents, keep them in sync, search them");
  k->require_subcommand(1);
  k->add_option("--db", kb.db, "Knowledge store (default: $HEARTH_KB_DB or data/knowledge.sqlite)");
  k->add_option("--embeddings", kb.embeddings, "Static embeddings file (default: the one setup builds)");
  k->add_option("-c,--config", kb.config, "Model catalog for gguf: embedders (default: $HEARTH_CONFIG or ./config/hearth.toml)");
  k->add_option("-m,--model", kb.models, "A GGUF file for gguf: embedders (repeatable); its id is the file name stem");
  auto* kc = k->add_subcommand("create", "Create a collection");
  kc->add_option("collection", kb.collection, "Collection name")->required();
  kc->add_option("--embedder", kb.embedder,
                 "static (default), gguf:<model id>, or openai:<base url>#<model>[?key_env=VAR&batch=N&dims=N&"
                 "timeout=S&connect_timeout=S&retries=N]");
  auto* ka = k->add_subcommand("add", "Add files, directories (recursively) or web pages to a collection and ingest them");
  ka->add_option("collection", kb.collection, "Collection name")->required();
  ka->add_option("paths", kb.paths, "Files, directories or http(s) URLs (one page each)")->required();
  ka->add_option("--include", kb.include, "Globs to include, comma-separated (default: all supported files)");
  ka->add_option("--exclude", kb.exclude, "Globs to exclude, comma-separated");
  ka->add_option("--chunk-tokens", kb.chunk_tokens, "Target chunk size in tokens (default 256)");
  ka->add_option("--overlap-tokens", kb.overlap_tokens, "Overlap between chunks in tokens (default 32)");
  auto* ks = k->add_subcommand("sync", "Re-read a collection's sources: index what changed, drop what is gone");
  ks->add_option("collection", kb.collection, "Collection name")->required();
  auto* kq = k->add_subcommand("search", "Hybrid search (BM25 + vectors) in a collection");
  kq->add_option("collection", kb.collection, "Collection name")->required();
  kq->add_option("query", kb.query, "Query text")->required();
  kq->add_option("-k,--top-k", kb.top_k, "Results (default 5)")->check(CLI::Range(1, 100));
  kq->add_option("--alpha", kb.alpha, "0: keyword only .. 1: semantic only (default: 0.1 for static embeddings, else 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  kq->add_flag("--rrf", kb.rrf, "Reciprocal-rank fusion instead of relative scores");
  kq->add_flag("--json", kb.json, "JSON output");
  auto* kl = k->add_subcommand("ls", "List collections, or the documents of one");
  kl->add_option("collection", kb.collection, "Collection name");
  auto* kr = k->add_subcommand("rm", "Delete a collection, or some of its documents");
  kr->add_option("collection", kb.collection, "Collection name")->required();
  kr->add_option("documents", kb.paths, "Document paths (default: the whole collection)");
  for (auto* sub : {kc, ka, ks, kq, kl, kr}) sub->fallthrough();

  KeysArgs keys;
  add_keys_commands(app, keys);
  TlsArgs tls;
  add_tls_commands(app, tls);
  PrivacyArgs privacy;
  add_privacy_commands(app, privacy);
  UsersArgs users;
  add_users_commands(app, users);

  CLI11_PARSE(app, argc, argv);

  if (!keys.action.empty()) return cmd_keys(keys);
  if (!tls.action.empty()) return cmd_tls(tls);
  if (!privacy.action.empty()) return cmd_privacy(privacy);
  if (!users.action.empty()) return cmd_users(users);

  for (auto* sub : {kc, ka, ks, kq, kl, kr}) {
    if (sub->parsed()) return cmd_kb(sub->get_name(), kb);
  }

  if (s->parsed()) return cmd_serve(serve);
  if (r->parsed()) return cmd_run(run);
  if (t->parsed()) return cmd_make_test_model(mk);
  pull.config = mconfig;
  if (ml->parsed()) return cmd_models_list(mconfig);
  if (mp->parsed()) return cmd_models_pull(pull);
  if (mv->parsed()) return cmd_models_verify(mconfig, verify_ids);
  if (mr->parsed()) return cmd_models_rm(mconfig, rm_ids);
  return 1;
}
