// Process-wide logging setup (spdlog). Call once at start-up; spdlog itself is thread-safe.
#pragma once

#include <string>

namespace hearth {

// level: trace, debug, info, warn, error, off.
void init_logging(const std::string& level);

}  // namespace hearth
