// Private: LFW-style verification pairs for the synthetic evaluation split.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace l2face::data::synth {

struct PairList {
  int folds = 0;
  int per_fold = 0;                // n: matched (and mismatched) pairs per fold
  std::string text;                // pairs.txt content
  std::vector<std::string> notes;  // e.g. why n is below the requested count
};

// Splits identities [0, identities) into `folds` contiguous disjoint groups and draws, per fold,
// n distinct matched pairs (two images of one identity) and n distinct mismatched pairs (images
// of two identities of that fold), n = min(requested, what every fold allows). Lines are sorted
// within each block. Deterministic for `seed`. `name(i)` gives identity i's directory name.
// Preconditions (checked by the caller): identities >= 2 * folds, images_per_identity >= 2.
PairList makePairs(int identities, int images_per_identity, int folds, int requested_per_fold,
                   uint64_t seed, const std::function<std::string(int)>& name);

}  // namespace l2face::data::synth
