// Drives one generation from the handler coroutine: waits for engine events, hands text to the
// caller, and cancels the request as soon as the client goes away (a closed socket, or a failed
// write), which frees its sequence in the scheduler at once.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "engine/scheduler.h"
#include "server/event_channel.h"

namespace hearth {

struct PumpResult {
  GenEvent last;               // the kDone or kError event
  bool client_gone = false;
};

// on_text returns false when the text could not be delivered (client gone).
Task<PumpResult> pump_generation(RequestHandle& handle, EventChannel& channel,
                                 const std::function<bool()>& client_gone,
                                 const std::function<Task<bool>(std::string)>& on_text);

}  // namespace hearth
