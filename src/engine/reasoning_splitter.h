// Splits streamed model output into reasoning (inside <think>...</think>, DeepSeek-R1 style) and
// answer content, as DeepSeek's API returns them in `reasoning_content` and `content`.
// Tags split across chunks are handled; tags themselves are never emitted.
// Thread-safety: a value type owned by one request.
#pragma once

#include <string>
#include <string_view>

namespace hearth {

class ReasoningSplitter {
 public:
  struct Delta {
    std::string reasoning;
    std::string content;
    bool empty() const { return reasoning.empty() && content.empty(); }
  };

  // start_in_reasoning: the prompt already opened the think block (R1 templates end the
  // generation prompt with "<think>\n"), so output starts inside it.
  explicit ReasoningSplitter(bool start_in_reasoning = false, std::string open_tag = "<think>",
                             std::string close_tag = "</think>");

  Delta push(std::string_view text);
  Delta flush();

  bool in_reasoning() const { return state_ == State::kReasoning || state_ == State::kReasoningStart; }

 private:
  enum class State { kStart, kReasoningStart, kReasoning, kContentStart, kContent };
  void step(Delta& out);

  std::string open_;
  std::string close_;
  State state_;
  std::string buf_;
};

}  // namespace hearth
