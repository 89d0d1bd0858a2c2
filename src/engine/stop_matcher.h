// Stop strings matched across token boundaries. Text that could still become a stop string is
// held back, and a matched stop string is never emitted.
// Thread-safety: a value type owned by one request; used by the scheduler thread only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class StopMatcher {
 public:
  StopMatcher() = default;
  explicit StopMatcher(std::vector<std::string> stops);

  struct Output {
    std::string emit;      // text that is safe to send now
    bool stopped = false;  // a stop string matched; generation must end
  };

  // `text` must be valid UTF-8 (see Utf8Assembler); held-back text is always a whole-character suffix.
  Output push(std::string_view text);
  // End of generation without a match: releases the held-back text.
  std::string flush();

  bool empty() const { return stops_.empty(); }
  size_t held_bytes() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
};

}  // namespace hearth
