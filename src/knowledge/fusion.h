// Hybrid retrieval scoring (issue #3): fuse a keyword (BM25) ranking with a semantic (vector)
// ranking, and pick a diverse top k with maximal marginal relevance.
//
// Inputs are "higher is better" scores (negate SQLite's bm25(), use cosine similarity as is).
// Results are ordered by fused score, best first; ties go to the smaller id, so output is
// deterministic.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/result.h"

namespace hearth::knowledge {

struct Scored {
  std::int64_t id = 0;  // a chunk id
  double score = 0;     // higher is better
};

struct Fused {
  std::int64_t id = 0;
  double score = 0;
  std::optional<double> keyword;   // the keyword score after normalization (weighted) or its rank (RRF)
  std::optional<double> semantic;  // the same for the semantic list
};

// Relative score fusion: each list is min-max normalized to [0, 1] (a list whose scores are all
// equal normalizes to 1), then score = alpha x semantic + (1 - alpha) x keyword, a missing score
// counting 0. alpha = 0 keeps only keyword hits, alpha = 1 only semantic hits.
Result<std::vector<Fused>> fuse_weighted(std::span<const Scored> keyword, std::span<const Scored> semantic,
                                         double alpha);

// Reciprocal-rank fusion: score = (1 - alpha) / (k + keyword rank) + alpha / (k + semantic rank),
// ranks from 1 in each list's own order (best first). alpha = 0.5 is plain RRF (halved); alpha 0
// or 1 keeps one list, as above.
Result<std::vector<Fused>> fuse_rrf(std::span<const Scored> keyword, std::span<const Scored> semantic, double alpha,
                                    int k = 60);

// Maximal marginal relevance over candidates 0..n-1 with the given relevance: repeatedly takes
// the candidate maximizing lambda x relevance - (1 - lambda) x (its highest similarity to those
// already taken), skipping any whose similarity to a taken one is at least
// `duplicate_threshold` (near-duplicates). Relevance is min-max normalized first, so lambda
// weighs comparable quantities. Returns up to `top_k` candidate indices in the order taken.
std::vector<std::size_t> select_mmr(std::span<const double> relevance,
                                    const std::function<double(std::size_t, std::size_t)>& similarity,
                                    double lambda, std::size_t top_k, double duplicate_threshold = 0.95);

// Cosine similarity of two vectors of the same length (0 if either is all zeros).
double cosine(std::span<const float> a, std::span<const float> b);

}  // namespace hearth::knowledge
