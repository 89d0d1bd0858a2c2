// EventChannel: carries GenEvents from a model's scheduler thread to the handler coroutine that
// waits for them. push() is thread-safe and never blocks; next() must be awaited on the strand
// the channel was made with (the connection's strand), which is what makes the wake-up race-free:
// the posted wake-up cannot run between next()'s queue check and its wait.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "engine/types.h"
#include "server/exchange.h"

namespace hearth {

template <typename Event>
class AsyncQueue : public std::enable_shared_from_this<AsyncQueue<Event>> {
 public:
  explicit AsyncQueue(boost::asio::any_io_executor ex) : ex_(ex), timer_(ex) {}

  void push(Event ev) {
    {
      std::lock_guard lk(mu_);
      q_.push_back(std::move(ev));
    }
    boost::asio::post(ex_, [self = this->shared_from_this()] { self->timer_.cancel(); });
  }

  // The next event, or nullopt after `timeout` without one.
  Task<std::optional<Event>> next(std::chrono::milliseconds timeout) {
    {
      std::lock_guard lk(mu_);
      if (!q_.empty()) {
        Event ev = std::move(q_.front());
        q_.pop_front();
        co_return ev;
      }
    }
    timer_.expires_after(timeout);
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    std::lock_guard lk(mu_);
    if (q_.empty()) co_return std::nullopt;
    Event ev = std::move(q_.front());
    q_.pop_front();
    co_return ev;
  }

 private:
  boost::asio::any_io_executor ex_;
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::deque<Event> q_;
};

using EventChannel = AsyncQueue<GenEvent>;

inline EventSink sink_into(const std::shared_ptr<EventChannel>& ch) {
  return [ch](GenEvent&& ev) { ch->push(std::move(ev)); };
}

}  // namespace hearth
