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

namespace hearth {

template <typename F>
Task<std::invoke_result_t<F>> run_blocking(boost::asio::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F>;
  auto ex = co_await boost::asio::this_coro::executor;
  auto q = std::make_shared<AsyncQueue<R>>(ex);
  boost::asio::post(pool, [q, fn = std::move(fn)]() mutable { q->push(fn()); });
  for (;;) {
    auto v = co_await q->next(std::chrono::hours(1));
    if (v) co_return std::move(*v);
  }
}

}  // namespace hearth
