#include "core/memory.h"

#include <cstddef>  // defines __GLIBC__ where it applies

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace hearth {

void configure_allocator() {
#if defined(__GLIBC__)
  constexpr int kThreshold = 128 * 1024;
  mallopt(M_MMAP_THRESHOLD, kThreshold);  // also turns off the threshold's growth
  mallopt(M_TRIM_THRESHOLD, kThreshold);
#endif
}

void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace hearth
