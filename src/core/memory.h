// The allocator policy of a long-running server (glibc malloc).
//
// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so after
// model loading and a few big requests, large temporary buffers come from the heap arenas and
// their pages stay resident after they are freed. A fixed threshold sends every block over
// 128 KiB to its own mapping, which goes back to the system on free; releasing the arenas'
// free pages when a model goes idle returns what fragmentation keeps.
#pragma once

namespace hearth {

// Fixed mmap and trim thresholds (128 KiB). Call once at start, before threads start. Returns
// false, changing nothing, when the environment tunes malloc itself (MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES set): an operator's settings win.
bool configure_allocator();

// Returns the free pages of every malloc arena to the system (malloc_trim). Takes each arena's
// lock in turn; call it when idle, not on a hot path.
void release_free_memory();

}  // namespace hearth
