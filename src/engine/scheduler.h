// SlotScheduler: one thread per loaded model that owns the model's context and batches every
// active sequence continuously (after llama-server's update_slots, split into small parts).
//
// Threading: submit(), cancel(), stats() and stop() are thread-safe and never block on decoding.
// Everything else, including the DecodeBackend and all slot state, belongs to the scheduler
// thread. Events reach the caller's EventSink on the scheduler thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/result.h"
#include "engine/decode_backend.h"
#include "engine/slot_planning.h"
#include "engine/stop_matcher.h"
#include "core/utf8.h"

namespace hearth {

struct SchedulerConfig {
  int n_slots = 4;          // parallel sequences
  int n_ctx_per_seq = 4096; // prompt + completion limit per request
  int n_batch = 512;        // tokens per llama_decode
  int max_queue = 64;       // waiting requests beyond the busy slots; more get ResourceExhausted
  bool allow_kv_copy = true; // the backend can copy a cached prefix from one sequence to another
  CopyPrice kv_copy_price;    // what a copy costs, in prompt tokens (see choose_slot)
  int kv_split_cost = 0;     // the cost of one more run of adjacent busy slots (see choose_slot)
  // n_ubatch when llama.cpp splits each batch equally across sequences (a KV stream per
  // sequence; see plan_batch), 0 when it does not (one unified KV pool).
  int equal_split_ubatch = 0;
  // A burst of clients arriving together should share the first prompt step instead of queueing
  // behind the first request. Two ways:
  // - join_window (when the backend can stop a decode): for this long after the first request
  //   of a busy spell, a step of prompts alone (no stream decoding yet) is stopped as soon as
  //   another request arrives, and redone with it. A lone request never waits.
  // - gather_window (otherwise): starting from idle, the first step waits this long, or until
  //   every free slot has a request.
  std::chrono::microseconds join_window{0};
  std::chrono::microseconds gather_window{0};
  // Prompts waiting together are completed over several steps when the extra time this costs the
  // last of them stays under this fraction of their prompt work (see SpreadPolicy); 0: all in one.
  double prefill_spread = 0;
  // What one pass over the weights costs, in prompt tokens; 0: measured from the steps' timings.
  double pass_tokens = 0;
};

// Counters for tests and /metrics. Monotonic unless noted.
struct SchedulerStats {
  std::uint64_t requests_submitted = 0;
  std::uint64_t requests_completed = 0;
  std::uint64_t requests_cancelled = 0;
  std::uint64_t requests_rejected = 0;
  std::uint64_t prompt_tokens_computed = 0;
  std::uint64_t prompt_tokens_reused = 0;
  std::uint64_t tokens_generated = 0;
  std::uint64_t decode_calls = 0;
  std::uint64_t decode_failures = 0;
  std::uint64_t decode_interrupts = 0;  // steps stopped for a request that joined them (join_window)
  std::uint64_t batched_tokens = 0;
  int active_slots = 0;  // gauge
  int queued = 0;        // gauge
};

class RequestHandle;

class SlotScheduler {
 public:
  SlotScheduler(std::unique_ptr<DecodeBackend> backend, SchedulerConfig config);
  ~SlotScheduler();  // stops: pending and active requests end with FinishReason::kCancelled
  SlotScheduler(const SlotScheduler&) = delete;
  SlotScheduler& operator=(const SlotScheduler&) = delete;

  // Queues a request. Fails at once (sink not called) when the prompt does not fit the context
  // or the queue is full.
  Result<std::shared_ptr<RequestHandle>> submit(GenerationRequest request, EventSink sink);

  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return config_; }
  // Requests waiting or running; 0 means the model is idle.
  int load() const;
  void stop();

 private:
  struct Task;
  struct Slot;

  void run();
  void admit_waiting();
  void start_on_slot(Slot& slot, std::shared_ptr<Task> task);
  void reap_cancelled();
  // Copies prefixes that other slots now hold into prompts still in prefill, and returns which of
  // those wait for an earlier prompt to compute what they share (see hearth::share_prefixes).
  std::vector<bool> share_prefixes();
  std::vector<SlotSnapshot> snapshots() const;  // views of the slots' caches, for the planning functions
  bool step();
  void on_token(Slot& slot, Token token);
  void finish(Slot& slot, FinishReason reason);
  void fail_slot(Slot& slot, const Error& error);

  std::unique_ptr<DecodeBackend> backend_;
  const SchedulerConfig config_;

  // State shared with submitters and RequestHandles (which may outlive the scheduler).
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Task>> waiting;  // guarded by mu
    bool stopping = false;                      // guarded by mu
    bool cancel_pending = false;                 // guarded by mu
    // A step open to late joiners: a request submitted before join_until raises `interrupt`,
    // which stops the step's decode (see SchedulerConfig::join_window).
    bool join_open = false;                            // guarded by mu
    std::chrono::steady_clock::time_point join_until;  // guarded by mu
    std::atomic<bool> interrupt{false};                // read by the backend during decode
    SchedulerStats stats;                       // guarded by mu
  };
  std::shared_ptr<Shared> shared_;

  // Scheduler-thread state.
  std::vector<Slot> slots_;
  std::uint64_t clock_ = 0;
  std::vector<DecodeBackend::BatchItem> batch_;
  bool busy_since_release_ = false;  // work was done since free memory was last released
  bool interruptible_ = false;       // the backend can stop a decode (join_window applies)
  std::chrono::steady_clock::time_point join_until_;  // the busy spell's steps take joiners until then
  bool open_to_joiners() const;
  // Step timings (moving averages, 0 until measured): a pass over the weights, and a prompt token.
  double pass_ms_ = 0, token_ms_ = 0;
  void record_step_time(size_t tokens, size_t prompt_tokens, double ms);
  SpreadPolicy spread_policy() const;

  std::thread thread_;
  friend class RequestHandle;
};

// What submit() returns: lets the caller cancel. Safe to use from any thread, and to outlive
// the scheduler.
class RequestHandle {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class SlotScheduler;
  std::atomic<bool> cancelled_{false};
  std::shared_ptr<SlotScheduler::Shared> shared_;
};

}  // namespace hearth
