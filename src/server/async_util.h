// Runs blocking work on a thread pool and resumes the awaiting coroutine on its own strand.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>

#include "server/event_channel.h"
#include "server/generation_service.h"

namespace hearth {

// `fn` is taken by reference and moved (or copied) into the posted work before the first
// suspension: g++ 12 mis-destroys by-value coroutine parameters of class type that own memory
// (a lambda capturing strings crashed with free(): invalid pointer), so coroutines here take
// callables by reference.
template <typename F>
Task<std::invoke_result_t<std::decay_t<F>&>> run_blocking(boost::asio::thread_pool& pool, F&& fn) {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  auto ex = co_await boost::asio::this_coro::executor;
  auto q = std::make_shared<AsyncQueue<R>>(ex);
  boost::asio::post(pool, [q, fn = std::decay_t<F>(std::forward<F>(fn))]() mutable { q->push(fn()); });
  for (;;) {
    auto v = co_await q->next(std::chrono::hours(1));
    if (v) co_return std::move(*v);
  }
}

// Runs `prepare(mode)` on the calling (network) thread when that cannot block: the model is
// loaded and the body is small (templating and tokenizing it take well under a millisecond).
// Otherwise, or when the model turns out not to be loaded, on the blocking pool. Saves two
// thread hops per request, which matter when the cores are busy decoding.
template <typename F>
Task<std::invoke_result_t<F, Acquire>> prepare_request(boost::asio::thread_pool& pool, size_t body_bytes, F prepare) {
  constexpr size_t kInlineLimit = 64 * 1024;
  if (body_bytes <= kInlineLimit) {
    auto r = prepare(Acquire::kNoWait);
    if (r || !is_would_block(r.error())) co_return r;
  }
  co_return co_await run_blocking(pool, [prepare] { return prepare(Acquire::kMayWait); });
}

}  // namespace hearth
