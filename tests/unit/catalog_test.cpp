// The TOML configuration and model catalog: parse_config, Config::find and entry_for_file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "models/catalog.h"

using namespace hearth;
namespace fs = std::filesystem;

namespace {

constexpr const char* kBase = "/srv/hearth";

constexpr const char* kFullConfig = R"toml(
# A full configuration: every key of every table.
[server]
host = "0.0.0.0"
port = 9090
threads = 4
max_body_bytes = 1048576
shutdown_grace_seconds = 5
request_timeout_seconds = 30
log_level = "debug"

[models]
dir = "weights"
memory_budget_mb = 2048
idle_unload_seconds = 300
load_wait_seconds = 60
default = "chat"

[[model]]
id = "qwen3-0.6b"
aliases = ["chat", "small"]
file = "qwen3-0.6b-q8_0.gguf"
url = "https://example.com/qwen3-0.6b-q8_0.gguf"
sha256 = "ABCDEF0123456789"
verify_on_load = true
context_size = 8192
parallel = 2
threads = 3
threads_batch = 6
batch_size = 256
ubatch_size = 128
kv_type = "q8_0"
gpu_layers = -1
kv_unified = false
flash_attn = "on"
batch_invariant = true
mmap = true
huge_pages = false
max_queue = 10
prefill_spread = 0
join_window_ms = 0
chat_template = "chatml"
sampling = { temperature = 0.6, top_k = 20, top_p = 0.9, min_p = 0.0, repeat_penalty = 1.1, presence_penalty = 0.5, frequency_penalty = 0.25, penalty_last_n = 32, seed = 7 }

[[model]]
id = "embed"
aliases = ["e5"]
file = "/opt/models/embed.gguf"

[[model]]
id = "sibling"
file = "../shared/./sibling.gguf"
)toml";

Config parse_ok(const std::string& text, const std::string& base = kBase) {
  auto c = parse_config(text, base);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  if (!c) return {};
  return std::move(c).value();
}

Error parse_err(const std::string& text) {
  auto c = parse_config(text, kBase);
  EXPECT_FALSE(c.ok()) << "config was accepted:\n" << text;
  if (c) return {};
  return c.take_error();
}

}  // namespace

