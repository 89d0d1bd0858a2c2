// AnnIndex: the hnswlib adapter (see ann_index.h). hnswlib reports bad input and exhaustion with
// exceptions; every call into it is wrapped here and turned into a Result.
#include "knowledge/ann_index.h"

#include <fcntl.h>
#include <unistd.h>

// hnswlib is included here only (its header defines non-inline functions). Its SSE prefetches
// read up to 3 bytes past a full upper-level link list: harmless (inside malloc's rounding, and
// fixed upstream after 0.6), but AddressSanitizer stops on it, so sanitized builds use plain loops.
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#endif
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <limits>
#include <shared_mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "knowledge/store.h"

namespace hearth::knowledge {
namespace {

namespace fs = std::filesystem;
using Hnsw = hnswlib::HierarchicalNSW<float>;

constexpr char kMagic[8] = {'H', 'N', 'S', 'W', 'H', 'R', 'T', 'H'};
constexpr std::uint64_t kFormatVersion = 1;  // header v1 + the hnswlib 0.6 layout
constexpr std::size_t kHeaderFields = 6;     // version, dims, elements, revision, payload bytes, checksum
constexpr std::size_t kHeaderBytes = sizeof(kMagic) + kHeaderFields * sizeof(std::uint64_t);
constexpr std::size_t kMinCapacity = 1024;

// FNV-1a, 64 bits: detects truncation and bit rot, not tampering.
struct Checksum {
  std::uint64_t h = 14695981039346656037ull;
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
};

struct FileClose {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileClose>;

// Writes bytes to a file, keeping the count and checksum; remembers the first failure.
class PayloadWriter {
 public:
  explicit PayloadWriter(std::FILE* f) : f_(f) {}
  void write(const void* data, std::size_t n) {
    if (n == 0 || !ok_) return;
    ok_ = std::fwrite(data, 1, n, f_) == n;
    sum_.add(data, n);
    bytes_ += n;
  }
  template <typename T>
  void pod(const T& v) {
    write(&v, sizeof v);
  }
  bool ok() const { return ok_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t checksum() const { return sum_.h; }

 private:
  std::FILE* f_;
  bool ok_ = true;
  std::uint64_t bytes_ = 0;
  Checksum sum_;
};

// Reads exactly n bytes or fails.
bool read_exact(std::FILE* f, void* data, std::size_t n) { return n == 0 || std::fread(data, 1, n, f) == n; }
template <typename T>
bool read_pod(std::FILE* f, T& v) {
  return read_exact(f, &v, sizeof v);
}

Error corrupt(const std::string& path, std::string_view why) {
  return internal_error(fmt::format("vector index '{}' is corrupt or unsupported: {}", path, why));
}

// Normalizes `v` into `out`; false when a component is not finite. A zero vector stays zero.
bool normalized(std::span<const float> v, std::vector<float>& out) {
  double norm = 0;
  for (float x : v) {
    if (!std::isfinite(x)) return false;
    norm += static_cast<double>(x) * x;
  }
  out.assign(v.begin(), v.end());
  if (norm > 0) {
    const auto inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : out) x *= inv;
  }
  return true;
}

// fsync of a folder, so that a rename in it is durable.
void sync_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

struct AnnIndex::Impl {
  Impl(int dims, const AnnParams& p) : dimensions(dims), params(p), space(static_cast<std::size_t>(dims)) {}
  int dimensions;
  AnnParams params;
  hnswlib::InnerProductSpace space;  // must outlive `graph`, which points into it
  std::unique_ptr<Hnsw> graph;

