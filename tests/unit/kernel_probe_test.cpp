// The load-time kernel probe (engine/kernel_probe.h) on this machine's CPU: ggml's reference
// kernels, as Hearth's llama.cpp patch 0002 leaves them, compute every row the same way in any
// batch, for every weight type the probe can make, several KV types, head sizes and thread
// counts; and the probe does see the fast kernels change with the batch (so it can fail).
#include "engine/kernel_probe.h"

#include "core/host.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hearth {
namespace {

std::string describe(const KernelProbeSpec& s) {
  return fmt::format("{} weight types, {} KV, heads of {}/{}, {}/{} heads, threads {}/{}", s.weight_types.size(),
                     ggml_type_name(s.kv_type), s.head_dim_k, s.head_dim_v, s.n_head, s.n_head_kv, s.threads,
                     s.threads_batch);
}

TEST(KernelProbeTest, ReferenceKernelsComputeEveryRowAsAlone) {
  for (const KernelProbeSpec& spec : kernel_check_matrix()) {
    const KernelProbeResult r = probe_batch_invariance(spec);
    EXPECT_EQ(r.varying, std::vector<std::string>{}) << describe(spec);
    EXPECT_EQ(r.unchecked, std::vector<std::string>{}) << describe(spec);
  }
}

// Without the reference switch llama.cpp's fast kernels serve batches: tinyBLAS for two or more
// rows of f16 weights (x86 with AVX), the tiled flash attention for 64+ queries and the split one
// for a single query over 512+ cells. The probe must see them.
TEST(KernelProbeTest, SeesTheFastKernelsChangeWithTheBatch) {
  KernelProbeSpec spec;
  spec.weight_types = {GGML_TYPE_F16, GGML_TYPE_Q4_K};
  spec.head_dim_k = spec.head_dim_v = 64;
  spec.threads = spec.threads_batch = 2;
  spec.reference = false;
  const KernelProbeResult r = probe_batch_invariance(spec);
  const auto has = [&](const std::string& what) {
    return std::find(r.varying.begin(), r.varying.end(), what) != r.varying.end();
  };
  EXPECT_TRUE(has("f16 matrix products")) << fmt::format("{}", fmt::join(r.varying, "; "));
  EXPECT_TRUE(has("flash attention over 512+ f16 KV cells")) << fmt::format("{}", fmt::join(r.varying, "; "));
}

TEST(KernelProbeTest, TypesItCannotMakeAreReportedNotGuessed) {
  KernelProbeSpec spec;
  spec.weight_types = {GGML_TYPE_I32, GGML_TYPE_F16};
  spec.kv_type = GGML_TYPE_I8;
  const KernelProbeResult r = probe_batch_invariance(spec);
  EXPECT_EQ(r.unchecked, (std::vector<std::string>{"i32", "i8 KV cache"}));
  EXPECT_FALSE(r.ok());
}

// The ISA extensions whose kernels ggml selects when present (the build is -march=native): each
// test probes the types that run on that extension here, and where this CPU lacks it the skip
// names the extension, the CPU and where it is checked instead, so every test summary shows which
// kernels this run could not cover. (AMX kernels serve only repacked weights, which
// batch_invariant turns off.)
bool cpu_has(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w) {
      if (w == flag) return true;
    }
    return false;
  }
  return false;
}

void probe_extension(const char* flag, const char* name, const char* where, std::vector<ggml_type> weights,
                     ggml_type kv) {
  if (!cpu_has(flag)) {
    GTEST_SKIP() << "CPU-dependent: this CPU (" << cpu_model_name() << ") has no " << name << "; its kernels are "
                 << "checked on " << where;
  }
  KernelProbeSpec spec;
  spec.weight_types = std::move(weights);
  spec.kv_type = kv;
  spec.threads = 1;
  spec.threads_batch = 2;
  const KernelProbeResult r = probe_batch_invariance(spec);
  EXPECT_TRUE(r.ok()) << fmt::format("{}; {}", fmt::join(r.varying, ", "), fmt::join(r.unchecked, ", "));
}

TEST(KernelProbeTest, Avx512Fp16HalfPrecisionKernels) {
  probe_extension("avx512_fp16", "AVX512-FP16 (half-precision dot products)", "Intel Xeon 4th generation and later",
                  {GGML_TYPE_F16}, GGML_TYPE_F16);
}

TEST(KernelProbeTest, Avx512Bf16Kernels) {
  probe_extension("avx512_bf16", "AVX512-BF16", "AMD EPYC 4th generation and later, Intel Xeon 3rd generation and later",
                  {GGML_TYPE_BF16}, GGML_TYPE_BF16);
}

TEST(KernelProbeTest, Avx512VnniIntegerKernels) {
  probe_extension("avx512_vnni", "AVX512-VNNI", "AMD EPYC 4th generation and later, Intel Xeon 2nd generation and later",
                  {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL}, GGML_TYPE_Q8_0);
}

TEST(KernelProbeTest, Avx512Kernels) {
  probe_extension("avx512f", "AVX-512", "AMD EPYC 4th generation and later, Intel Xeon 1st generation and later",
                  {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q4_K, GGML_TYPE_Q8_0}, GGML_TYPE_F16);
}

TEST(KernelProbeTest, ReadsTheMatrixTypesOfAModelFile) {
  const char* dir = std::getenv("HEARTH_MODELS");
  if (!dir) GTEST_SKIP() << "HEARTH_MODELS is not set (scripts/test.sh sets it)";
  auto f16 = gguf_matrix_types((std::filesystem::path(dir) / "hearth-tiny-qwen2.gguf").string());
  ASSERT_TRUE(f16.ok());
  EXPECT_EQ(*f16, std::vector<ggml_type>{GGML_TYPE_F16});
  auto q4 = gguf_matrix_types((std::filesystem::path(dir) / "hearth-small-qwen2.gguf").string());
  ASSERT_TRUE(q4.ok());
  EXPECT_NE(std::find(q4->begin(), q4->end(), GGML_TYPE_Q4_K), q4->end());
  EXPECT_NE(std::find(q4->begin(), q4->end(), GGML_TYPE_Q6_K), q4->end());
  EXPECT_FALSE(gguf_matrix_types("/nonexistent/model.gguf").ok());
}

}  // namespace
}  // namespace hearth
