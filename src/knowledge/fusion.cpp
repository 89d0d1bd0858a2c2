#include "knowledge/fusion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

namespace hearth::knowledge {
namespace {

Status check_alpha(double alpha) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    return invalid_argument(fmt::format("alpha must be between 0 and 1, not {}", alpha), "alpha");
  }
  return {};
}

// Min-max normalization to [0, 1]; all-equal (or a single score) gives 1.
std::vector<double> normalized(std::span<const Scored> list) {
  std::vector<double> out(list.size(), 1.0);
  if (list.empty()) return out;
  const auto [lo, hi] = std::minmax_element(list.begin(), list.end(),
                                            [](const Scored& a, const Scored& b) { return a.score < b.score; });
  const double span = hi->score - lo->score;
  if (!(span > 0)) return out;
  for (std::size_t i = 0; i < list.size(); ++i) out[i] = (list[i].score - lo->score) / span;
  return out;
}

// Ranks from 1 in descending score order (ties by id), as the caller's order may be anything.
std::vector<double> ranks(std::span<const Scored> list) {
  std::vector<std::size_t> order(list.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (list[a].score != list[b].score) return list[a].score > list[b].score;
    return list[a].id < list[b].id;
  });
  std::vector<double> rank(list.size());
  for (std::size_t r = 0; r < order.size(); ++r) rank[order[r]] = static_cast<double>(r + 1);
  return rank;
}

// Merges the two lists' per-item values (the first value seen for a repeated id wins) and ranks
// them by `score_of`.
std::vector<Fused> merge(std::span<const Scored> keyword, const std::vector<double>& kw_values,
                         std::span<const Scored> semantic, const std::vector<double>& sem_values, double alpha,
                         const std::function<double(const Fused&)>& score_of) {
  std::map<std::int64_t, Fused> by_id;
  if (alpha < 1.0) {
    for (std::size_t i = 0; i < keyword.size(); ++i) {
      Fused& f = by_id[keyword[i].id];
      f.id = keyword[i].id;
      if (!f.keyword) f.keyword = kw_values[i];
    }
  }
  if (alpha > 0.0) {
    for (std::size_t i = 0; i < semantic.size(); ++i) {
      Fused& f = by_id[semantic[i].id];
      f.id = semantic[i].id;
      if (!f.semantic) f.semantic = sem_values[i];
    }
  }
  std::vector<Fused> out;
  out.reserve(by_id.size());
  for (auto& [id, f] : by_id) {
    f.score = score_of(f);
    out.push_back(f);
  }
  std::stable_sort(out.begin(), out.end(), [](const Fused& a, const Fused& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.id < b.id;
  });
  return out;
}

}  // namespace

Result<std::vector<Fused>> fuse_weighted(std::span<const Scored> keyword, std::span<const Scored> semantic,
                                         double alpha) {
  HEARTH_TRY(check_alpha(alpha));
  return merge(keyword, normalized(keyword), semantic, normalized(semantic), alpha, [alpha](const Fused& f) {
    return alpha * f.semantic.value_or(0.0) + (1.0 - alpha) * f.keyword.value_or(0.0);
  });
}

Result<std::vector<Fused>> fuse_rrf(std::span<const Scored> keyword, std::span<const Scored> semantic, double alpha,
                                    int k) {
  HEARTH_TRY(check_alpha(alpha));
  if (k < 0) return invalid_argument(fmt::format("the RRF constant must not be negative, not {}", k), "rrf_k");
  const double kk = k;
  return merge(keyword, ranks(keyword), semantic, ranks(semantic), alpha, [alpha, kk](const Fused& f) {
    double s = 0;
    if (f.keyword) s += (1.0 - alpha) / (kk + *f.keyword);
    if (f.semantic) s += alpha / (kk + *f.semantic);
    return s;
  });
}

std::vector<std::size_t> select_mmr(std::span<const double> relevance,
                                    const std::function<double(std::size_t, std::size_t)>& similarity,
                                    double lambda, std::size_t top_k, double duplicate_threshold) {
  const std::size_t n = relevance.size();
  std::vector<double> rel(relevance.begin(), relevance.end());
  if (n > 0) {
    const auto [lo, hi] = std::minmax_element(rel.begin(), rel.end());
    const double lo_v = *lo, span = *hi - *lo;
    for (double& r : rel) r = span > 0 ? (r - lo_v) / span : 1.0;
  }
  std::vector<std::size_t> taken;
  std::vector<double> max_sim(n, -std::numeric_limits<double>::infinity());
  std::vector<bool> out_of_play(n, false);
  while (taken.size() < top_k) {
    std::size_t best = n;
    double best_value = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i) {
      if (out_of_play[i]) continue;
      const double penalty = taken.empty() ? 0.0 : max_sim[i];
      const double value = lambda * rel[i] - (1.0 - lambda) * penalty;
      if (best == n || value > best_value) {
        best = i;
        best_value = value;
      }
    }
    if (best == n) break;
    taken.push_back(best);
    out_of_play[best] = true;
    for (std::size_t i = 0; i < n; ++i) {
      if (out_of_play[i]) continue;
      max_sim[i] = std::max(max_sim[i], similarity(i, best));
      if (max_sim[i] >= duplicate_threshold) out_of_play[i] = true;
    }
  }
  return taken;
}

double cosine(std::span<const float> a, std::span<const float> b) {
  const std::size_t n = std::min(a.size(), b.size());
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0.0;
  return dot / std::sqrt(na * nb);
}

}  // namespace hearth::knowledge