  // Doubles the capacity when full (hnswlib refuses to add past it). May throw.
  void grow_if_full() {
    if (graph->cur_element_count >= graph->max_elements_) {
      graph->resizeIndex(std::max(kMinCapacity, graph->max_elements_ * 2));
    }
  }
  // Writes hnswlib's saveIndex layout.
  void write_payload(PayloadWriter& w) const;
  // Reads it into `graph` (already built with the file's parameters), checking every field.
  Status read_payload(std::FILE* f, const std::string& path, std::uint64_t elements);
  Status check_links(const std::string& path) const;
};

AnnIndex::AnnIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AnnIndex::~AnnIndex() = default;

Result<std::unique_ptr<AnnIndex>> AnnIndex::create(int dimensions, const AnnParams& params) {
  if (dimensions < 1 || dimensions > 65536) {
    return invalid_argument(fmt::format("dimensions must be 1..65536, not {}", dimensions), "dimensions");
  }
  if (params.m < 2 || params.m > 1024 || params.ef_construction < 1) {
    return invalid_argument("the index wants m in 2..1024 and ef_construction >= 1", "m");
  }
  try {
    auto impl = std::make_unique<Impl>(dimensions, params);
    impl->graph = std::make_unique<Hnsw>(&impl->space, kMinCapacity, params.m, params.ef_construction, params.seed);
    return std::unique_ptr<AnnIndex>(new AnnIndex(std::move(impl)));
  } catch (const std::exception& e) {
    return resource_exhausted(fmt::format("cannot create a vector index: {}", e.what()));
  }
}

Status AnnIndex::upsert(std::int64_t id, std::span<const float> vector) {
  if (id <= 0) return invalid_argument(fmt::format("vector index ids must be positive, not {}", id), "id");
  if (vector.size() != static_cast<std::size_t>(impl_->dimensions)) {
    return invalid_argument(
        fmt::format("a {}-dimensional vector for a {}-dimensional index", vector.size(), impl_->dimensions), "vector");
  }
  std::vector<float> v;
  if (!normalized(vector, v)) return invalid_argument("vectors must have finite components", "vector");
  try {
    impl_->grow_if_full();
    impl_->graph->addPoint(v.data(), static_cast<hnswlib::labeltype>(id));
    return {};
  } catch (const std::exception& e) {
    return internal_error(fmt::format("vector index: cannot add {}: {}", id, e.what()));
  }
}

Status AnnIndex::remove(std::int64_t id) {
  if (!contains(id)) return {};
  try {
    impl_->graph->markDelete(static_cast<hnswlib::labeltype>(id));
    return {};
  } catch (const std::exception& e) {
    return internal_error(fmt::format("vector index: cannot remove {}: {}", id, e.what()));
  }
}

Result<std::vector<Scored>> AnnIndex::search(std::span<const float> query, std::size_t k, std::size_t ef) const {
  if (query.size() != static_cast<std::size_t>(impl_->dimensions)) {
    return invalid_argument(
        fmt::format("the query vector has {} dimensions; the index's have {}", query.size(), impl_->dimensions),
        "vector");
  }
  std::vector<float> q;
  if (!normalized(query, q)) return invalid_argument("the query vector must have finite components", "vector");
  std::vector<Scored> out;
  if (k == 0 || size() == 0) return out;
  try {
    // searchKnn searches with max(graph ef, wanted); asking for max(k, ef) results gives this
    // query its own ef without touching the shared setting (searches run concurrently).
    auto found = impl_->graph->searchKnn(q.data(), std::max(k, ef));
    out.reserve(found.size());
    while (!found.empty()) {
      out.push_back({static_cast<std::int64_t>(found.top().second), 1.0 - static_cast<double>(found.top().first)});
      found.pop();
    }
  } catch (const std::exception& e) {
    return internal_error(fmt::format("vector index search failed: {}", e.what()));
  }
  std::sort(out.begin(), out.end(),
            [](const Scored& a, const Scored& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); });
  if (out.size() > k) out.resize(k);
  return out;
}

bool AnnIndex::contains(std::int64_t id) const {
  const auto& lookup = impl_->graph->label_lookup_;
  const auto it = lookup.find(static_cast<hnswlib::labeltype>(id));
  return it != lookup.end() && !impl_->graph->isMarkedDeleted(it->second);
}

std::vector<std::int64_t> AnnIndex::ids() const {
  std::vector<std::int64_t> out;
  out.reserve(size());
  for (const auto& [label, internal] : impl_->graph->label_lookup_) {
    if (!impl_->graph->isMarkedDeleted(internal)) out.push_back(static_cast<std::int64_t>(label));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t AnnIndex::size() const { return impl_->graph->cur_element_count - impl_->graph->num_deleted_; }
std::size_t AnnIndex::deleted() const { return impl_->graph->num_deleted_; }
int AnnIndex::dimensions() const { return impl_->dimensions; }

Result<std::unique_ptr<AnnIndex>> AnnIndex::compacted() const {
  auto fresh = create(impl_->dimensions, impl_->params);
  if (!fresh) return fresh.take_error();
  const Hnsw& g = *impl_->graph;
  const std::size_t dims = static_cast<std::size_t>(impl_->dimensions);
  for (hnswlib::tableint i = 0; i < g.cur_element_count; ++i) {
    if (g.isMarkedDeleted(i)) continue;
    const auto* v = reinterpret_cast<const float*>(g.getDataByInternalId(i));
    HEARTH_TRY((*fresh)->upsert(static_cast<std::int64_t>(g.getExternalLabel(i)), std::span<const float>(v, dims)));
  }
  (*fresh)->set_revision(revision_);
  return fresh;
}

void AnnIndex::Impl::write_payload(PayloadWriter& w) const {
  const Hnsw& g = *graph;
  w.pod(g.offsetLevel0_);
  w.pod(g.max_elements_);
  w.pod(g.cur_element_count);
  w.pod(g.size_data_per_element_);
  w.pod(g.label_offset_);
  w.pod(g.offsetData_);
  w.pod(g.maxlevel_);
  w.pod(g.enterpoint_node_);
  w.pod(g.maxM_);
  w.pod(g.maxM0_);
  w.pod(g.M_);
  w.pod(g.mult_);
  w.pod(g.ef_construction_);
  w.write(g.data_level0_memory_, g.cur_element_count * g.size_data_per_element_);
  for (std::size_t i = 0; i < g.cur_element_count; ++i) {
    const unsigned int bytes =
        g.element_levels_[i] > 0 ? static_cast<unsigned int>(g.size_links_per_element_ * g.element_levels_[i]) : 0;
    w.pod(bytes);
    w.write(g.linkLists_[i], bytes);
  }
}

Status AnnIndex::save(const std::string& path) const {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  // A name of its own per writer: two threads or processes may save the same index at once.
  static std::atomic<std::uint64_t> serial{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), serial.fetch_add(1));
  auto fail = [&](std::string_view what) -> Status {
    const int err = errno;
    fs::remove(tmp, ec);
    return internal_error(fmt::format("cannot save the vector index '{}': {}: {}", path, what, std::strerror(err)));
  };
  File f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return fail("create");
  const std::array<std::uint64_t, kHeaderFields> placeholder{};
  if (std::fwrite(kMagic, 1, sizeof kMagic, f.get()) != sizeof kMagic ||
      std::fwrite(placeholder.data(), sizeof(std::uint64_t), kHeaderFields, f.get()) != kHeaderFields) {
    return fail("write");
  }
  PayloadWriter w(f.get());
  try {
    impl_->write_payload(w);
  } catch (const std::exception& e) {
    fs::remove(tmp, ec);
    return internal_error(fmt::format("cannot save the vector index '{}': {}", path, e.what()));
  }
  if (!w.ok()) return fail("write");
  const std::array<std::uint64_t, kHeaderFields> header{
      kFormatVersion, static_cast<std::uint64_t>(impl_->dimensions), impl_->graph->cur_element_count,
      static_cast<std::uint64_t>(revision_), w.bytes(), w.checksum()};
  if (std::fseek(f.get(), sizeof kMagic, SEEK_SET) != 0 ||
      std::fwrite(header.data(), sizeof(std::uint64_t), kHeaderFields, f.get()) != kHeaderFields ||
      std::fflush(f.get()) != 0 || ::fsync(::fileno(f.get())) != 0) {
    return fail("write");
  }
  if (std::fclose(f.release()) != 0) return fail("close");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");
  sync_folder(target.has_parent_path() ? target.parent_path() : fs::path("."));
  return {};
}

Status AnnIndex::Impl::read_payload(std::FILE* f, const std::string& path, std::uint64_t elements) {
  Hnsw& g = *graph;
  std::size_t offset_level0 = 0, max_elements = 0, count = 0, per_element = 0, label_offset = 0, offset_data = 0;
  int max_level = 0;
  hnswlib::tableint entry = 0;
  std::size_t max_m = 0, max_m0 = 0, m = 0, ef_construction = 0;
  double mult = 0;
  const bool read = read_pod(f, offset_level0) && read_pod(f, max_elements) && read_pod(f, count) &&
                    read_pod(f, per_element) && read_pod(f, label_offset) && read_pod(f, offset_data) &&
                    read_pod(f, max_level) && read_pod(f, entry) && read_pod(f, max_m) && read_pod(f, max_m0) &&
                    read_pod(f, m) && read_pod(f, mult) && read_pod(f, ef_construction);
  if (!read) return corrupt(path, "truncated");
  // The graph was built with the file's m and ef_construction, so its layout must match.
  if (count != elements || offset_level0 != g.offsetLevel0_ || per_element != g.size_data_per_element_ ||
      label_offset != g.label_offset_ || offset_data != g.offsetData_ || max_m != g.maxM_ || max_m0 != g.maxM0_ ||
      m != g.M_ || ef_construction != g.ef_construction_ || max_elements < count) {
    return corrupt(path, "inconsistent layout");
  }
  if (count == 0 ? (max_level != -1) : (max_level < 0 || max_level > 64 || entry >= count)) {
    return corrupt(path, "bad entry point");
  }
  if (!read_exact(f, g.data_level0_memory_, count * per_element)) return corrupt(path, "truncated");
  for (std::size_t i = 0; i < count; ++i) {
    unsigned int bytes = 0;
    if (!read_pod(f, bytes)) return corrupt(path, "truncated");
    const std::size_t levels = bytes / g.size_links_per_element_;
    if (bytes % g.size_links_per_element_ != 0 || levels > static_cast<std::size_t>(max_level)) {
      return corrupt(path, "bad link list size");
    }
    g.element_levels_[i] = static_cast<int>(levels);
    g.linkLists_[i] = nullptr;
    if (bytes > 0) {
      g.linkLists_[i] = static_cast<char*>(std::malloc(bytes));
      if (!g.linkLists_[i]) return resource_exhausted("out of memory loading a vector index");
    }
    g.cur_element_count = i + 1;  // from here on the destructor frees this element's links
    if (!read_exact(f, g.linkLists_[i], bytes)) return corrupt(path, "truncated");
  }
  if (count > 0 && g.element_levels_[entry] != max_level) return corrupt(path, "bad entry point level");
  g.maxlevel_ = max_level;
  g.enterpoint_node_ = entry;
  return check_links(path);
}

// Every neighbour id in range, every list within its size, every label once; counts deletions.
Status AnnIndex::Impl::check_links(const std::string& path) const {
  Hnsw& g = *graph;
  const std::size_t count = g.cur_element_count;
  g.num_deleted_ = 0;
  for (hnswlib::tableint i = 0; i < count; ++i) {
    for (int level = 0; level <= g.element_levels_[i]; ++level) {
      hnswlib::linklistsizeint* list = level == 0 ? g.get_linklist0(i) : g.get_linklist(i, level);
      const std::size_t n = g.getListCount(list);
      if (n > (level == 0 ? g.maxM0_ : g.maxM_)) return corrupt(path, "oversized link list");
      const auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (std::size_t j = 0; j < n; ++j) {
        if (links[j] >= count) return corrupt(path, "link out of range");
      }
    }
    if (!g.label_lookup_.emplace(g.getExternalLabel(i), i).second) return corrupt(path, "duplicate label");
    if (g.isMarkedDeleted(i)) ++g.num_deleted_;
  }
  return {};
}

Result<std::unique_ptr<AnnIndex>> AnnIndex::load(const std::string& path, int dimensions) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) return not_found(fmt::format("no vector index at '{}'", path));
  char magic[sizeof kMagic];
  std::array<std::uint64_t, kHeaderFields> h{};
  if (!read_exact(f.get(), magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0 ||
      !read_exact(f.get(), h.data(), sizeof h)) {
    return corrupt(path, "no Hearth vector index header");
  }
  const auto [version, dims, elements, revision, payload_bytes, checksum] = h;
  if (version != kFormatVersion) return corrupt(path, fmt::format("format version {}", version));
  if (dims != static_cast<std::uint64_t>(dimensions)) {
    return invalid_argument(fmt::format("vector index '{}' has {} dimensions, not {}", path, dims, dimensions));
  }
  // First pass: the payload's size and checksum, before hnswlib's layout is trusted at all.
  Checksum sum;
  std::uint64_t seen = 0;
  std::vector<char> buf(1 << 16);
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0; seen += n) sum.add(buf.data(), n);
  if (seen != payload_bytes || sum.h != checksum) return corrupt(path, "size or checksum mismatch");
  if (std::fseek(f.get(), static_cast<long>(kHeaderBytes), SEEK_SET) != 0) return corrupt(path, "unreadable");
  // The graph's parameters sit at fixed offsets of hnswlib's layout: M (field 11) and
  // ef_construction (13), both size_t after 7 size_t/int fields and the entry point.
  constexpr std::size_t kMOffset = 6 * sizeof(std::size_t) + sizeof(int) + sizeof(hnswlib::tableint) +
                                   2 * sizeof(std::size_t);
  std::size_t m = 0, ef_construction = 0;
  double mult = 0;
  if (std::fseek(f.get(), static_cast<long>(kHeaderBytes + kMOffset), SEEK_SET) != 0 || !read_pod(f.get(), m) ||
      !read_pod(f.get(), mult) || !read_pod(f.get(), ef_construction) ||
      std::fseek(f.get(), static_cast<long>(kHeaderBytes), SEEK_SET) != 0) {
    return corrupt(path, "truncated");
  }
  AnnParams params;
  params.m = m;
  params.ef_construction = ef_construction;
  if (m < 2 || m > 1024 || ef_construction < 1 || elements > payload_bytes / (dims * sizeof(float))) {
    return corrupt(path, "bad parameters");
  }
  try {
    auto impl = std::make_unique<Impl>(dimensions, params);
    impl->graph = std::make_unique<Hnsw>(&impl->space, std::max<std::size_t>(elements, kMinCapacity), m,
                                         ef_construction, params.seed);
    HEARTH_TRY(impl->read_payload(f.get(), path, elements));
    auto index = std::unique_ptr<AnnIndex>(new AnnIndex(std::move(impl)));
    index->set_revision(static_cast<std::int64_t>(revision));
    return index;
  } catch (const std::exception& e) {
    return internal_error(fmt::format("cannot load the vector index '{}': {}", path, e.what()));
  }
}

std::string ann_index_path(const std::string& db_path, std::int64_t collection_id) {
  if (db_path.empty() || db_path == ":memory:") return {};
  return fmt::format("{}.ann/{}.hnsw", db_path, collection_id);
}

// ---- VectorIndexCache ----

struct VectorIndexCache::Entry {
  std::shared_mutex mu;              // shared: searches; exclusive: load, reconcile, compact
  std::unique_ptr<AnnIndex> index;   // null until loaded or built
  bool dirty = false;                // changed since it was last saved
  bool forgotten = false;            // the collection was deleted
};

struct VectorIndexCache::AtomicCounters {
  std::atomic<std::uint64_t> loads{0}, load_failures{0}, builds{0}, reconciliations{0};
  std::atomic<std::uint64_t> vectors_added{0}, vectors_removed{0}, saves{0}, save_failures{0};
  std::atomic<std::uint64_t> compactions{0}, searches{0};
};

namespace {
constexpr std::size_t kVectorBatch = 512;  // vectors read from the store at a time
constexpr std::size_t kMinDeletedToCompact = 1024;
}  // namespace

VectorIndexCache::VectorIndexCache(std::optional<std::string> db_path, AnnParams params)
    : params_(params), db_path_(std::move(db_path)), counters_(std::make_unique<AtomicCounters>()) {}

std::string VectorIndexCache::file_for(std::int64_t collection_id) const {
  std::lock_guard lock(mu_);
  return db_path_ ? ann_index_path(*db_path_, collection_id) : std::string();
}

Status VectorIndexCache::bind(const KnowledgeStore& store) {
  const std::string path = store.path();
  std::lock_guard lock(mu_);
  if (!db_path_) db_path_ = path;
  if (*db_path_ != path) {
    return invalid_argument(
        fmt::format("this vector index cache belongs to '{}', not to '{}': use one per database", *db_path_, path));
  }
  return {};
}

VectorIndexCache::~VectorIndexCache() = default;

std::shared_ptr<VectorIndexCache::Entry> VectorIndexCache::entry(std::int64_t collection_id) {
  std::lock_guard lock(mu_);
  auto& e = entries_[collection_id];
  if (!e) e = std::make_shared<Entry>();
  return e;
}

Result<std::vector<Scored>> VectorIndexCache::search(KnowledgeStore& store, const CollectionInfo& c,
                                                     std::span<const float> query, std::size_t k, std::size_t ef) {
  ++counters_->searches;
  HEARTH_TRY(bind(store));
  auto e = entry(c.id);
  {
    std::shared_lock lock(e->mu);
    if (e->index && e->index->revision() == c.revision) return e->index->search(query, k, ef);
  }
  {
    std::unique_lock lock(e->mu);
    HEARTH_TRY(bring_up_to_date(store, c, *e, false));
  }
  std::shared_lock lock(e->mu);
  if (!e->index) return not_found(fmt::format("collection '{}' was deleted", c.name));
  return e->index->search(query, k, ef);
}

Status VectorIndexCache::refresh(KnowledgeStore& store, const CollectionInfo& c) {
  HEARTH_TRY(bind(store));
  auto e = entry(c.id);
  std::unique_lock lock(e->mu);
  return bring_up_to_date(store, c, *e, true);
}

Status VectorIndexCache::bring_up_to_date(KnowledgeStore& store, const CollectionInfo& c, Entry& e, bool persist) {
  if (e.forgotten) return not_found(fmt::format("collection '{}' was deleted", c.name));
  const std::string file = file_for(c.id);
  const bool fresh = !e.index;
  if (fresh && !file.empty()) {
    auto loaded = AnnIndex::load(file, c.dimensions);
    if (loaded) {
      e.index = std::move(*loaded);
      ++counters_->loads;
    } else if (loaded.error().code != ErrorCode::kNotFound) {
      ++counters_->load_failures;
      spdlog::warn("knowledge: rebuilding the vector index of '{}': {}", c.name, loaded.error().message);
    }
  }
  if (!e.index) {
    auto created = AnnIndex::create(c.dimensions, params_);
    if (!created) return created.take_error();
    e.index = std::move(*created);
    e.dirty = true;
    ++counters_->builds;
  }
  // A fresh index is always reconciled: the file may predate writes its revision cannot show.
  if (fresh || e.index->revision() != c.revision) {
    bool changed = false;
    HEARTH_TRY(reconcile(store, c, *e.index, changed));
    e.dirty = e.dirty || changed || e.index->revision() != c.revision;
    e.index->set_revision(c.revision);
  }
  if (e.index->deleted() >= std::max(e.index->size(), kMinDeletedToCompact)) {
    auto smaller = e.index->compacted();
    if (!smaller) return smaller.take_error();
    e.index = std::move(*smaller);
    e.dirty = true;
    ++counters_->compactions;
  }
  if (!e.dirty || file.empty() || !(persist || fresh)) return {};
  auto saved = e.index->save(file);
  if (!saved) {
    ++counters_->save_failures;
    spdlog::warn("knowledge: {}", saved.error().message);
    return persist ? saved : Status{};  // a search still has the index in memory
  }
  e.dirty = false;
  ++counters_->saves;
  return {};
}

Status VectorIndexCache::reconcile(KnowledgeStore& store, const CollectionInfo& c, AnnIndex& index, bool& changed) {
  ++counters_->reconciliations;
  auto live = store.vector_chunk_ids(c.id);
  if (!live) return live.take_error();
  const std::vector<std::int64_t> have = index.ids();
  std::vector<std::int64_t> missing, gone;
  std::set_difference(live->begin(), live->end(), have.begin(), have.end(), std::back_inserter(missing));
  std::set_difference(have.begin(), have.end(), live->begin(), live->end(), std::back_inserter(gone));
  for (std::int64_t id : gone) HEARTH_TRY(index.remove(id));
  counters_->vectors_removed += gone.size();
  changed = !gone.empty();
  for (std::size_t at = 0; at < missing.size(); at += kVectorBatch) {
    const std::span<const std::int64_t> batch(missing.data() + at, std::min(kVectorBatch, missing.size() - at));
    auto vectors = store.chunk_vectors(batch);
    if (!vectors) return vectors.take_error();
    for (const ChunkVector& v : *vectors) HEARTH_TRY(index.upsert(v.id, v.vector));
    counters_->vectors_added += vectors->size();
    changed = changed || !vectors->empty();
  }
  return {};
}

bool VectorIndexCache::has_index(std::int64_t collection_id) const {
  {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(collection_id);
    if (it != entries_.end()) {
      std::shared_lock entry_lock(it->second->mu);
      if (it->second->index) return true;
    }
  }
  const std::string file = file_for(collection_id);
  std::error_code ec;
  return !file.empty() && fs::exists(file, ec);
}

void VectorIndexCache::drop(std::int64_t collection_id) {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(collection_id);
    if (it != entries_.end()) {
      e = it->second;
      entries_.erase(it);
    }
  }
  if (e) {
    std::unique_lock lock(e->mu);  // waits for searches and updates in flight
    e->forgotten = true;
    e->index.reset();
  }
  const std::string file = file_for(collection_id);
  std::error_code ec;
  if (!file.empty() && !fs::remove(file, ec) && ec) {
    spdlog::warn("knowledge: cannot delete the vector index '{}': {}", file, ec.message());
  }
}

AnnCounters VectorIndexCache::counters() const {
  const AtomicCounters& c = *counters_;
  return {c.loads, c.load_failures, c.builds, c.reconciliations, c.vectors_added, c.vectors_removed,
          c.saves, c.save_failures, c.compactions, c.searches};
}

}  // namespace hearth::knowledge
