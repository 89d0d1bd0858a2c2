#include "core/memory.h"

#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

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

TEST(Memory, ParsesTheAnonymousMappingsOfAMapsListing) {
  const char* maps =
      "55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1311 /usr/bin/hearth\n"
      "55d0c1000000-55d0c1200000 rw-p 00000000 00:00 0                          [heap]\n"
      "7f0000200000-7f0004200000 rw-p 00000000 00:00 0 \n"
      "7f0004200000-7f0004201000 ---p 00000000 00:00 0 \n"
      "7f0000000000-7f0000100000 rw-p 00000000 00:00 0\n"
      "7f0010000000-7f0010400000 rw-p 00001000 08:01 77 /models/x.gguf\n"
      "7f0020000000-7f0020800000 rw-s 00000000 00:05 12 /dev/zero (deleted)\n"
      "not a mapping line\n"
      "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]";
  const std::vector<AddressRange> got = parse_anonymous_mappings(maps);
  ASSERT_EQ(got.size(), 2u);  // sorted; not the heap, stack, files, shared or inaccessible ones
  EXPECT_EQ(got[0], (AddressRange{0x7f0000000000, 0x7f0000100000}));
  EXPECT_EQ(got[1], (AddressRange{0x7f0000200000, 0x7f0004200000}));
  EXPECT_TRUE(parse_anonymous_mappings("").empty());
  EXPECT_TRUE(parse_anonymous_mappings("ffff-1000 rw-p 0 00:00 0\n").empty());  // end before begin
}

TEST(Memory, NewRangesAreWhatNoEarlierMappingCovered) {
  const std::size_t mb = 1u << 20;
  const std::vector<AddressRange> before = {{100 * mb, 101 * mb}, {200 * mb, 210 * mb}};
  // A new mapping merged onto an old one's end, one standing alone, one that only grew by a
  // little, and one filling the hole between two old ones.
  const std::vector<AddressRange> after = {{100 * mb, 140 * mb}, {150 * mb, 151 * mb}, {200 * mb, 211 * mb},
                                           {300 * mb, 400 * mb}};
  EXPECT_EQ(new_ranges(before, after, 16 * mb),
            (std::vector<AddressRange>{{101 * mb, 140 * mb}, {300 * mb, 400 * mb}}));
  EXPECT_EQ(new_ranges(before, after, 1),
            (std::vector<AddressRange>{{101 * mb, 140 * mb}, {150 * mb, 151 * mb}, {210 * mb, 211 * mb},
                                       {300 * mb, 400 * mb}}));
  const std::vector<AddressRange> around = {{90 * mb, 220 * mb}};
  EXPECT_EQ(new_ranges(before, around, 1),
            (std::vector<AddressRange>{{90 * mb, 100 * mb}, {101 * mb, 200 * mb}, {210 * mb, 220 * mb}}));
  EXPECT_TRUE(new_ranges(before, before, 1).empty());
}

// The kernel's transparent huge page mode ("always [madvise] never" names the current one).
std::string thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  const auto open = line.find('[');
  const auto close = line.find(']');
  return open == std::string::npos || close == std::string::npos ? "" : line.substr(open + 1, close - open - 1);
}

TEST(Memory, AdvisedNewMappingsFaultInAsHugePages) {
  const std::string mode = thp_mode();
  if (mode != "madvise" && mode != "always") GTEST_SKIP() << "transparent huge pages are '" << mode << "' here";
  const std::vector<AddressRange> before = anonymous_mappings();
  ASSERT_FALSE(before.empty());
  const std::size_t size = 64u << 20;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const AddressRange mapped{begin, begin + size};
  const std::vector<AddressRange> found = new_ranges(before, anonymous_mappings(), 16u << 20);
  bool covered = false;  // the new mapping is found (perhaps merged with a neighbour)
  for (const AddressRange& r : found) covered |= r.begin <= mapped.begin && mapped.end <= r.end;
  EXPECT_TRUE(covered);
  const std::size_t advised = advise_huge_pages({mapped});
  EXPECT_GE(advised, size - (4u << 20));  // all but the unaligned ends
  std::memset(p, 1, size);
  // Huge pages need free 2 MiB blocks; the kernel compacts memory for advised faults, so most of
  // the mapping should get them.
  EXPECT_GE(huge_page_bytes(mapped), size / 2) << "advised " << advised;
  ::munmap(p, size);
  if (mode == "madvise") {  // and none without the advice
    void* q = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(q, MAP_FAILED);
    std::memset(q, 1, size);
    const auto b = reinterpret_cast<std::uintptr_t>(q);
    EXPECT_EQ(huge_page_bytes({b, b + size}), 0u);
    ::munmap(q, size);
  }
}

}  // namespace
}  // namespace hearth
