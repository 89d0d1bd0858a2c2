// The allocator policy of a long-running server (glibc malloc).
//
// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so after
// model loading and a few big requests, large temporary buffers come from the heap arenas and
// their pages stay resident after they are freed. A fixed threshold sends every block over
// 128 KiB to its own mapping, which goes back to the system on free; releasing the arenas'
// free pages when a model goes idle returns what fragmentation keeps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hearth {

// Fixed mmap and trim thresholds (128 KiB). Call once at start, before threads start. Returns
// false, changing nothing, when the environment tunes malloc itself (MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES set): an operator's settings win.
bool configure_allocator();

// Returns the free pages of every malloc arena to the system (malloc_trim). Takes each arena's
// lock in turn; call it when idle, not on a hot path.
void release_free_memory();

// Transparent huge pages for model weights. A decode step reads every weight once; with 4 KiB
// pages that is a TLB miss (a page walk, two-level under a hypervisor) every 4 KiB, with 2 MiB
// pages one every 2 MiB. Linux backs anonymous memory with huge pages when asked (madvise, the
// usual THP setting) or always; the weights are read whole, so huge pages cost no extra memory.

struct AddressRange {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;  // exclusive
  std::size_t size() const { return end - begin; }
  bool operator==(const AddressRange&) const = default;
};

// This process's private, anonymous, read-write mappings (Linux: /proc/self/maps), sorted;
// empty where there is no such listing.
std::vector<AddressRange> anonymous_mappings();

// Parses /proc/<pid>/maps text into its private anonymous read-write mappings, sorted.
std::vector<AddressRange> parse_anonymous_mappings(const char* maps_text);

// The parts of `after` that no range of `before` covers, in pieces of at least min_bytes: what
// was mapped in between (the kernel merges neighbouring mappings, so a new one can extend an old).
std::vector<AddressRange> new_ranges(const std::vector<AddressRange>& before, const std::vector<AddressRange>& after,
                                     std::size_t min_bytes);

// Asks the kernel to back the 2 MiB-aligned part of each range with huge pages
// (madvise MADV_HUGEPAGE): pages faulted in afterwards come as huge pages. Returns the bytes
// advised; 0 where the kernel has no transparent huge pages (or they are set to "never").
std::size_t advise_huge_pages(const std::vector<AddressRange>& ranges);

// Bytes of [range] that huge pages back now (Linux: AnonHugePages in /proc/self/smaps).
std::size_t huge_page_bytes(const AddressRange& range);

}  // namespace hearth