TEST(Catalog, FullConfigParsesIntoTheRightValues) {
  const Config c = parse_ok(kFullConfig);

  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9090);
  EXPECT_EQ(c.server.threads, 4);
  EXPECT_EQ(c.server.max_body_bytes, 1048576u);
  EXPECT_EQ(c.server.shutdown_grace_seconds, 5);
  EXPECT_EQ(c.server.request_timeout_seconds, 30);
  EXPECT_EQ(c.server.log_level, "debug");

  EXPECT_EQ(c.models.dir, "/srv/hearth/weights");
  EXPECT_EQ(c.models.memory_budget_bytes, 2048ull << 20);
  EXPECT_EQ(c.models.idle_unload_seconds, 300);
  EXPECT_EQ(c.models.load_wait_seconds, 60);
  EXPECT_EQ(c.models.default_model, "chat");

  ASSERT_EQ(c.entries.size(), 3u);
  EXPECT_THAT(c.ids(), ::testing::ElementsAre("qwen3-0.6b", "embed", "sibling"));

  const ModelEntry& q = c.entries[0];
  EXPECT_EQ(q.id, "qwen3-0.6b");
  EXPECT_THAT(q.aliases, ::testing::ElementsAre("chat", "small"));
  EXPECT_EQ(q.file, "/srv/hearth/weights/qwen3-0.6b-q8_0.gguf") << "relative to models.dir";
  EXPECT_EQ(q.load.path, q.file);
  EXPECT_EQ(q.url, "https://example.com/qwen3-0.6b-q8_0.gguf");
  EXPECT_EQ(q.sha256, "abcdef0123456789") << "digest is lower-cased";
  EXPECT_TRUE(q.verify_on_load);
  EXPECT_EQ(q.load.context_size, 8192);
  EXPECT_EQ(q.load.parallel, 2);
  EXPECT_EQ(q.load.threads, 3);
  EXPECT_EQ(q.load.threads_batch, 6);
  EXPECT_EQ(q.load.batch_size, 256);
  EXPECT_EQ(q.load.ubatch_size, 128);
  EXPECT_EQ(q.load.kv_type, "q8_0");
  EXPECT_EQ(q.load.gpu_layers, -1);
  EXPECT_FALSE(q.load.kv_unified);
  EXPECT_EQ(q.load.flash_attn, "on");
  EXPECT_TRUE(q.load.batch_invariant);
  EXPECT_TRUE(q.load.mmap);
  EXPECT_FALSE(q.load.huge_pages);
  EXPECT_EQ(q.load.max_queue, 10);
  EXPECT_EQ(q.load.prefill_spread, 0.0) << "an integer 0 is accepted";
  EXPECT_EQ(q.load.join_window_ms, 0);
  EXPECT_EQ(q.load.chat_template, "chatml");
  EXPECT_FLOAT_EQ(q.sampling.temperature, 0.6f);
  EXPECT_EQ(q.sampling.top_k, 20);
  EXPECT_FLOAT_EQ(q.sampling.top_p, 0.9f);
  EXPECT_FLOAT_EQ(q.sampling.min_p, 0.0f);
  EXPECT_FLOAT_EQ(q.sampling.repeat_penalty, 1.1f);
  EXPECT_FLOAT_EQ(q.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(q.sampling.frequency_penalty, 0.25f);
  EXPECT_EQ(q.sampling.penalty_last_n, 32);
  ASSERT_TRUE(q.sampling.seed.has_value());
  EXPECT_EQ(*q.sampling.seed, 7u);

  const ModelEntry& e = c.entries[1];
  EXPECT_EQ(e.file, "/opt/models/embed.gguf") << "absolute paths are kept";
  EXPECT_THAT(e.aliases, ::testing::ElementsAre("e5"));
  // Unset keys keep their defaults.
  const ModelLoadOptions defaults;
  const SamplingParams sdefaults;
  EXPECT_EQ(e.load.context_size, defaults.context_size);
  EXPECT_EQ(e.load.parallel, defaults.parallel);
  EXPECT_EQ(e.load.kv_type, defaults.kv_type);
  EXPECT_EQ(e.load.kv_unified, defaults.kv_unified);
  EXPECT_FALSE(e.load.batch_invariant) << "llama.cpp's fast kernels unless batch_invariant = true";
  EXPECT_EQ(e.load.flash_attn, "auto");
  EXPECT_FALSE(e.load.mmap) << "weights are read into memory unless mmap = true";
  EXPECT_TRUE(e.load.huge_pages);
  EXPECT_EQ(e.load.ubatch_size, 256);
  EXPECT_DOUBLE_EQ(e.load.prefill_spread, 0.05);
  EXPECT_EQ(e.load.join_window_ms, 50);
  EXPECT_FALSE(e.verify_on_load);
  EXPECT_EQ(e.sha256, "");
  EXPECT_FLOAT_EQ(e.sampling.temperature, sdefaults.temperature);
  EXPECT_FALSE(e.sampling.seed.has_value());

  EXPECT_EQ(c.entries[2].file, "/srv/hearth/shared/sibling.gguf") << "paths are normalized";
}

TEST(Catalog, DefaultsWithoutTables) {
  const Config c = parse_ok("", "/data/app");
  const ServerSettings s;
  EXPECT_EQ(c.server.host, s.host);
  EXPECT_EQ(c.server.port, s.port);
  EXPECT_EQ(c.server.threads, s.threads);
  EXPECT_EQ(c.models.dir, "/data/app/models") << "models.dir defaults to <base>/models";
  EXPECT_EQ(c.models.memory_budget_bytes, ModelsSettings{}.memory_budget_bytes);
  EXPECT_TRUE(c.entries.empty());
  EXPECT_TRUE(c.models.default_model.empty());
}

TEST(Catalog, ModelFileResolvesAgainstDefaultModelsDir) {
  const Config c = parse_ok("[[model]]\nid = \"a\"\nfile = \"sub/a.gguf\"\n", "/data/app");
  ASSERT_EQ(c.entries.size(), 1u);
  EXPECT_EQ(c.entries[0].file, "/data/app/models/sub/a.gguf");
}

TEST(Catalog, AbsoluteModelsDirIsKept) {
  const Config c = parse_ok("[models]\ndir = \"/var/lib/hearth\"\n[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n");
  EXPECT_EQ(c.models.dir, "/var/lib/hearth");
  ASSERT_EQ(c.entries.size(), 1u);
  EXPECT_EQ(c.entries[0].file, "/var/lib/hearth/a.gguf");
}

