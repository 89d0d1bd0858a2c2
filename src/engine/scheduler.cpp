#include "engine/scheduler.h"

#include "core/memory.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hearth {
namespace {
using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

struct SlotScheduler::Task {
  GenerationRequest req;
  EventSink sink;
  std::shared_ptr<RequestHandle> handle;
  Clock::time_point submitted;
};

struct SlotScheduler::Slot {
  int id = 0;
  SlotPhase phase = SlotPhase::kIdle;
  std::vector<Token> cached;  // tokens whose KV is in this sequence, positions 0..n-1
  std::shared_ptr<Task> task;
  size_t prompt_done = 0;     // prompt tokens in the KV
  Token pending = 0;          // sampled, to be decoded next step
  int generated = 0;
  int reused = 0;
  int batch_index = -1;
  std::uint64_t admitted = 0;
  std::uint64_t hold_until = 0;  // see PlanInput
  std::uint64_t last_used = 0;
  Utf8Assembler utf8;
  StopMatcher stop;
  Clock::time_point t_admit, t_first;
};

void RequestHandle::cancel() {
  if (cancelled_.exchange(true)) return;
  if (!shared_) return;
  std::lock_guard lk(shared_->mu);
  shared_->cancel_pending = true;
  shared_->cv.notify_all();
}

SlotScheduler::SlotScheduler(std::unique_ptr<DecodeBackend> backend, SchedulerConfig config)
    : backend_(std::move(backend)), config_(config), shared_(std::make_shared<Shared>()) {
  slots_.resize(static_cast<size_t>(config_.n_slots));
  for (int i = 0; i < config_.n_slots; ++i) slots_[static_cast<size_t>(i)].id = i;
  batch_.reserve(static_cast<size_t>(config_.n_batch));
  interruptible_ = config_.join_window.count() > 0 && backend_->watch_interrupt(&shared_->interrupt);
  thread_ = std::thread([this] { run(); });
}

SlotScheduler::~SlotScheduler() {
  stop();
  if (interruptible_) backend_->watch_interrupt(nullptr);  // the flag lives in shared_, which may go first
}

void SlotScheduler::stop() {
  {
    std::lock_guard lk(shared_->mu);
    shared_->stopping = true;
    shared_->cv.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

Result<std::shared_ptr<RequestHandle>> SlotScheduler::submit(GenerationRequest request, EventSink sink) {
  const auto n_prompt = static_cast<int>(request.prompt.size());
  if (n_prompt == 0) return invalid_argument("the prompt is empty after tokenization", "messages");
  if (n_prompt >= config_.n_ctx_per_seq) {
    Error e = invalid_argument(
        fmt::format("this model's context is {} tokens, but the prompt has {} tokens; shorten the "
                    "prompt (nothing is truncated)",
                    config_.n_ctx_per_seq, n_prompt),
        "messages");
    e.type_override = "context_length_exceeded";
    return e;
  }
  auto task = std::make_shared<Task>();
  task->req = std::move(request);
  task->sink = std::move(sink);
  task->handle = std::make_shared<RequestHandle>();
  task->handle->shared_ = shared_;
  task->submitted = Clock::now();

  std::lock_guard lk(shared_->mu);
  if (shared_->stopping) return unavailable("the model is shutting down");
  if (static_cast<int>(shared_->waiting.size()) >= config_.max_queue) {
    ++shared_->stats.requests_rejected;
    return resource_exhausted(
        fmt::format("the model's queue is full ({} waiting); retry later", shared_->waiting.size()), 1);
  }
  shared_->waiting.push_back(task);
  if (shared_->join_open && task->submitted < shared_->join_until) shared_->interrupt.store(true, std::memory_order_relaxed);
  ++shared_->stats.requests_submitted;
  shared_->stats.queued = static_cast<int>(shared_->waiting.size());
  shared_->cv.notify_all();
  return task->handle;
}

SchedulerStats SlotScheduler::stats() const {
  std::lock_guard lk(shared_->mu);
  return shared_->stats;
}

int SlotScheduler::load() const {
  std::lock_guard lk(shared_->mu);
  return shared_->stats.queued + shared_->stats.active_slots;
}

void SlotScheduler::run() {
  for (;;) {
    {
      std::unique_lock lk(shared_->mu);
      auto has_free = [&] {
        for (const auto& s : slots_) if (s.phase == SlotPhase::kIdle) return true;
        return false;
      };
      auto has_active = [&] {
        for (const auto& s : slots_) if (s.phase != SlotPhase::kIdle) return true;
        return false;
      };
      auto ready = [&] {
        return shared_->stopping || shared_->cancel_pending || has_active() ||
               (!shared_->waiting.empty() && has_free());
      };
      if (!ready() && busy_since_release_) {
        // Going idle after work: hand the pages the requests freed back first (outside the lock).
        busy_since_release_ = false;
        lk.unlock();
        const auto t0 = Clock::now();
        release_free_memory();
        spdlog::trace("scheduler: idle, free memory returned in {:.1f} ms", ms_between(t0, Clock::now()));
        continue;
      }
      const bool was_idle = !has_active();
      shared_->cv.wait(lk, ready);
      if (shared_->stopping) break;
      if (was_idle && !has_active() && !shared_->waiting.empty()) {
        join_until_ = shared_->waiting.front()->submitted + config_.join_window;  // a new busy spell
      }
      if (was_idle && !has_active() && !interruptible_ && config_.gather_window.count() > 0) {
        // A burst of requests (several clients at once, their HTTP handlers still tokenizing)
        // should share the first prompt step: wait briefly, or until every free slot has one.
        int n_free = 0;
        for (const auto& s : slots_) n_free += s.phase == SlotPhase::kIdle ? 1 : 0;
        shared_->cv.wait_for(lk, config_.gather_window, [&] {
          return shared_->stopping || static_cast<int>(shared_->waiting.size()) >= n_free;
        });
        if (shared_->stopping) break;
      }
      shared_->cancel_pending = false;
      busy_since_release_ = true;
    }
    reap_cancelled();
    admit_waiting();
    step();
  }

  // Shutting down: everything still pending ends as cancelled.
  for (auto& s : slots_) {
    if (s.phase != SlotPhase::kIdle) finish(s, FinishReason::kCancelled);
  }
  std::deque<std::shared_ptr<Task>> rest;
  {
    std::lock_guard lk(shared_->mu);
    rest.swap(shared_->waiting);
    shared_->stats.queued = 0;
  }
  for (auto& t : rest) {
    GenEvent ev;
    ev.kind = GenEvent::Kind::kDone;
    ev.finish = FinishReason::kCancelled;
    ev.usage.prompt_tokens = static_cast<int>(t->req.prompt.size());
    t->sink(std::move(ev));
  }
}

void SlotScheduler::reap_cancelled() {
  for (auto& s : slots_) {
    if (s.phase != SlotPhase::kIdle && s.task->handle->cancelled()) finish(s, FinishReason::kCancelled);
  }
  std::vector<std::shared_ptr<Task>> dropped;
  {
    std::lock_guard lk(shared_->mu);
    auto& w = shared_->waiting;
    for (auto it = w.begin(); it != w.end();) {
      if ((*it)->handle->cancelled()) {
        dropped.push_back(*it);
        it = w.erase(it);
        ++shared_->stats.requests_cancelled;
      } else {
        ++it;
      }
    }
    shared_->stats.queued = static_cast<int>(w.size());
  }
  for (auto& t : dropped) {
    GenEvent ev;
    ev.kind = GenEvent::Kind::kDone;
    ev.finish = FinishReason::kCancelled;
    t->sink(std::move(ev));
  }
}

void SlotScheduler::admit_waiting() {
  for (;;) {
    std::shared_ptr<Task> task;
    {
      std::lock_guard lk(shared_->mu);
      bool free = false;
      for (const auto& s : slots_) free = free || s.phase == SlotPhase::kIdle;
      if (!free || shared_->waiting.empty()) return;
      task = shared_->waiting.front();
      shared_->waiting.pop_front();
      shared_->stats.queued = static_cast<int>(shared_->waiting.size());
    }
    const SlotChoice choice = choose_slot(snapshots(), task->req.prompt, config_.allow_kv_copy,
                                          config_.kv_copy_price,
                                          static_cast<size_t>(config_.kv_split_cost));
    Slot& slot = slots_[static_cast<size_t>(choice.slot)];

    if (Status st = backend_->begin(slot.id, task->req.sampling); !st.ok()) {
      GenEvent ev;
      ev.kind = GenEvent::Kind::kError;
      ev.error = st.error();
      task->sink(std::move(ev));
      continue;
    }
    size_t reuse = choice.reuse;
    if (choice.copy_from >= 0) {
      if (!backend_->kv_copy(choice.copy_from, slot.id, static_cast<int>(reuse))) reuse = 0;  // computed instead
    } else {
      backend_->kv_truncate(slot.id, static_cast<int>(reuse));
    }
    slot.cached.assign(task->req.prompt.begin(), task->req.prompt.begin() + static_cast<long>(reuse));
    slot.prompt_done = reuse;
    slot.reused = static_cast<int>(reuse);
    slot.generated = 0;
    slot.phase = SlotPhase::kPrefill;
    slot.admitted = ++clock_;
    slot.hold_until = 0;
    slot.utf8 = Utf8Assembler{};
    slot.stop = StopMatcher(task->req.stop);
    slot.t_admit = Clock::now();
    slot.task = std::move(task);
    std::lock_guard lk(shared_->mu);
    shared_->stats.prompt_tokens_reused += reuse;
    ++shared_->stats.active_slots;
  }
}

std::vector<SlotSnapshot> SlotScheduler::snapshots() const {
  std::vector<SlotSnapshot> snaps;
  snaps.reserve(slots_.size());
  for (const auto& s : slots_) snaps.push_back({s.id, s.phase != SlotPhase::kIdle, s.cached, s.last_used});
  return snaps;
}

std::vector<bool> SlotScheduler::share_prefixes() {
  std::vector<bool> waits(slots_.size(), false);
  if (!config_.allow_kv_copy) return waits;
  std::vector<PrefillState> prefills;
  for (const auto& s : slots_) {
    if (s.phase == SlotPhase::kPrefill) prefills.push_back({s.id, s.task->req.prompt, s.prompt_done, s.admitted});
  }
  if (prefills.empty()) return waits;
  // Decided on the slots as they are, before the copies below change their caches.
  // Waiting costs a prompt (at least) one more pass over the weights: priced in prompt tokens once
  // the steps' timings are known.
  const auto shares = hearth::share_prefixes(snapshots(), prefills, config_.kv_copy_price, spread_policy().pass);
  for (const auto& d : shares) {
    Slot& s = slots_[static_cast<size_t>(d.id)];
    if (d.wait) {
      waits[static_cast<size_t>(d.id)] = true;
      continue;
    }
    const auto t0 = Clock::now();
    const bool copied = backend_->kv_copy(d.copy_from, s.id, static_cast<int>(d.reuse));
    spdlog::trace("scheduler: slot {} copies {} prompt tokens from slot {} (had {}): {}, {:.1f} ms", s.id, d.reuse,
                  d.copy_from, s.prompt_done, copied ? "done" : "failed", ms_between(t0, Clock::now()));
    if (!copied) {  // the slot's KV is empty now: its whole prompt is computed
      s.cached.clear();
      s.prompt_done = 0;
      s.reused = 0;
      continue;
    }
    const auto& prompt = s.task->req.prompt;
    // Usage counts as cached what this request did not compute: prompt = computed + cached.
    const size_t gained = d.reuse - s.prompt_done;
    {
      std::lock_guard lk(shared_->mu);
      shared_->stats.prompt_tokens_reused += gained;
    }
    s.cached.assign(prompt.begin(), prompt.begin() + static_cast<long>(d.reuse));
    s.prompt_done = d.reuse;
    s.reused += static_cast<int>(gained);
  }
  return waits;
}

bool SlotScheduler::step() {
  const std::vector<bool> waits = share_prefixes();
  std::vector<PlanInput> inputs;
  inputs.reserve(slots_.size());
  for (const auto& s : slots_) {
    const size_t remaining = s.task ? s.task->req.prompt.size() - s.prompt_done : 0;
    inputs.push_back({s.id, s.phase, remaining, s.admitted, s.hold_until, waits[static_cast<size_t>(s.id)]});
  }
  const auto plan = plan_batch(inputs, static_cast<size_t>(config_.n_batch), spread_policy(),
                               static_cast<size_t>(config_.equal_split_ubatch));
  if (plan.empty()) return false;

  batch_.clear();
  size_t prompt_tokens = 0;
  for (const auto& e : plan) {
    Slot& s = slots_[static_cast<size_t>(e.id)];
    s.batch_index = -1;
    if (s.phase == SlotPhase::kGenerate) {
      s.batch_index = static_cast<int>(batch_.size());
      batch_.push_back({s.pending, static_cast<int>(s.cached.size()), s.id, true});
      continue;
    }
    for (size_t k = 0; k < e.n_tokens; ++k) {
      const size_t p = s.prompt_done + k;
      const bool last = e.completes_prompt && k + 1 == e.n_tokens;
      if (last) s.batch_index = static_cast<int>(batch_.size());
      batch_.push_back({s.task->req.prompt[p], static_cast<int>(p), s.id, last});
    }
    prompt_tokens += e.n_tokens;
  }

  const bool joinable = open_to_joiners();
  if (joinable) {
    std::lock_guard lk(shared_->mu);
    if (!shared_->waiting.empty()) return true;  // arrived since admission: admitted first
    shared_->join_open = true;
    shared_->join_until = join_until_;
  }
  const auto t0 = Clock::now();
  const Status st = backend_->decode(batch_);
  const double step_ms = ms_between(t0, Clock::now());
  if (joinable) {
    const bool stopped = !st.ok() && st.error().code == ErrorCode::kCancelled;
    {
      std::lock_guard lk(shared_->mu);
      shared_->join_open = false;
      shared_->interrupt.store(false, std::memory_order_relaxed);
      if (stopped) {
        ++shared_->stats.decode_calls;
        shared_->stats.batched_tokens += batch_.size();
        ++shared_->stats.decode_interrupts;
      }
    }
    if (stopped) {
      // Stopped for a request that arrived meanwhile: drop what the step may have left in the
      // KV, and plan again with the newcomer.
      for (const auto& e : plan) {
        backend_->kv_truncate(e.id, static_cast<int>(slots_[static_cast<size_t>(e.id)].cached.size()));
      }
      spdlog::trace("scheduler: step of {} prompt tokens stopped after {:.1f} ms: a request joins it", prompt_tokens,
                    step_ms);
      return true;
    }
  }
  if (st.ok()) record_step_time(batch_.size(), prompt_tokens, step_ms);
  if (spdlog::should_log(spdlog::level::trace)) {
    const std::string split =
        config_.equal_split_ubatch > 0
            ? fmt::format(" in {} micro-batches", count_micro_batches(plan, static_cast<size_t>(config_.equal_split_ubatch)))
            : std::string();
    spdlog::trace("scheduler: step of {} tokens ({} prompt) over {} sequences{}, {:.1f} ms", batch_.size(),
                  prompt_tokens, plan.size(), split, step_ms);
  }
  {
    std::lock_guard lk(shared_->mu);
    ++shared_->stats.decode_calls;
    shared_->stats.batched_tokens += batch_.size();
    if (st.ok()) shared_->stats.prompt_tokens_computed += prompt_tokens;
    else ++shared_->stats.decode_failures;
  }
  if (!st.ok()) {
    for (const auto& e : plan) fail_slot(slots_[static_cast<size_t>(e.id)], st.error());
    return true;
  }

  for (const auto& e : plan) {
    Slot& s = slots_[static_cast<size_t>(e.id)];
    if (s.phase == SlotPhase::kGenerate) {
      s.cached.push_back(s.pending);
    } else {
      const auto begin = s.task->req.prompt.begin() + static_cast<long>(s.prompt_done);
      s.cached.insert(s.cached.end(), begin, begin + static_cast<long>(e.n_tokens));
      s.prompt_done += e.n_tokens;
      if (!e.completes_prompt) continue;
      s.phase = SlotPhase::kGenerate;
      s.hold_until = e.hold_until;
      s.t_first = Clock::now();
    }
    on_token(s, backend_->sample(s.id, s.batch_index));
  }
  return true;
}

bool SlotScheduler::open_to_joiners() const {
  // Early in a busy spell, while no stream has its first token and a slot is free: stopping the
  // step wastes what it computed so far (less than join_window), and saves the newcomer a step.
  if (!interruptible_ || Clock::now() >= join_until_) return false;
  bool free = false;
  for (const auto& s : slots_) {
    if (s.phase == SlotPhase::kGenerate) return false;
    free = free || s.phase == SlotPhase::kIdle;
  }
  return free;
}

void SlotScheduler::record_step_time(size_t tokens, size_t prompt_tokens, double ms) {
  // Small decoding-only steps price a pass over the weights (less their tokens); steps with a sizeable
  // prompt part price a token (less one pass). Moving averages, so that a model's costs settle
  // after a few requests and follow the machine's load.
  constexpr double kWeight = 0.2;
  const auto blend = [](double& avg, double sample) { avg = avg == 0 ? sample : avg + kWeight * (sample - avg); };
  const double n = static_cast<double>(tokens);
  if (prompt_tokens == 0 && tokens <= 4) {
    blend(pass_ms_, std::max(ms - n * token_ms_, ms / 2));
  } else if (prompt_tokens >= 32) {
    blend(token_ms_, std::max(ms - pass_ms_, ms / 2) / n);
  }
}

SpreadPolicy SlotScheduler::spread_policy() const {
  SpreadPolicy p;
  p.budget = config_.prefill_spread;
  if (config_.pass_tokens > 0) p.pass = config_.pass_tokens;
  else if (pass_ms_ > 0 && token_ms_ > 0) p.pass = pass_ms_ / token_ms_;
  return p;
}

void SlotScheduler::on_token(Slot& s, Token token) {
  ++s.generated;
  {
    std::lock_guard lk(shared_->mu);
    ++shared_->stats.tokens_generated;
  }
  const GenerationRequest& req = s.task->req;
  if (!req.ignore_eos && backend_->is_end_of_generation(token)) {
    finish(s, FinishReason::kStop);
    return;
  }
  const std::string text = s.utf8.push(backend_->piece(token));
  StopMatcher::Output out = s.stop.push(text);
  if (!out.emit.empty()) {
    GenEvent ev;
    ev.text = std::move(out.emit);
    s.task->sink(std::move(ev));
  }
  if (out.stopped) {
    s.stop = StopMatcher{};  // nothing held back may be released after a match
    s.utf8 = Utf8Assembler{};
    finish(s, FinishReason::kStop);
    return;
  }
  // The sampled token is not in the KV yet: prompt + completion = cached + 1.
  if ((req.max_tokens >= 0 && s.generated >= req.max_tokens) ||
      static_cast<int>(s.cached.size()) + 1 >= config_.n_ctx_per_seq) {
    finish(s, FinishReason::kLength);
    return;
  }
  s.pending = token;
}

void SlotScheduler::finish(Slot& s, FinishReason reason) {
  if (reason != FinishReason::kCancelled) {
    std::string tail;
    StopMatcher::Output out = s.stop.push(s.utf8.flush());
    tail = std::move(out.emit);
    if (!out.stopped) tail += s.stop.flush();
    if (out.stopped) reason = FinishReason::kStop;
    if (!tail.empty()) {
      GenEvent ev;
      ev.text = std::move(tail);
      s.task->sink(std::move(ev));
    }
  }
  const auto now = Clock::now();
  GenEvent done;
  done.kind = GenEvent::Kind::kDone;
  done.finish = reason;
  done.usage.prompt_tokens = static_cast<int>(s.task->req.prompt.size());
  done.usage.completion_tokens = s.generated;
  done.usage.cached_tokens = s.reused;
  done.timings.queue_ms = ms_between(s.task->submitted, s.t_admit);
  if (s.phase == SlotPhase::kGenerate) {
    done.timings.prompt_ms = ms_between(s.t_admit, s.t_first);
    done.timings.gen_ms = ms_between(s.t_first, now);
  }
  // Free the slot and count before the last event, so that whoever reacts to it (metrics, the
  // registry's idle check) already sees the slot free.
  backend_->end(s.id);
  auto task = std::move(s.task);
  s.phase = SlotPhase::kIdle;
  s.last_used = ++clock_;
  {
    std::lock_guard lk(shared_->mu);
    --shared_->stats.active_slots;
    if (reason == FinishReason::kCancelled) ++shared_->stats.requests_cancelled;
    else ++shared_->stats.requests_completed;
  }
  task->sink(std::move(done));
}

void SlotScheduler::fail_slot(Slot& s, const Error& error) {
  backend_->end(s.id);
  backend_->kv_truncate(s.id, 0);
  s.cached.clear();
  auto task = std::move(s.task);
  s.phase = SlotPhase::kIdle;
  s.last_used = ++clock_;
  {
    std::lock_guard lk(shared_->mu);
    --shared_->stats.active_slots;
  }
  GenEvent ev;
  ev.kind = GenEvent::Kind::kError;
  ev.error = error;
  task->sink(std::move(ev));
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "stop";
}

}  // namespace hearth
