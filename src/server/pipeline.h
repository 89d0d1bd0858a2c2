// The one pipeline every generation-like request goes through, whatever its endpoint (chat,
// completions, embeddings, a WebSocket turn): the caller's model checked, input hooks (rewrite
// or refuse the typed request's texts), the model prepared, tokens reserved with the limiter,
// the generation run with output hooks on the text stream (the same for SSE and WebSocket), the
// usage recorded and the reservation settled. Endpoints keep only their parsing and rendering.
//
// Threading: hooks are built at start-up and shared; each request opens its own output filters
// and uses them on its strand only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "server/event_channel.h"
#include "server/exchange.h"
#include "server/generation_pump.h"
#include "server/generation_service.h"

namespace hearth {

struct ApiContext;

// The texts a request carries, as pointers into the typed request, so hooks can rewrite them.
struct InputTexts {
  std::vector<std::string*> texts;
  std::string param;  // the field errors name: "messages", "prompt", "input"
};

class InputHook {
 public:
  virtual ~InputHook() = default;
  // Rewrites texts in place, or refuses the request with an Error naming the rule.
  virtual Status on_input(RequestContext& ctx, InputTexts& in) = 0;
};

// One response's filter over its generated text. push() returns what may be sent now (it may
// hold back a partial match); finish() what remains at the end.
class OutputFilter {
 public:
  virtual ~OutputFilter() = default;
  virtual std::string push(std::string_view text) = 0;
  virtual std::string finish() = 0;
};

class OutputHook {
 public:
  virtual ~OutputHook() = default;
  // A filter for this response, or nullptr when this hook does nothing for it. The filter may
  // keep `ctx` (it outlives the response) to record its hits.
  virtual std::unique_ptr<OutputFilter> open(RequestContext& ctx) = 0;
};

// Request and token limits for what the filters cannot see: a WebSocket turn is a request of
// its own, and tokens per minute are reserved before a generation starts (prompt + the most it
// may generate) and settled to what was used when it ends, so a burst cannot overshoot a limit.
class Admission {
 public:
  virtual ~Admission() = default;
  virtual Task<Status> admit_turn(RequestContext& ctx) = 0;
  virtual Task<Status> reserve(RequestContext& ctx, std::uint64_t tokens) = 0;
  virtual void settle(RequestContext& ctx, std::uint64_t reserved, std::uint64_t used) = 0;
};

struct Pipeline {
  std::vector<std::unique_ptr<InputHook>> input;
  std::vector<std::unique_ptr<OutputHook>> output;
  Admission* limits = nullptr;  // null: no limits
};

// The output filters of one response, chained.
class OutputChain {
 public:
  OutputChain() = default;
  OutputChain(const Pipeline* pipeline, RequestContext& ctx);
  std::string push(std::string_view text);
  std::string finish();

 private:
  std::vector<std::unique_ptr<OutputFilter>> filters_;
};

// Checks the caller may use `model` and runs the input hooks.
Status admit_input(ApiContext& api, RequestContext& ctx, const std::string& model, InputTexts texts);

// A generation submitted to its model.
struct Generation {
  PreparedGeneration prepared;
  std::shared_ptr<EventChannel> channel;
  std::shared_ptr<RequestHandle> handle;
  std::uint64_t reserved = 0;  // tokens reserved with the limiter
};

// Reserves tokens for a prepared request and submits it; engine events arrive on `executor`.
Task<Result<Generation>> submit_generation(ApiContext& api, RequestContext& ctx, boost::asio::any_io_executor executor,
                                           PreparedGeneration& prepared);

// Pumps the generation through the output filters to on_text; then records the usage and
// settles the reservation. The engine reference is released before it returns.
Task<PumpResult> run_generation(ApiContext& api, RequestContext& ctx, Generation& g, OutputChain& out,
                                const std::function<bool()>& client_gone,
                                const std::function<Task<bool>(std::string)>& on_text);

// Embeddings: reserve the prompt tokens (nothing is generated) and record them.
Task<Status> admit_embedding_tokens(ApiContext& api, RequestContext& ctx, std::uint64_t prompt_tokens);

}  // namespace hearth