TEST(Catalog, FindByIdAndAlias) {
  const Config c = parse_ok(kFullConfig);
  const ModelEntry* by_id = c.find("qwen3-0.6b");
  ASSERT_NE(by_id, nullptr);
  EXPECT_EQ(by_id, &c.entries[0]);
  EXPECT_EQ(c.find("chat"), &c.entries[0]);
  EXPECT_EQ(c.find("small"), &c.entries[0]);
  EXPECT_EQ(c.find("embed"), &c.entries[1]);
  EXPECT_EQ(c.find("e5"), &c.entries[1]);
  EXPECT_EQ(c.find("sibling"), &c.entries[2]);
  EXPECT_EQ(c.find("unknown"), nullptr);
  EXPECT_EQ(c.find(""), nullptr);
  EXPECT_EQ(c.find("Chat"), nullptr) << "names are case-sensitive";
}

TEST(Catalog, IntegerIsAcceptedForFloatSamplingKey) {
  const Config c = parse_ok("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n[model.sampling]\ntemperature = 1\n");
  ASSERT_EQ(c.entries.size(), 1u);
  EXPECT_FLOAT_EQ(c.entries[0].sampling.temperature, 1.0f);
}

// ---- errors name the key ----

TEST(Catalog, UnknownKeyInServer) {
  const Error e = parse_err("[server]\nport = 8080\nbogus = 1\n");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.message, ::testing::HasSubstr("unknown key server.bogus"));
  EXPECT_EQ(e.param, "bogus");
}

TEST(Catalog, UnknownTopLevelTable) {
  const Error e = parse_err("[srever]\nport = 8080\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("unknown key srever"));
  EXPECT_EQ(e.param, "srever");
}

TEST(Catalog, UnknownKeyInModelAndSampling) {
  const Error e1 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\ncontext = 10\n");
  EXPECT_THAT(e1.message, ::testing::HasSubstr("unknown key model[0].context"));
  EXPECT_EQ(e1.param, "context");
  const Error e2 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nsampling = { temp = 0.5 }\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("unknown key model[0].sampling.temp"));
  EXPECT_EQ(e2.param, "temp");
}

TEST(Catalog, WrongTypeNamesTheKey) {
  const Error e = parse_err("[server]\nport = \"x\"\n");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.message, ::testing::HasSubstr("server.port has the wrong type"));
  EXPECT_EQ(e.param, "port");

  const Error e2 = parse_err("[server]\nhost = 1\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("server.host has the wrong type"));
  EXPECT_EQ(e2.param, "host");

  const Error e3 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nkv_unified = \"yes\"\n");
  EXPECT_THAT(e3.message, ::testing::HasSubstr("model[0].kv_unified has the wrong type"));
  EXPECT_EQ(e3.param, "kv_unified");

  const Error e3b = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nmmap = 1\n");
  EXPECT_THAT(e3b.message, ::testing::HasSubstr("model[0].mmap has the wrong type"));
  EXPECT_EQ(e3b.param, "mmap");
  const Error e3c = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nubatch_size = 0\n");
  EXPECT_THAT(e3c.message, ::testing::HasSubstr("model[0].ubatch_size must be at least 1"));
  const Error e3d = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nprefill_spread = 1.5\n");
  EXPECT_THAT(e3d.message, ::testing::HasSubstr("model[0].prefill_spread must be between 0 and 1"));
  EXPECT_EQ(e3d.param, "prefill_spread");
  const Error e3e = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nprefill_spread = \"high\"\n");
  EXPECT_THAT(e3e.message, ::testing::HasSubstr("model[0].prefill_spread has the wrong type"));
  const Error e3f = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nprefill_spread = nan\n");
  EXPECT_THAT(e3f.message, ::testing::HasSubstr("model[0].prefill_spread must be between 0 and 1"));
  for (const char* bad : {"-1", "10001"}) {
    const Error e3g = parse_err(std::string("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\njoin_window_ms = ") + bad + "\n");
    EXPECT_THAT(e3g.message, ::testing::HasSubstr("model[0].join_window_ms must be between 0 and 10000")) << bad;
    EXPECT_EQ(e3g.param, "join_window_ms");
  }

  const Error e4 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\ncontext_size = 1.5\n");
  EXPECT_THAT(e4.message, ::testing::HasSubstr("model[0].context_size has the wrong type"));

  const Error e5 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nsampling = { top_k = \"many\" }\n");
  EXPECT_THAT(e5.message, ::testing::HasSubstr("model[0].sampling.top_k has the wrong type"));
  EXPECT_EQ(e5.param, "top_k");

  const Error e6 = parse_err("[models]\nmemory_budget_mb = \"lots\"\n");
  EXPECT_THAT(e6.message, ::testing::HasSubstr("models.memory_budget_mb has the wrong type"));
  EXPECT_EQ(e6.param, "memory_budget_mb");
}

