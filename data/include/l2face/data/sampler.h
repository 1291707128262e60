// Sampler: the global, world-size-independent sample order and each rank's slice of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "l2face/data/random.h"  // mixSeed, used with the sampler's seed by augmentation

namespace l2face::data {

// One global permutation of [0, dataset_size) per epoch, a pure function of (seed, epoch)
// (Fisher-Yates driven by Rng, never std::shuffle whose output differs between standard
// libraries). Global batch s of an epoch is perm[s*G, (s+1)*G); rank r takes the contiguous
// slice [r*B, (r+1)*B) of it with B = G / world_size. Hence the sample order is the same for any
// world size and any number of loader threads, and a cursor (epoch, step) resumes it exactly.
//
// Drop-last, in optimizer steps: with `accumulate` = k global batches per optimizer step (S = k*G
// images), stepsPerEpoch() = (dataset_size / S) * k global batches; the last dataset_size % S
// samples of each epoch's permutation are not used in that epoch (a different subset each epoch).
// So an optimizer step never straddles an epoch, and for a given S every split into (G, k) uses
// the same samples in the same order. k = 1 is plain drop-last (dataset_size / G). Every rank gets
// the same number of steps, so no collective ever waits for a rank that ran out of data.
//
// Logically immutable; all methods are thread-safe. The permutations of the two most recently
// used epochs are cached (shared between copies of a Sampler, guarded by a mutex).
class Sampler {
 public:
  // Throws std::invalid_argument if global_batch <= 0, world_size <= 0, accumulate <= 0, rank
  // outside [0, world_size) or global_batch % world_size != 0; DataError if dataset_size <
  // global_batch * accumulate (not even one optimizer step per epoch).
  Sampler(size_t dataset_size, int64_t global_batch, uint64_t seed, int rank, int world_size,
          int accumulate = 1);

  int64_t stepsPerEpoch() const { return steps_per_epoch_; }  // global batches, a multiple of k
  int64_t localBatch() const { return global_batch_ / world_size_; }
  int64_t globalBatch() const { return global_batch_; }
  int accumulate() const { return accumulate_; }  // global batches per optimizer step
  size_t datasetSize() const { return dataset_size_; }
  uint64_t seed() const { return seed_; }
  int rank() const { return rank_; }
  int worldSize() const { return world_size_; }

  // This rank's B sample indices of global batch `step` in `epoch`. Throws std::out_of_range for
  // epoch < 0 or step outside [0, stepsPerEpoch()).
  std::vector<size_t> rankIndices(int64_t epoch, int64_t step) const;
  // All G indices of global batch `step` (every rank's slice, in rank order).
  std::vector<size_t> globalIndices(int64_t epoch, int64_t step) const;
  // The full permutation of `epoch` (cached).
  std::shared_ptr<const std::vector<size_t>> permutation(int64_t epoch) const;

 private:
  struct Cache;
  void checkPosition(int64_t epoch, int64_t step) const;

  size_t dataset_size_;
  int64_t global_batch_;
  uint64_t seed_;
  int rank_;
  int world_size_;
  int accumulate_;
  int64_t steps_per_epoch_;
  std::shared_ptr<Cache> cache_;
};

}  // namespace l2face::data
