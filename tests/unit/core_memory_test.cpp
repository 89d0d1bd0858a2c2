#include "core/memory.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <initializer_list>

namespace hearth {
namespace {

TEST(Memory, TheEnvironmentsMallocSettingsWin) {
  // An operator who tunes malloc through the environment keeps those settings: nothing is set.
  bool preset = false;  // this run's environment tunes malloc already
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}) {
    if (std::getenv(name) != nullptr) {
      preset = true;
      continue;
    }
    ::setenv(name, "131072", 1);
    EXPECT_FALSE(configure_allocator()) << name;
    ::unsetenv(name);
  }
#if defined(__GLIBC__)
  if (!preset) {
    EXPECT_TRUE(configure_allocator());  // the server's own policy otherwise
  }
#endif
  release_free_memory();
}

}  // namespace
}  // namespace hearth