TEST(Catalog, PortOutOfRange) {
  for (const char* port : {"65536", "-1", "100000"}) {
    SCOPED_TRACE(port);
    const Error e = parse_err(std::string("[server]\nport = ") + port + "\n");
    EXPECT_THAT(e.message, ::testing::HasSubstr("server.port must be 0..65535"));
    EXPECT_EQ(e.param, "port");
  }
  EXPECT_EQ(parse_ok("[server]\nport = 0\n").server.port, 0);
  EXPECT_EQ(parse_ok("[server]\nport = 65535\n").server.port, 65535);
}

TEST(Catalog, ThreadsMustBePositive) {
  const Error e = parse_err("[server]\nthreads = 0\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("server.threads must be at least 1"));
  EXPECT_EQ(e.param, "threads");
}

TEST(Catalog, DuplicateAliasAcrossModels) {
  const Error e = parse_err(
      "[[model]]\nid = \"a\"\naliases = [\"chat\"]\nfile = \"a.gguf\"\n"
      "[[model]]\nid = \"b\"\naliases = [\"chat\"]\nfile = \"b.gguf\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model name 'chat' is used twice"));
}

TEST(Catalog, AliasCollidingWithAnotherModelsId) {
  const Error e = parse_err(
      "[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n"
      "[[model]]\nid = \"b\"\naliases = [\"a\"]\nfile = \"b.gguf\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model name 'a' is used twice"));
}

TEST(Catalog, DuplicateId) {
  const Error e = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n[[model]]\nid = \"a\"\nfile = \"b.gguf\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model name 'a' is used twice"));
}

TEST(Catalog, ModelWithoutFile) {
  const Error e = parse_err("[[model]]\nid = \"a\"\n[[model]]\nid = \"b\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model[0].file is required"));
  EXPECT_EQ(e.param, "file");
  const Error e2 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n[[model]]\nid = \"b\"\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("model[1].file is required"));
}

TEST(Catalog, ModelWithoutId) {
  const Error e = parse_err("[[model]]\nfile = \"a.gguf\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model[0].id is required"));
  EXPECT_EQ(e.param, "id");
}

TEST(Catalog, AliasesMustBeStrings) {
  const Error e = parse_err("[[model]]\nid = \"a\"\naliases = [1]\nfile = \"a.gguf\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model[0].aliases must be strings"));
  EXPECT_EQ(e.param, "aliases");
  const Error e2 = parse_err("[[model]]\nid = \"a\"\naliases = \"chat\"\nfile = \"a.gguf\"\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("model[0].aliases must be an array of strings"));
}

TEST(Catalog, ModelMustBeArrayOfTables) {
  const Error e = parse_err("model = \"a\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model must be an array of tables"));
  EXPECT_EQ(e.param, "model");
}

TEST(Catalog, LoadOptionLimits) {
  const std::string head = "[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n";
  EXPECT_THAT(parse_err(head + "context_size = 8\n").message, ::testing::HasSubstr("context_size must be at least 16"));
  EXPECT_THAT(parse_err(head + "parallel = 0\n").message, ::testing::HasSubstr("parallel must be at least 1"));
  EXPECT_THAT(parse_err(head + "batch_size = 0\n").message, ::testing::HasSubstr("batch_size must be at least 1"));
  EXPECT_THAT(parse_err(head + "max_queue = -1\n").message, ::testing::HasSubstr("max_queue must not be negative"));
}

