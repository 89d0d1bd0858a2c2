// llama.cpp contexts as Hearth makes them. Included only by src/engine and the tests that run
// llama.cpp itself.
#pragma once

#include <llama-cpp.h>

namespace hearth {

// A new context. reference_kernels turns on ggml's reference-kernel switch in the context's CPU
// backend (batch_invariant: each output row is computed the same way whatever the batch's
// shape). Thread-safe: context creations and model loads take turns (see model_engine.cpp).
llama_context_ptr new_llama_context(llama_model* model, const llama_context_params& cp, bool reference_kernels);

}  // namespace hearth
