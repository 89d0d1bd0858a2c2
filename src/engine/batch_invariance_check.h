// The batch-invariance verdict for a model as it loads (engine/batch_invariance.h): its settings,
// what llama.cpp says of the model and the devices, and the kernel probe (engine/kernel_probe.h)
// on this CPU. Runs on the loading thread.
#pragma once

#include <ggml.h>

#include "engine/batch_invariance.h"
#include "engine/model_engine.h"

struct llama_model;

namespace hearth {

BatchInvariance check_batch_invariance(const ModelLoadOptions& opt, const llama_model* model, bool is_embedding,
                                       ggml_type kv_type, int threads, int threads_batch);

}  // namespace hearth