TEST(Catalog, DefaultNamingUnknownModel) {
  const Error e = parse_err("[models]\ndefault = \"ghost\"\n[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("models.default names 'ghost', which is not in the catalog"));
  EXPECT_EQ(e.param, "default");
}

TEST(Catalog, DefaultMayNameAnIdOrAlias) {
  EXPECT_EQ(parse_ok("[models]\ndefault = \"a\"\n[[model]]\nid = \"a\"\nfile = \"a.gguf\"\n").models.default_model, "a");
  EXPECT_EQ(parse_ok("[models]\ndefault = \"x\"\n[[model]]\nid = \"a\"\naliases=[\"x\"]\nfile = \"a.gguf\"\n")
                .models.default_model,
            "x");
}

TEST(Catalog, InvalidToml) {
  const Error e = parse_err("[server]\nport = \n");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.message, ::testing::HasSubstr("config is not valid TOML (line 2)"));

  const Error e2 = parse_err("[server\nport = 1\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("config is not valid TOML"));

  const Error e3 = parse_err("[server]\nport = 1\nport = 2\n");
  EXPECT_THAT(e3.message, ::testing::HasSubstr("config is not valid TOML (line 3)"));
}

TEST(Catalog, EntryForFileDerivesIdFromStem) {
  const ModelEntry e = entry_for_file("/models/qwen3-0.6b-q8_0.gguf");
  EXPECT_EQ(e.id, "qwen3-0.6b-q8_0");
  EXPECT_EQ(e.file, "/models/qwen3-0.6b-q8_0.gguf");
  EXPECT_EQ(e.load.path, e.file);
  EXPECT_TRUE(e.aliases.empty());

  const ModelEntry r = entry_for_file("some/dir/../tiny.gguf");
  EXPECT_EQ(r.id, "tiny");
  EXPECT_TRUE(fs::path(r.file).is_absolute());
  EXPECT_EQ(r.file, (fs::current_path() / "some/tiny.gguf").lexically_normal().string());
  EXPECT_EQ(r.load.path, r.file);
}

TEST(Catalog, IntegersThatDoNotFitAreRejectedNotWrapped) {
  const Error e = parse_err("[server]\nport = 4294967297\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("server.port = 4294967297 is out of range"));
  const Error e2 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\ncontext_size = 4294967312\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("out of range"));
  EXPECT_EQ(e2.param, "context_size");
}

TEST(Catalog, SizesMustBeSane) {
  EXPECT_THAT(parse_err("[server]\nmax_body_bytes = -1\n").message, ::testing::HasSubstr("out of range"));
  EXPECT_THAT(parse_err("[server]\nmax_body_bytes = 10\n").message, ::testing::HasSubstr("at least 1024"));
  EXPECT_THAT(parse_err("[models]\nmemory_budget_mb = -5\n").message, ::testing::HasSubstr("between 1 and 2^40"));
  EXPECT_THAT(parse_err("[models]\nmemory_budget_mb = 17592186044416\n").message,
              ::testing::HasSubstr("between 1 and 2^40"));
  EXPECT_THAT(parse_err("[models]\nidle_unload_seconds = -1\n").message, ::testing::HasSubstr("must not be negative"));
}

TEST(Catalog, TablesOfTheWrongTypeAreRejected) {
  EXPECT_THAT(parse_err("server = 5\n").message, ::testing::HasSubstr("[server] must be a table"));
  EXPECT_THAT(parse_err("models = \"x\"\n").message, ::testing::HasSubstr("[models] must be a table"));
  EXPECT_THAT(parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nsampling = 5\n").message,
              ::testing::HasSubstr("sampling must be a table"));
}

TEST(Catalog, BooleansAreNotIntegers) {
  const Error e = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nkv_unified = 2\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("model[0].kv_unified has the wrong type"));
  const Error e2 = parse_err("[[model]]\nid = \"a\"\nfile = \"a.gguf\"\nverify_on_load = 1\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("verify_on_load has the wrong type"));
}

TEST(Catalog, NonAsciiOnlyInsideStringsAndComments) {
  // Found by fuzzing: toml++ reaches undefined behaviour on some characters outside strings.
  EXPECT_THAT(parse_err("\xef\xae\xbf = 1\n").message, ::testing::HasSubstr("line 1: non-ASCII character"));
  EXPECT_THAT(parse_err("[server]\nhost = \"x\"\n\xe4\xbd\xa0 = 2\n").message, ::testing::HasSubstr("line 3"));
  const Config c = parse_ok("# 注释: comment\n[[model]]\nid = \"模型\"\nfile = '文件.gguf'\n"
                            "chat_template = \"\"\"你好\n\"世界\"\"\"\"\n");
  ASSERT_EQ(c.entries.size(), 1u);
  EXPECT_EQ(c.entries[0].id, "模型");
}

TEST(Catalog, NonAsciiAfterBackslashesIsRefused) {
  // Found by fuzzing: toml++ 3.3 reaches undefined behaviour on these.
  EXPECT_THAT(parse_err("x = \"a\\\xc3\xa9\"\n").message, ::testing::HasSubstr("invalid escape sequence"));
  EXPECT_THAT(parse_err("x = \"\"\"thread\\\\\\\\\\\\]\\\xef\xbb\xb7]\"\"\"\n").message,
              ::testing::HasSubstr("invalid escape sequence"));
  // After a line-ending backslash, non-ASCII text is kept (as an escape for the parser).
  const Config c = parse_ok("[[model]]\nid = \"\"\"a \\\n   \xef\xb7\xb7 b\"\"\"\nfile = 'f\xc3\xa9\\x\"y.gguf'\n");
  EXPECT_EQ(c.entries[0].id, "a \xef\xb7\xb7 b");
  EXPECT_EQ(fs::path(c.entries[0].file).filename().string(), "f\xc3\xa9\\x\"y.gguf");
  // Ordinary non-ASCII text and escapes still work.
  EXPECT_EQ(parse_ok("[[model]]\nid = \"caf\xc3\xa9 \\u00e9\"\nfile = \"a.gguf\"\n").entries[0].id, "caf\xc3\xa9 \xc3\xa9");
}

// ---- [auth], [outbound], knowledge.allowed_roots ----

TEST(Catalog, AuthModeNoneAndKeysAreAccepted) {
  EXPECT_EQ(parse_ok("[auth]\nmode = \"none\"\n").auth.mode, "none");
  EXPECT_EQ(parse_ok("[auth]\nmode = \"keys\"\n").auth.mode, "keys");
  const Config c = parse_ok("[auth]\nmode = \"none\"\nallow_none_on_network = true\n");
  EXPECT_TRUE(c.auth.allow_none_on_network);
}

TEST(Catalog, AuthModeOtherValuesAreRefused) {
  for (const char* mode : {"jwt+", "other", "", "Keys"}) {
    SCOPED_TRACE(mode);
    const Error e = parse_err(std::string("[auth]\nmode = \"") + mode + "\"\n");
    EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.message, ::testing::HasSubstr("auth.mode"));
    EXPECT_THAT(e.message, ::testing::HasSubstr(std::string("'") + mode + "'"));
    EXPECT_EQ(e.param, "mode");
  }
  EXPECT_THAT(parse_err("[auth]\nmode = 1\n").message, ::testing::HasSubstr("auth.mode has the wrong type"));
  EXPECT_THAT(parse_err("[auth]\nallow_none_on_network = \"yes\"\n").message,
              ::testing::HasSubstr("auth.allow_none_on_network has the wrong type"));
}

