#include "knowledge/static_embedder.h"

#include <algorithm>
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
// Version 2: the mean and the top principal directions of the most frequent words' vectors
// (the rare words' vectors are noisier and would pull the directions towards noise).
constexpr std::size_t kCommonWords = 50'000;
constexpr int kCommonDirections = 2;

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
  e->find_common_directions(std::min<std::size_t>(n, kCommonWords), kCommonDirections);
  return e;
}

void StaticEmbedder::find_common_directions(std::size_t words, int count) {
  const std::size_t dims = static_cast<std::size_t>(dims_);
  mean_.assign(dims, 0.0);
  std::vector<double> v(dims);
  auto vector_of = [&](std::size_t w) {
    for (std::size_t d = 0; d < dims; ++d) v[d] = scales_[w] * values_[w * dims + d];
  };
  for (std::size_t w = 0; w < words; ++w) {
    vector_of(w);
    for (std::size_t d = 0; d < dims; ++d) mean_[d] += v[d] / static_cast<double>(words);
  }
  std::vector<double> cov(dims * dims, 0.0);
  for (std::size_t w = 0; w < words; ++w) {
    vector_of(w);
    for (std::size_t d = 0; d < dims; ++d) v[d] -= mean_[d];
    for (std::size_t i = 0; i < dims; ++i)
      for (std::size_t j = 0; j <= i; ++j) cov[i * dims + j] += v[i] * v[j];
  }
  for (std::size_t i = 0; i < dims; ++i)
    for (std::size_t j = 0; j < i; ++j) cov[j * dims + i] = cov[i * dims + j];
  common_.clear();
  for (int k = 0; k < count; ++k) {  // power iteration, deflated by the directions found before
    std::vector<double> u(dims, 1.0 / std::sqrt(static_cast<double>(dims))), next(dims);
    for (int it = 0; it < 200; ++it) {
      for (std::size_t i = 0; i < dims; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < dims; ++j) s += cov[i * dims + j] * u[j];
        next[i] = s;
      }
      for (const auto& c : common_) {  // deflate: stay orthogonal to the directions found
        double dot = 0;
        for (std::size_t d = 0; d < dims; ++d) dot += next[d] * c[d];
        for (std::size_t d = 0; d < dims; ++d) next[d] -= dot * c[d];
      }
      double norm = 0;
      for (double x : next) norm += x * x;
      norm = std::sqrt(norm);
      if (norm == 0) break;
      for (std::size_t d = 0; d < dims; ++d) u[d] = next[d] / norm;
    }
    common_.push_back(u);
  }
}

std::vector<float> StaticEmbedder::embed_words(std::span<const std::string> words, StaticVersion version) const {
  std::vector<double> acc(static_cast<std::size_t>(dims_), 0.0);
  double total_weight = 0;
  for (const std::string& w : words) {
    auto it = index_.find(w);
    if (it == index_.end() && w.size() > 2 && w.ends_with("'s")) it = index_.find(std::string_view(w).substr(0, w.size() - 2));
    if (it == index_.end()) continue;
    const std::uint32_t rank = it->second;
    const double p = 1.0 / ((rank + 1.0) * harmonic_);
    const double weight = kSifA / (kSifA + p) * scales_[rank];
    const std::int8_t* v = &values_[static_cast<std::size_t>(rank) * static_cast<std::size_t>(dims_)];
    for (int d = 0; d < dims_; ++d) acc[static_cast<std::size_t>(d)] += weight * v[d];
    total_weight += kSifA / (kSifA + p);
  }
  if (version == StaticVersion::kAllButTheTop && total_weight > 0) {
    // acc is the SIF-weighted sum of the word vectors; take each vector's part along the mean and
    // the common directions out of it (all-but-the-top, Mu & Viswanath 2018).
    for (std::size_t d = 0; d < acc.size(); ++d) acc[d] -= total_weight * mean_[d];
    for (const auto& c : common_) {
      double dot = 0;
      for (std::size_t d = 0; d < acc.size(); ++d) dot += acc[d] * c[d];
      for (std::size_t d = 0; d < acc.size(); ++d) acc[d] -= dot * c[d];
    }
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

std::vector<float> StaticEmbedder::embed(std::string_view text, TextTokenizer& tokenizer,
                                         StaticVersion version) const {
  return embed_words(tokenizer.words(text), version);
}

}  // namespace hearth::knowledge
