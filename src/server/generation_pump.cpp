#include "server/generation_pump.h"

namespace hearth {

Task<PumpResult> pump_generation(RequestHandle& handle, EventChannel& channel,
                                 const std::function<bool()>& client_gone,
                                 const std::function<Task<bool>(std::string)>& on_text) {
  PumpResult res;
  for (;;) {
    auto ev = co_await channel.next(std::chrono::milliseconds(250));
    if (!ev) {
      if (!res.client_gone && client_gone()) {
        res.client_gone = true;
        handle.cancel();
      }
      continue;
    }
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