TEST(Catalog, UnknownKeyInAuthAndOutbound) {
  const Error e = parse_err("[auth]\nmode = \"keys\"\nissuer = \"x\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("unknown key auth.issuer"));
  EXPECT_EQ(e.param, "issuer");
  const Error e2 = parse_err("[outbound]\ndeny = [\"x\"]\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("unknown key outbound.deny"));
  EXPECT_THAT(parse_err("auth = \"keys\"\n").message, ::testing::HasSubstr("[auth] must be a table"));
  EXPECT_THAT(parse_err("outbound = 1\n").message, ::testing::HasSubstr("[outbound] must be a table"));
}

TEST(Catalog, AuthPathsResolveAgainstTheConfigDir) {
  const Config c = parse_ok("[auth]\ndb = \"keys/auth.db\"\nsecret_file = \"../secrets/./auth.secret\"\n");
  EXPECT_EQ(c.auth.db, "/srv/hearth/keys/auth.db");
  EXPECT_EQ(c.auth.secret_file, "/srv/secrets/auth.secret");
  const Config abs = parse_ok("[auth]\ndb = \"/var/lib/hearth/auth.db\"\nsecret_file = \"/etc/hearth/secret\"\n");
  EXPECT_EQ(abs.auth.db, "/var/lib/hearth/auth.db");
  EXPECT_EQ(abs.auth.secret_file, "/etc/hearth/secret");
}

TEST(Catalog, AuthDefaultsWithoutTheTable) {
  const Config c = parse_ok("", "/data/app/conf");
  EXPECT_EQ(c.auth.mode, "none");
  EXPECT_FALSE(c.auth.allow_none_on_network);
  EXPECT_TRUE(c.auth.roles.empty());
  EXPECT_TRUE(fs::path(c.auth.db).is_absolute());
  EXPECT_THAT(c.auth.db, ::testing::EndsWith("data/auth.sqlite"));
  EXPECT_EQ(c.auth.db, "/data/app/data/auth.sqlite") << "next to the knowledge db: <config dir>/../data";
  EXPECT_EQ(c.auth.secret_file, "/data/app/data/auth.secret");
  EXPECT_TRUE(c.outbound.allow.empty());
  EXPECT_TRUE(c.knowledge.allowed_roots.empty());
  // An [auth] table without the paths keeps the defaults.
  const Config k = parse_ok("[auth]\nmode = \"keys\"\n", "/data/app/conf");
  EXPECT_EQ(k.auth.db, "/data/app/data/auth.sqlite");
  EXPECT_EQ(k.auth.secret_file, "/data/app/data/auth.secret");
}

TEST(Catalog, AuthRolesAreParsed) {
  const Config c = parse_ok("[auth]\nmode = \"keys\"\n[auth.roles]\nrunner = [\"inference\"]\nops = [\"metrics.read\", \"server.read\"]\n");
  ASSERT_EQ(c.auth.roles.size(), 2u);
  EXPECT_THAT(c.auth.roles, ::testing::UnorderedElementsAre(
                                ::testing::Pair("runner", ::testing::ElementsAre("inference")),
                                ::testing::Pair("ops", ::testing::ElementsAre("metrics.read", "server.read"))));
  // Permission names are checked by the server (RoleTable), not here.
  const Config u = parse_ok("[auth.roles]\nx = [\"no.such.permission\"]\nempty = []\n");
  EXPECT_THAT(u.auth.roles, ::testing::UnorderedElementsAre(
                                ::testing::Pair("x", ::testing::ElementsAre("no.such.permission")),
                                ::testing::Pair("empty", ::testing::IsEmpty())));
}

TEST(Catalog, AuthRolesMustBeArraysOfStrings) {
  const Error e = parse_err("[auth.roles]\nrunner = \"inference\"\n");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.message, ::testing::HasSubstr("auth.roles.runner must be an array of strings"));
  EXPECT_EQ(e.param, "runner");
  EXPECT_THAT(parse_err("[auth.roles]\nrunner = [1]\n").message,
              ::testing::HasSubstr("auth.roles.runner must be an array of non-empty strings"));
  EXPECT_THAT(parse_err("[auth.roles]\nrunner = [\"\"]\n").message,
              ::testing::HasSubstr("auth.roles.runner must be an array of non-empty strings"));
  EXPECT_THAT(parse_err("[auth]\nroles = [\"inference\"]\n").message, ::testing::HasSubstr("auth.roles must be a table"));
}

TEST(Catalog, OutboundAllowIsParsed) {
  const Config c = parse_ok("[outbound]\nallow = [\"wiki.corp\", \"*.corp\", \"10.0.0.0/8\", \"127.0.0.1\"]\n");
  EXPECT_THAT(c.outbound.allow, ::testing::ElementsAre("wiki.corp", "*.corp", "10.0.0.0/8", "127.0.0.1"));
  EXPECT_TRUE(parse_ok("[outbound]\nallow = []\n").outbound.allow.empty());
  EXPECT_TRUE(parse_ok("[outbound]\n").outbound.allow.empty());
}

TEST(Catalog, OutboundAllowMustBeAnArrayOfNonEmptyStrings) {
  const Error e = parse_err("[outbound]\nallow = \"wiki.corp\"\n");
  EXPECT_THAT(e.message, ::testing::HasSubstr("outbound.allow must be an array of strings"));
  EXPECT_EQ(e.param, "allow");
  const Error e2 = parse_err("[outbound]\nallow = [\"wiki.corp\", 5]\n");
  EXPECT_THAT(e2.message, ::testing::HasSubstr("outbound.allow must be an array of non-empty strings"));
  EXPECT_EQ(e2.param, "allow");
  const Error e3 = parse_err("[outbound]\nallow = [\"\"]\n");
  EXPECT_THAT(e3.message, ::testing::HasSubstr("outbound.allow must be an array of non-empty strings"));
}

namespace {

// A fresh canonical directory under /tmp, removed afterwards.
class CatalogAllowedRoots : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/hearth_catalog_roots_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = fs::canonical(tmpl);
    fs::create_directories(dir_ / "docs" / "sub");
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  static std::string roots(const std::vector<std::string>& paths) {
    std::string s = "[knowledge]\nallowed_roots = [";
    for (std::size_t i = 0; i < paths.size(); ++i) s += (i ? ", \"" : "\"") + paths[i] + "\"";
    return s + "]\n";
  }
  fs::path dir_;
};

}  // namespace

