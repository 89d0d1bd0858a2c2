// libFuzzer: the streaming text pipeline (UTF-8 assembly -> stop strings -> reasoning split) on
// arbitrary bytes cut at arbitrary points. Invariants: every emitted piece is valid UTF-8, stop
// strings are never emitted, and the result does not depend on where the stream was cut.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "engine/reasoning_splitter.h"
#include "engine/stop_matcher.h"

using namespace hearth;

namespace {

struct Out {
  std::string reasoning, content;
  bool stopped = false;
};

Out run(std::string_view bytes, const std::vector<size_t>& cuts, const std::vector<std::string>& stops) {
  Utf8Assembler utf8;
  StopMatcher stop(stops);
  ReasoningSplitter split(false);
  Out out;
  auto feed = [&](const std::string& text) {
    if (!utf8_is_valid(text)) __builtin_trap();
    auto d = split.push(text);
    if (!utf8_is_valid(d.reasoning) || !utf8_is_valid(d.content)) __builtin_trap();
    out.reasoning += d.reasoning;
    out.content += d.content;
  };
  size_t prev = 0;
  for (size_t i = 0; i <= cuts.size() && !out.stopped; ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    auto s = stop.push(utf8.push(bytes.substr(prev, end - prev)));
    prev = end;
    for (const auto& st : stops) {
      if (!st.empty() && s.emit.find(st) != std::string::npos) __builtin_trap();
    }
    feed(s.emit);
    out.stopped = s.stopped;
  }
  if (!out.stopped) {
    auto s = stop.push(utf8.flush());
    feed(s.emit);
    out.stopped = s.stopped;
    if (!out.stopped) feed(stop.flush());
  }
  auto d = split.flush();
  out.reasoning += d.reasoning;
  out.content += d.content;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  // Layout: [stop length][cut seed][stop bytes][stream bytes]
  const size_t stop_len = std::min<size_t>(data[0] % 8, size - 2);
  const std::string stop_str = utf8_sanitize(all.substr(2, stop_len));
  const std::string_view bytes = all.substr(2 + stop_len);
  std::vector<std::string> stops;
  if (!stop_str.empty()) stops.push_back(stop_str);
  std::vector<size_t> cuts;
  for (size_t i = 1, step = 1 + data[1] % 7; i < bytes.size(); i += step) cuts.push_back(i);
  const Out a = run(bytes, cuts, stops);
  const Out b = run(bytes, {}, stops);
  if (a.reasoning != b.reasoning || a.content != b.content || a.stopped != b.stopped) __builtin_trap();
  return 0;
}
