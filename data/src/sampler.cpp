// Sampler: per-epoch Fisher-Yates permutation, global batches and per-rank slices.
#include "l2face/data/sampler.h"

#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>

#include "l2face/data/errors.h"

namespace l2face::data {
namespace {

// Stream tag so the permutation never shares a stream with augmentation (which mixes the same
// seed with (epoch, sample index)).
constexpr uint64_t kPermutationStream = 0x5045524D55544531ULL;  // "PERMUTE1"

std::vector<size_t> makePermutation(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> perm(n);
  std::iota(perm.begin(), perm.end(), size_t{0});
  Rng rng(mixSeed(seed, kPermutationStream, static_cast<uint64_t>(epoch)));
  for (size_t i = n; i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.below(i));
    std::swap(perm[i - 1], perm[j]);
  }
  return perm;
}

}  // namespace

struct Sampler::Cache {
  std::mutex mutex;
  // Two slots: a loader near an epoch boundary alternates between epoch e and e+1.
  int64_t epoch[2] = {-1, -1};
  std::shared_ptr<const std::vector<size_t>> perm[2];
  int next_slot = 0;
};

Sampler::Sampler(size_t dataset_size, int64_t global_batch, uint64_t seed, int rank, int world_size,
                 int accumulate)
    : dataset_size_(dataset_size),
      global_batch_(global_batch),
      seed_(seed),
      rank_(rank),
      world_size_(world_size),
      accumulate_(accumulate),
      cache_(std::make_shared<Cache>()) {
  if (global_batch <= 0 || world_size <= 0 || accumulate <= 0) {
    throw std::invalid_argument("Sampler: global batch (" + std::to_string(global_batch) +
                                "), world size (" + std::to_string(world_size) +
                                ") and batches per optimizer step (" + std::to_string(accumulate) +
                                ") must be positive");
  }
  if (rank < 0 || rank >= world_size) {
    throw std::invalid_argument("Sampler: rank " + std::to_string(rank) + " outside [0, " +
                                std::to_string(world_size) + ")");
  }
  if (global_batch % world_size != 0) {
    throw std::invalid_argument("Sampler: global batch " + std::to_string(global_batch) +
                                " is not divisible by the world size " +
                                std::to_string(world_size) +
                                "; choose a per-rank batch so that G = B * P");
  }
  // Images per optimizer step; an epoch holds a whole number of optimizer steps.
  const auto step_images = static_cast<size_t>(global_batch) * static_cast<size_t>(accumulate);
  if (dataset_size < step_images) {
    throw DataError("Sampler: dataset of " + std::to_string(dataset_size) +
                    " samples is smaller than one " +
                    (accumulate > 1 ? "optimizer step of " + std::to_string(accumulate) + " x "
                                    : std::string("global batch of ")) +
                    std::to_string(global_batch) + "; use a smaller batch or more data");
  }
  steps_per_epoch_ = static_cast<int64_t>(dataset_size / step_images) * accumulate;
}

std::shared_ptr<const std::vector<size_t>> Sampler::permutation(int64_t epoch) const {
  if (epoch < 0) throw std::out_of_range("Sampler: negative epoch " + std::to_string(epoch));
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    for (int s = 0; s < 2; ++s) {
      if (cache_->epoch[s] == epoch) return cache_->perm[s];
    }
  }
  // Computed outside the lock: two threads may both build it; the result is identical.
  auto perm = std::make_shared<const std::vector<size_t>>(
      makePermutation(dataset_size_, seed_, epoch));
  std::lock_guard<std::mutex> lock(cache_->mutex);
  for (int s = 0; s < 2; ++s) {
    if (cache_->epoch[s] == epoch) return cache_->perm[s];
  }
  const int slot = cache_->next_slot;
  cache_->epoch[slot] = epoch;
  cache_->perm[slot] = perm;
  cache_->next_slot = 1 - slot;
  return perm;
}

void Sampler::checkPosition(int64_t epoch, int64_t step) const {
  if (epoch < 0 || step < 0 || step >= steps_per_epoch_) {
    throw std::out_of_range("Sampler: position (epoch " + std::to_string(epoch) + ", step " +
                            std::to_string(step) + ") outside [0, " +
                            std::to_string(steps_per_epoch_) + ") steps per epoch");
  }
}

std::vector<size_t> Sampler::rankIndices(int64_t epoch, int64_t step) const {
  checkPosition(epoch, step);
  const auto perm = permutation(epoch);
  const int64_t b = localBatch();
  const auto begin = perm->begin() + step * global_batch_ + rank_ * b;
  return std::vector<size_t>(begin, begin + b);
}

std::vector<size_t> Sampler::globalIndices(int64_t epoch, int64_t step) const {
  checkPosition(epoch, step);
  const auto perm = permutation(epoch);
  const auto begin = perm->begin() + step * global_batch_;
  return std::vector<size_t>(begin, begin + global_batch_);
}

}  // namespace l2face::data