TEST_F(CatalogAllowedRoots, AbsoluteDirectoriesAreAccepted) {
  const std::string docs = (dir_ / "docs").string();
  const Config c = parse_ok(roots({docs, (dir_ / "docs" / "sub").string()}));
  EXPECT_THAT(c.knowledge.allowed_roots, ::testing::ElementsAre(docs, (dir_ / "docs" / "sub").string()));
}

TEST_F(CatalogAllowedRoots, AreCanonicalised) {
  fs::create_directory_symlink(dir_ / "docs", dir_ / "docs-link");
  const std::string docs = (dir_ / "docs").string();
  const Config c = parse_ok(roots({(dir_ / "docs-link").string(), dir_.string() + "/./docs/sub/../",
                                   dir_.string() + "/docs-link/sub/"}));
  EXPECT_THAT(c.knowledge.allowed_roots, ::testing::ElementsAre(docs, docs, docs + "/sub"));
}

TEST_F(CatalogAllowedRoots, RelativeRootIsRefusedNamingIt) {
  const Error e = parse_err(roots({"docs"}));
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.message, ::testing::HasSubstr("knowledge.allowed_roots"));
  EXPECT_THAT(e.message, ::testing::HasSubstr("'docs'"));
  EXPECT_THAT(e.message, ::testing::HasSubstr("not an absolute path"));
  EXPECT_EQ(e.param, "allowed_roots");
  EXPECT_THAT(parse_err(roots({"./srv/docs"})).message, ::testing::HasSubstr("'./srv/docs'"));
}

