// Submitting work to a model's queue and waiting for the answer, from a thread that may block
// (the knowledge job thread or the blocking pool), for ModelEmbedder and ModelReranker.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "core/result.h"

namespace hearth::knowledge {

// Calls submit(done) until the model takes the work, waiting with backoff (10 ms doubling to 1 s)
// while its queue is full (kResourceExhausted), for at most `queue_wait`; then waits for done's
// result. `submit` returns the model's Status and arranges for `done` to be called once.
template <class T>
Result<T> submit_and_wait(const std::function<Status(std::function<void(Result<T>)>)>& submit,
                          std::chrono::milliseconds queue_wait = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + queue_wait;
  auto backoff = std::chrono::milliseconds(10);
  for (;;) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    std::future<Result<T>> future = promise->get_future();
    Status st = submit([promise](Result<T> r) { promise->set_value(std::move(r)); });
    if (st) return future.get();
    if (st.error().code != ErrorCode::kResourceExhausted || std::chrono::steady_clock::now() >= deadline) {
      return st.take_error();
    }
    std::this_thread::sleep_for(backoff);  // the model's queue is full: wait for room
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

}  // namespace hearth::knowledge
