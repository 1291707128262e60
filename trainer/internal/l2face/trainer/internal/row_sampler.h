// Negative-class sampling of a class shard: every positive plus a seeded uniform subset.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "l2face/checkpoint/rows.h"

namespace l2face::trainer {

// Chooses the rows of a shard [range.begin, range.end) that one step computes: every class of
// the global batch this shard owns, plus a uniform random subset of the others, in all
// max(positives, ⌈rate · rows⌉). The choice is a function of (seed, call index, rank).
class RowSampler {
 public:
  RowSampler(checkpoint::RowRange range, double rate, uint64_t seed, int rank);
  // global_labels: the labels of the global batch (any device). Returns ascending local row
  // indices (int64) on `device`.
  torch::Tensor sample(const torch::Tensor& global_labels, int64_t call_index,
                       torch::Device device) const;
  // The same rows on the CPU. The sampling runs on the host from the generator's CPU stream (the
  // same rows on every device); reading device labels is one host synchronisation, the only one
  // of a sampled classifier's micro-batch.
  torch::Tensor sampleOnHost(const torch::Tensor& global_labels, int64_t call_index) const;
  // Rows one step keeps for a global batch of n samples at most (the memory estimate's bound).
  int64_t maxRows(int64_t global_batch) const;

 private:
  checkpoint::RowRange range_;
  double rate_;
  uint64_t seed_;
  int rank_;
};

}  // namespace l2face::trainer
