// LFW-layout pairs.txt generation: disjoint folds, distinct matched and mismatched pairs.
#include "synth_pairs.h"

#include <algorithm>
#include <numeric>
#include <tuple>
#include <unordered_set>

#include "l2face/data/random.h"

namespace l2face::data::synth {
namespace {

constexpr uint64_t kPairsStream = 0x5041495253ULL;  // "PAIRS"

// n distinct values from [0, total), in draw order. Dense draws use a partial Fisher-Yates over
// the whole range, sparse ones rejection sampling, so huge ranges need no big tables.
std::vector<uint64_t> drawDistinct(uint64_t total, uint64_t n, Rng& rng) {
  std::vector<uint64_t> out;
  out.reserve(n);
  if (n * 2 >= total) {
    std::vector<uint64_t> all(total);
    std::iota(all.begin(), all.end(), uint64_t{0});
    for (uint64_t i = 0; i < n; ++i) {
      std::swap(all[i], all[i + rng.below(total - i)]);
      out.push_back(all[i]);
    }
    return out;
  }
  std::unordered_set<uint64_t> seen;
  while (out.size() < n) {
    const uint64_t v = rng.below(total);
    if (seen.insert(v).second) out.push_back(v);
  }
  return out;
}

}  // namespace

PairList makePairs(int identities, int images_per_identity, int folds, int requested_per_fold,
                   uint64_t seed, const std::function<std::string(int)>& name) {
  const int64_t m = images_per_identity;
  const int64_t image_pairs = m * (m - 1) / 2;
  auto foldBegin = [&](int f) { return static_cast<int>(int64_t{f} * identities / folds); };

  // n is limited by the smallest fold (the folds differ by at most one identity).
  int64_t n = requested_per_fold;
  PairList list;
  for (int f = 0; f < folds; ++f) {
    const int64_t k = foldBegin(f + 1) - foldBegin(f);
    const int64_t matched = k * image_pairs;
    const int64_t mismatched = k * (k - 1) / 2 * m * m;
    n = std::min({n, matched, mismatched});
  }
  if (n < requested_per_fold) {
    list.notes.push_back("pairs_per_fold reduced from " + std::to_string(requested_per_fold) +
                         " to " + std::to_string(n) + ": the smallest fold (" +
                         std::to_string(foldBegin(1) - foldBegin(0)) + " identities x " +
                         std::to_string(m) +
                         " images) has no more distinct pairs; add eval identities or images");
  }
  list.folds = folds;
  list.per_fold = static_cast<int>(n);
  list.text = std::to_string(folds) + "\t" + std::to_string(n) + "\n";

  // Image-pair table (i < j) shared by all identities.
  std::vector<std::pair<int, int>> within;
  for (int i = 0; i < m; ++i)
    for (int j = i + 1; j < m; ++j) within.emplace_back(i, j);

  for (int f = 0; f < folds; ++f) {
    Rng rng(mixSeed(seed, kPairsStream, static_cast<uint64_t>(f)));
    const int first = foldBegin(f);
    const int k = foldBegin(f + 1) - first;

    std::vector<std::tuple<int, int, int>> matched;  // identity, image i, image j
    for (uint64_t v : drawDistinct(static_cast<uint64_t>(k * image_pairs), n, rng)) {
      const auto& ij = within[v % image_pairs];
      matched.emplace_back(first + static_cast<int>(v / image_pairs), ij.first, ij.second);
    }
    std::sort(matched.begin(), matched.end());
    for (const auto& [id, i, j] : matched) {
      list.text += name(id) + "\t" + std::to_string(i + 1) + "\t" + std::to_string(j + 1) + "\n";
    }

    std::vector<std::pair<int, int>> people;  // identity pairs a < b within the fold
    for (int a = 0; a < k; ++a)
      for (int b = a + 1; b < k; ++b) people.emplace_back(first + a, first + b);
    const uint64_t per_people = static_cast<uint64_t>(m * m);
    std::vector<std::tuple<int, int, int, int>> mismatched;  // a, image, b, image
    for (uint64_t v : drawDistinct(people.size() * per_people, n, rng)) {
      const auto& ab = people[v / per_people];
      const uint64_t r = v % per_people;
      mismatched.emplace_back(ab.first, static_cast<int>(r / m), ab.second,
                              static_cast<int>(r % m));
    }
    std::sort(mismatched.begin(), mismatched.end());
    for (const auto& [a, i, b, j] : mismatched) {
      list.text += name(a) + "\t" + std::to_string(i + 1) + "\t" + name(b) + "\t" +
                   std::to_string(j + 1) + "\n";
    }
  }
  return list;
}

}  // namespace l2face::data::synth
