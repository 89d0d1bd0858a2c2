#include "knowledge/static_embedder.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace hearth::knowledge {

std::string default_static_embeddings_path() {
  if (const char* env = std::getenv("HEARTH_STATIC_EMBEDDINGS"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/hearth/embeddings/glove-6b-100d-v1.bin";
}
namespace {

constexpr double kSifA = 1e-3;

template <typename T>
bool read_le(std::string_view data, std::size_t& pos, T& out) {
  if (pos + sizeof(T) > data.size()) return false;
  std::memcpy(&out, data.data() + pos, sizeof(T));
  pos += sizeof(T);
  return true;
}

}  // namespace

Result<std::unique_ptr<StaticEmbedder>> StaticEmbedder::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return unavailable(fmt::format("static embeddings '{}' not found (scripts/embeddings.sh builds them)", path));
  }
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto corrupt = [&](std::string_view why) {
    return unavailable(fmt::format("static embeddings '{}' are damaged: {}", path, why));
  };
  if (data.size() < 16 || data.compare(0, 8, "HSEMB001") != 0) return corrupt("not a Hearth embedding file");
  std::size_t pos = 8;
  std::uint32_t n = 0, dims = 0;
  read_le(data, pos, n);
  read_le(data, pos, dims);
  if (dims == 0 || dims > 4096 || n == 0 || n > 10'000'000) return corrupt("implausible sizes");
  std::unique_ptr<StaticEmbedder> e(new StaticEmbedder());
  e->dims_ = static_cast<int>(dims);
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // offsets into words_
  spans.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint8_t len = 0;
    if (!read_le(data, pos, len) || pos + len > data.size()) return corrupt("truncated word list");
    spans.emplace_back(e->words_.size(), len);
    e->words_.append(data, pos, len);
    pos += len;
  }
  const std::size_t row = sizeof(float) + dims;
  if (data.size() - pos != static_cast<std::size_t>(n) * row) return corrupt("vector table has the wrong size");
  e->scales_.resize(n);
  e->values_.resize(static_cast<std::size_t>(n) * dims);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::memcpy(&e->scales_[i], data.data() + pos, sizeof(float));
    std::memcpy(&e->values_[static_cast<std::size_t>(i) * dims], data.data() + pos + sizeof(float), dims);
    pos += row;
  }
  e->index_.reserve(n);
  e->harmonic_ = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    e->index_.emplace(std::string_view(e->words_).substr(spans[i].first, spans[i].second), i);
    e->harmonic_ += 1.0 / (i + 1.0);
  }
  return e;
}

std::vector<float> StaticEmbedder::embed_words(std::span<const std::string> words) const {
  std::vector<double> acc(static_cast<std::size_t>(dims_), 0.0);
  for (const std::string& w : words) {
    auto it = index_.find(w);
    if (it == index_.end() && w.size() > 2 && w.ends_with("'s")) it = index_.find(std::string_view(w).substr(0, w.size() - 2));
    if (it == index_.end()) continue;
    const std::uint32_t rank = it->second;
    const double p = 1.0 / ((rank + 1.0) * harmonic_);
    const double weight = kSifA / (kSifA + p) * scales_[rank];
    const std::int8_t* v = &values_[static_cast<std::size_t>(rank) * static_cast<std::size_t>(dims_)];
    for (int d = 0; d < dims_; ++d) acc[static_cast<std::size_t>(d)] += weight * v[d];
  }
  double norm = 0;
  for (double x : acc) norm += x * x;
  std::vector<float> out(acc.size(), 0.0f);
  if (norm > 0) {
    const double inv = 1.0 / std::sqrt(norm);
    for (std::size_t d = 0; d < acc.size(); ++d) out[d] = static_cast<float>(acc[d] * inv);
  }
  return out;
}

std::vector<float> StaticEmbedder::embed(std::string_view text, TextTokenizer& tokenizer) const {
  return embed_words(tokenizer.words(text));
}

}  // namespace hearth::knowledge
