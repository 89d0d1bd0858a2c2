// hearth-kernel-probe: the batch-invariance kernel check (src/engine/kernel_probe.h) as a program.
// scripts/kernel-variants.sh links it against ggml built for one x86 ISA level at a time (AVX2,
// AVX-512, AVX-512 with VNNI and BF16, AVX512-FP16), so one test run checks the kernels that
// CPUs other than its own would select, as far as its CPU can execute them.
// Exit status: 0 every row agreed (and the fast kernels' control differed), 1 otherwise.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ggml-cpu.h>

#include <string>
#include <vector>

#include "core/host.h"
#include "engine/kernel_probe.h"

int main() {
  using namespace hearth;
  std::vector<std::string> isa;
  if (ggml_cpu_has_avx2()) isa.emplace_back("AVX2");
  if (ggml_cpu_has_fma()) isa.emplace_back("FMA");
  if (ggml_cpu_has_f16c()) isa.emplace_back("F16C");
  if (ggml_cpu_has_avx512()) isa.emplace_back("AVX512");
  if (ggml_cpu_has_avx512_vbmi()) isa.emplace_back("AVX512-VBMI");
  if (ggml_cpu_has_avx512_vnni()) isa.emplace_back("AVX512-VNNI");
  if (ggml_cpu_has_avx512_bf16()) isa.emplace_back("AVX512-BF16");
#if defined(HEARTH_PROBE_AVX512_FP16)
  isa.emplace_back("AVX512-FP16");
#endif
  fmt::print("ggml built for: {} (running on {})\n", fmt::join(isa, " "), cpu_model_name());
  int failures = 0;
  for (const KernelProbeSpec& spec : kernel_check_matrix()) {
    const KernelProbeResult r = probe_batch_invariance(spec);
    const std::string what = fmt::format("{} weight types, {} KV, heads of {}/{}, threads {}/{}", spec.weight_types.size(),
                                         ggml_type_name(spec.kv_type), spec.head_dim_k, spec.head_dim_v, spec.threads,
                                         spec.threads_batch);
    if (r.ok()) {
      fmt::print("  ok    {}\n", what);
    } else {
      ++failures;
      fmt::print("  FAIL  {}: varying [{}], unchecked [{}]\n", what, fmt::join(r.varying, ", "),
                 fmt::join(r.unchecked, ", "));
    }
  }
  // The control: without the reference switch the f16 rows go through tinyBLAS in batches.
  KernelProbeSpec fast;
  fast.weight_types = {GGML_TYPE_F16};
  fast.threads = fast.threads_batch = 2;
  fast.reference = false;
  const KernelProbeResult control = probe_batch_invariance(fast);
  const bool seen = !control.varying.empty();
  fmt::print("  {}  control: the fast kernels {} with the batch ({})\n", seen ? "ok  " : "FAIL",
             seen ? "changed" : "did not change", fmt::join(control.varying, ", "));
  if (!seen) ++failures;
  fmt::print("{}\n", failures == 0 ? "every row agreed" : fmt::format("{} checks failed", failures));
  return failures == 0 ? 0 : 1;
}
