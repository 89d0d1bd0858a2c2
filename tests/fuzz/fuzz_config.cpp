// libFuzzer: the TOML config parser must reject bad input with an error, never crash.
#include <cstdint>
#include <string_view>

#include "models/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  auto c = hearth::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "/base");
  if (c) {
    for (const auto& e : c->entries) {
      if (e.id.empty() || e.file.empty() || e.load.context_size < 16 || e.load.parallel < 1) __builtin_trap();
    }
  }
  return 0;
}
