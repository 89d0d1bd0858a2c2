// The load-time kernel probe (engine/kernel_probe.h) on this machine's CPU: ggml's reference
// kernels, as Hearth's llama.cpp patch 0002 leaves them, compute every row the same way in any
// batch, for every weight type the probe can make, several KV types, head sizes and thread
// counts; and the probe does see the fast kernels change with the batch (so it can fail).
#include "engine/kernel_probe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace hearth {
namespace {

const std::vector<ggml_type> kWeightTypes = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16,   GGML_TYPE_Q4_0,   GGML_TYPE_Q4_1,  GGML_TYPE_Q5_0,
    GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K,   GGML_TYPE_Q3_K,   GGML_TYPE_Q4_K,  GGML_TYPE_Q5_K,
    GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ3_S, GGML_TYPE_IQ2_S, GGML_TYPE_MXFP4,
    GGML_TYPE_TQ2_0};

TEST(KernelProbeTest, ReferenceKernelsComputeEveryRowAsAlone) {
  struct Shape {
    ggml_type kv;
    int head_dim, n_head, n_head_kv, threads, threads_batch;
  };
  const Shape shapes[] = {
      {GGML_TYPE_F16, 64, 14, 2, 2, 2},  {GGML_TYPE_F16, 16, 4, 2, 1, 2},  {GGML_TYPE_F32, 128, 8, 8, 2, 1},
      {GGML_TYPE_Q8_0, 128, 32, 8, 2, 2}, {GGML_TYPE_BF16, 64, 4, 4, 2, 2}, {GGML_TYPE_Q4_0, 64, 4, 1, 1, 1},
  };
  for (const Shape& s : shapes) {
    KernelProbeSpec spec;
    spec.weight_types = kWeightTypes;
    spec.kv_type = s.kv;
    spec.head_dim = s.head_dim;
    spec.n_head = s.n_head;
    spec.n_head_kv = s.n_head_kv;
    spec.threads = s.threads;
    spec.threads_batch = s.threads_batch;
    const KernelProbeResult r = probe_batch_invariance(spec);
    EXPECT_EQ(r.varying, std::vector<std::string>{})
        << "kv " << ggml_type_name(s.kv) << ", head_dim " << s.head_dim << ", threads " << s.threads << "/"
        << s.threads_batch;
    EXPECT_EQ(r.unchecked, std::vector<std::string>{});
  }
}

// Without the reference switch llama.cpp's fast kernels serve batches: tinyBLAS for two or more
// rows of f16 weights (x86 with AVX), the tiled flash attention for 64+ queries and the split one
// for a single query over 512+ cells. The probe must see them.
TEST(KernelProbeTest, SeesTheFastKernelsChangeWithTheBatch) {
  KernelProbeSpec spec;
  spec.weight_types = {GGML_TYPE_F16, GGML_TYPE_Q4_K};
  spec.head_dim = 64;
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
