#include "engine/reasoning_splitter.h"

#include <algorithm>

namespace hearth {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t skip_space(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// Length of the longest suffix of s that is a proper prefix of tag.
size_t partial_suffix(const std::string& s, const std::string& tag) {
  const size_t max_len = std::min(s.size(), tag.size() - 1);
  for (size_t len = max_len; len > 0; --len) {
    if (s.compare(s.size() - len, len, tag, 0, len) == 0) return len;
  }
  return 0;
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(bool start_in_reasoning, std::string open_tag, std::string close_tag)
    : open_(std::move(open_tag)),
      close_(std::move(close_tag)),
      state_(start_in_reasoning ? State::kReasoningStart : State::kStart) {}

ReasoningSplitter::Delta ReasoningSplitter::push(std::string_view text) {
  buf_.append(text);
  Delta out;
  step(out);
  return out;
}

void ReasoningSplitter::step(Delta& out) {
  for (;;) {
    switch (state_) {
      case State::kStart: {
        // Output may open a think block itself, after optional leading whitespace.
        const size_t ws = skip_space(buf_);
        const std::string rest = buf_.substr(ws);
        if (rest.size() >= open_.size()) {
          if (rest.compare(0, open_.size(), open_) == 0) {
            buf_ = rest.substr(open_.size());
            state_ = State::kReasoningStart;
            continue;
          }
          state_ = State::kContent;
          continue;
        }
        if (open_.compare(0, rest.size(), rest) == 0) return;  // could still be the tag: wait
        state_ = State::kContent;
        continue;
      }
      case State::kReasoningStart: {
        const size_t ws = skip_space(buf_);
        buf_.erase(0, ws);
        if (buf_.empty()) return;
        state_ = State::kReasoning;
        continue;
      }
      case State::kReasoning: {
        const size_t pos = buf_.find(close_);
        if (pos != std::string::npos) {
          // Trailing whitespace before the close tag is formatting, not reasoning.
          size_t end = pos;
          while (end > 0 && is_space(buf_[end - 1])) --end;
          out.reasoning += buf_.substr(0, end);
          buf_.erase(0, pos + close_.size());
          state_ = State::kContentStart;
          continue;
        }
        size_t keep = partial_suffix(buf_, close_);
        // Hold trailing whitespace too: it is dropped if the close tag follows.
        while (keep < buf_.size() && is_space(buf_[buf_.size() - keep - 1])) ++keep;
        out.reasoning += buf_.substr(0, buf_.size() - keep);
        buf_.erase(0, buf_.size() - keep);
        return;
      }
      case State::kContentStart: {
        const size_t ws = skip_space(buf_);
        buf_.erase(0, ws);
        if (buf_.empty()) return;
        state_ = State::kContent;
        continue;
      }
      case State::kContent:
        out.content += buf_;
        buf_.clear();
        return;
    }
  }
}

ReasoningSplitter::Delta ReasoningSplitter::flush() {
  Delta out;
  switch (state_) {
    case State::kStart:
    case State::kContent:
      out.content = std::move(buf_);
      break;
    case State::kReasoningStart:
    case State::kReasoning:
      out.reasoning = std::move(buf_);
      break;
    case State::kContentStart:
      break;
  }
  buf_.clear();
  return out;
}

}  // namespace hearth
