// assess_batch_invariance: which settings and model facts keep or break the promise, as a table.
#include "engine/batch_invariance.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace hearth {
namespace {

// A loaded transformer on the CPU alone whose kernels passed the probe: the promise holds.
BatchInvarianceFacts loaded_ok() {
  BatchInvarianceFacts f = batch_invariance_settings(true, "auto", false);
  f.embedding = false;
  f.recurrent = false;
  f.sliding_window = false;
  f.accelerators = std::vector<std::string>{};
  f.varying_kernels = std::vector<std::string>{};
  f.cpu = "Intel(R) Xeon(R) Platinum 8480+";
  return f;
}

TEST(BatchInvarianceTest, Table) {
  struct Row {
    const char* name;
    BatchInvarianceFacts facts;
    std::optional<bool> holds;
    const char* reason_has;
  };
  std::vector<Row> rows;
  rows.push_back({"holds", loaded_ok(), true, "the kernels checked on Intel(R) Xeon(R) Platinum 8480+"});
  {
    BatchInvarianceFacts f = loaded_ok();
    f.embedding = true;
    rows.push_back({"embedding model", f, true, "one input per batch"});
    f.kv_unified = true;  // the embedding context is always unified, and batches one input
    rows.push_back({"embedding model, unified", f, true, "one input per batch"});
  }
  rows.push_back({"not requested", batch_invariance_settings(false, "auto", false), false, "batch_invariant = false"});
  {
    BatchInvarianceFacts f = loaded_ok();
    f.requested = false;
    rows.push_back({"not requested, loaded", f, false, "batch_invariant = false"});
  }
  rows.push_back({"flash attention off, before loading", batch_invariance_settings(true, "off", false), false,
                  "flash_attn = \"off\""});
  rows.push_back({"settings fine, before loading", batch_invariance_settings(true, "on", false), std::nullopt,
                  "decided when the model loads"});
  rows.push_back({"unified, before loading", batch_invariance_settings(true, "auto", true), std::nullopt,
                  "decided when the model loads"});
  {
    BatchInvarianceFacts f = loaded_ok();
    f.kv_unified = true;
    rows.push_back({"unified, generative", f, false, "kv_unified = true"});
  }
  {
    BatchInvarianceFacts f = loaded_ok();
    f.accelerators = std::vector<std::string>{"CUDA0", "BLAS"};
    rows.push_back({"a GPU", f, false, "CUDA0, BLAS"});
  }
  {
    BatchInvarianceFacts f = loaded_ok();
    f.recurrent = true;
    rows.push_back({"recurrent", f, false, "recurrent or hybrid"});
  }
  {
    BatchInvarianceFacts f = loaded_ok();
    f.sliding_window = true;
    rows.push_back({"sliding window", f, false, "sliding-window attention"});
  }
  {
    BatchInvarianceFacts f = loaded_ok();
    f.varying_kernels = std::vector<std::string>{"f16 matrix products", "flash attention over 512+ f16 KV cells"};
    rows.push_back({"kernels vary", f, false,
                    "on Intel(R) Xeon(R) Platinum 8480+ these kernels gave a row different bits in a batch than alone: "
                    "f16 matrix products, flash attention over 512+ f16 KV cells"});
  }
  {
    BatchInvarianceFacts f = loaded_ok();
    f.unprobed = {"i32"};
    rows.push_back({"a type the probe cannot make", f, false, "cannot test i32"});
  }
  {
    BatchInvarianceFacts f = loaded_ok();
    f.varying_kernels.reset();  // the probe did not run
    rows.push_back({"probe not run", f, std::nullopt, "decided when the model loads"});
  }
  {
    BatchInvarianceFacts f = loaded_ok();
    f.cpu.clear();
    rows.push_back({"CPU name unknown", f, true, "checked on this CPU"});
  }
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    const BatchInvariance v = assess_batch_invariance(r.facts);
    EXPECT_EQ(v.requested, r.facts.requested);
    EXPECT_EQ(v.holds, r.holds);
    EXPECT_NE(v.reason.find(r.reason_has), std::string::npos) << v.reason;
  }
}

}  // namespace
}  // namespace hearth