TEST_F(CatalogAllowedRoots, NonexistentOrNonDirectoryRootIsRefused) {
  const std::string missing = (dir_ / "missing").string();
  const Error e = parse_err(roots({(dir_ / "docs").string(), missing}));
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.message, ::testing::HasSubstr("knowledge.allowed_roots"));
  EXPECT_THAT(e.message, ::testing::HasSubstr("'" + missing + "'"));
  EXPECT_EQ(e.param, "allowed_roots");

  std::ofstream(dir_ / "file.txt") << "x";
  const std::string file = (dir_ / "file.txt").string();
  EXPECT_THAT(parse_err(roots({file})).message, ::testing::HasSubstr("'" + file + "' is not a directory"));

  fs::create_directory_symlink(dir_ / "gone", dir_ / "dangling");
  EXPECT_THAT(parse_err(roots({(dir_ / "dangling").string()})).message, ::testing::HasSubstr("is not a directory"));
}

TEST_F(CatalogAllowedRoots, MustBeAnArrayOfNonEmptyStrings) {
  EXPECT_THAT(parse_err("[knowledge]\nallowed_roots = \"/srv\"\n").message,
              ::testing::HasSubstr("knowledge.allowed_roots must be an array of strings"));
  EXPECT_THAT(parse_err("[knowledge]\nallowed_roots = [\"\"]\n").message,
              ::testing::HasSubstr("knowledge.allowed_roots must be an array of non-empty strings"));
  EXPECT_THAT(parse_err("[knowledge]\nallowed_roots = [1]\n").message,
              ::testing::HasSubstr("knowledge.allowed_roots must be an array of non-empty strings"));
}
