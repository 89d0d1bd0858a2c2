#include "engine/batch_invariance.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace hearth {

BatchInvarianceFacts batch_invariance_settings(bool requested, std::string_view flash_attn, bool kv_unified) {
  BatchInvarianceFacts f;
  f.requested = requested;
  f.flash_attn_off = flash_attn == "off";
  f.kv_unified = kv_unified;
  return f;
}

BatchInvariance assess_batch_invariance(const BatchInvarianceFacts& f) {
  BatchInvariance v;
  v.requested = f.requested;
  const auto broken = [&](std::string reason) {
    v.holds = false;
    v.reason = std::move(reason);
    return v;
  };
  if (!f.requested) {
    return broken("batch_invariant = false: llama.cpp's fastest kernels, whose results change with the batch's shape");
  }
  if (f.flash_attn_off) {
    return broken("flash_attn = \"off\": llama.cpp computes attention without it through matrix products over all "
                  "of a step's KV cells, so greedy output can depend on concurrent requests; leave flash_attn at "
                  "\"auto\" for batch-invariant output");
  }
  if (f.kv_unified && f.embedding == false) {
    return broken("kv_unified = true: sequences share one KV pool, where the cells of concurrent requests "
                  "interleave and attention sums them in another order, so greedy output can depend on concurrent "
                  "requests; leave kv_unified off for batch-invariant output");
  }
  if (f.accelerators && !f.accelerators->empty()) {
    return broken(fmt::format("llama.cpp can run layers or large batches on {}, whose kernels change with the batch's "
                              "shape; only the CPU backend has reference kernels",
                              fmt::join(*f.accelerators, ", ")));
  }
  if (f.recurrent == true) {
    return broken("a recurrent or hybrid model (Mamba, RWKV, ...): Hearth checks batch invariance for transformer "
                  "models only");
  }
  if (f.sliding_window == true) {
    return broken("a model with sliding-window attention (Gemma 2/3, ...): its window's KV cells are reused as "
                  "it moves, where a token lands can depend on the step's micro-batches, and Hearth does not "
                  "check that for batch invariance");
  }
  const std::string cpu = f.cpu.empty() ? std::string("this CPU") : f.cpu;
  if (f.varying_kernels && !f.varying_kernels->empty()) {
    return broken(fmt::format("on {} these kernels gave a row different bits in a batch than alone: {}", cpu,
                              fmt::join(*f.varying_kernels, ", ")));
  }
  if (!f.unprobed.empty()) {
    return broken(fmt::format("the load-time kernel check cannot test {}, so nothing is promised",
                              fmt::join(f.unprobed, ", ")));
  }
  if (!f.embedding || !f.accelerators || !f.recurrent || !f.sliding_window || !f.varying_kernels) {
    v.reason = "decided when the model loads: it must run on the CPU alone, be a transformer and pass the kernel check";
    return v;
  }
  v.holds = true;
  v.reason = fmt::format("ggml's reference CPU kernels, weights in their file layout, {}; the kernels checked on {}",
                         *f.embedding ? "one input per batch" : "flash attention, a KV stream per sequence", cpu);
  return v;
}

}  // namespace hearth
