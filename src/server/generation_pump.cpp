#include "server/generation_pump.h"

namespace hearth {

Task<PumpResult> pump_generation(RequestHandle& handle, EventChannel& channel,
                                 const std::function<bool()>& client_gone,
                                 const std::function<Task<bool>(std::string)>& on_text) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kCheckEvery = std::chrono::milliseconds(250);
  PumpResult res;
  auto next_check = Clock::now() + kCheckEvery;
  for (;;) {
    auto ev = co_await channel.next(kCheckEvery);
    // Look at the socket now and then even while events keep coming: a non-streaming request
    // writes nothing until the end, so only this notices that its client left.
    if (!res.client_gone && Clock::now() >= next_check) {
      next_check = Clock::now() + kCheckEvery;
      if (client_gone()) {
        res.client_gone = true;
        handle.cancel();
      }
    }
    if (!ev) continue;
    if (ev->kind == GenEvent::Kind::kDelta) {
      if (res.client_gone) continue;
      if (!co_await on_text(std::move(ev->text))) {
        res.client_gone = true;
        handle.cancel();
      }
      continue;
    }
    res.last = std::move(*ev);
    co_return res;
  }
}

}  // namespace hearth
