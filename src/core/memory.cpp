#include "core/memory.h"

#include <algorithm>
#include <cinttypes>
#include <cstddef>  // defines __GLIBC__ where it applies
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace hearth {

bool configure_allocator() {
#if defined(__GLIBC__)
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}) {
    if (std::getenv(name) != nullptr) return false;
  }
  constexpr int kThreshold = 128 * 1024;
  mallopt(M_MMAP_THRESHOLD, kThreshold);  // also turns off the threshold's growth
  mallopt(M_TRIM_THRESHOLD, kThreshold);
  return true;
#else
  return false;
#endif
}

void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

namespace {

constexpr std::uintptr_t kHugePage = 2u << 20;

std::string read_text(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One /proc/<pid>/maps line: "begin-end perms offset dev inode [path]". False if it is not one.
bool parse_maps_line(std::string_view line, AddressRange& range, bool& private_anonymous_rw) {
  const std::string text(line);
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  char perms[5] = {};
  unsigned long long offset = 0;
  unsigned major = 0;
  unsigned minor = 0;
  unsigned long long inode = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%" SCNxPTR "-%" SCNxPTR " %4s %llx %x:%x %llu%n", &begin, &end, perms, &offset,
                  &major, &minor, &inode, &consumed) != 7 ||
      end <= begin) {
    return false;
  }
  std::string_view path(text.c_str() + consumed);
  while (!path.empty() && (path.front() == ' ' || path.front() == '\t')) path.remove_prefix(1);
  range = {begin, end};
  private_anonymous_rw = std::strcmp(perms, "rw-p") == 0 && inode == 0 && path.empty();
  return true;
}

// Calls f(line) for each line of text (without its newline).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    f(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
  }
}

}  // namespace

std::vector<AddressRange> parse_anonymous_mappings(const char* maps_text) {
  std::vector<AddressRange> out;
  for_each_line(maps_text, [&](std::string_view line) {
    AddressRange r;
    bool anonymous = false;
    if (parse_maps_line(line, r, anonymous) && anonymous) out.push_back(r);
  });
  std::sort(out.begin(), out.end(), [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
  return out;
}

std::vector<AddressRange> anonymous_mappings() {
#if defined(__linux__)
  return parse_anonymous_mappings(read_text("/proc/self/maps").c_str());
#else
  return {};
#endif
}

std::vector<AddressRange> new_ranges(const std::vector<AddressRange>& before, const std::vector<AddressRange>& after,
                                     std::size_t min_bytes) {
  std::vector<AddressRange> old = before;
  std::sort(old.begin(), old.end(), [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
  std::vector<AddressRange> out;
  auto keep = [&](std::uintptr_t b, std::uintptr_t e) {
    if (e > b && e - b >= min_bytes) out.push_back({b, e});
  };
  for (const AddressRange& a : after) {
    std::uintptr_t cur = a.begin;
    for (const AddressRange& o : old) {
      if (o.end <= cur) continue;
      if (o.begin >= a.end) break;
      if (o.begin > cur) keep(cur, o.begin);
      cur = std::max(cur, o.end);
      if (cur >= a.end) break;
    }
    if (cur < a.end) keep(cur, a.end);
  }
  return out;
}

std::size_t advise_huge_pages(const std::vector<AddressRange>& ranges) {
  std::size_t advised = 0;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  for (const AddressRange& r : ranges) {
    const std::uintptr_t b = (r.begin + kHugePage - 1) & ~(kHugePage - 1);
    const std::uintptr_t e = r.end & ~(kHugePage - 1);
    if (e <= b) continue;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): an address from the kernel's own listing
    if (::madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE) == 0) advised += e - b;
  }
#else
  (void)ranges;
#endif
  return advised;
}

std::size_t huge_page_bytes(const AddressRange& range) {
#if defined(__linux__)
  const std::string smaps = read_text("/proc/self/smaps");
  std::size_t total = 0;
  bool inside = false;
  for_each_line(smaps, [&](std::string_view line) {
    AddressRange r;
    bool anonymous = false;
    if (parse_maps_line(line, r, anonymous)) {
      inside = r.begin < range.end && range.begin < r.end;
      return;
    }
    constexpr std::string_view kField = "AnonHugePages:";
    if (inside && line.substr(0, kField.size()) == kField) {
      total += static_cast<std::size_t>(std::strtoull(std::string(line.substr(kField.size())).c_str(), nullptr, 10)) *
               1024;
    }
  });
  return total;
#else
  (void)range;
  return 0;
#endif
}

}  // namespace hearth
