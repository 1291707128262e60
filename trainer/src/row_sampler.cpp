// Row sampling of a class shard: positives first, then the top of a seeded uniform score.
#include "l2face/trainer/internal/row_sampler.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "l2face/data/seed_mix.h"
#include "l2face/trainer/internal/batch_transfer.h"
#include "l2face/trainer/internal/sync_debug.h"

namespace l2face::trainer {

RowSampler::RowSampler(checkpoint::RowRange range, double rate, uint64_t seed, int rank)
    : range_(range), rate_(rate), seed_(seed), rank_(rank) {}

int64_t RowSampler::maxRows(int64_t global_batch) const {
  const int64_t n = range_.size();
  const auto wanted = static_cast<int64_t>(std::ceil(rate_ * n));
  return std::min(n, std::max(wanted, std::min(global_batch, n)));
}

torch::Tensor RowSampler::sampleOnHost(const torch::Tensor& global_labels,
                                       int64_t call_index) const {
  using data::mix64;
  const int64_t n = range_.size();
  torch::Tensor y;
  {
    // How many rows to keep depends on the labels: the sampled classifier's one host
    // synchronisation per micro-batch (docs/performance.md).
    const AllowHostSync deliberate;
    y = global_labels.to(torch::kCPU);
  }
  torch::Tensor mine =
      y.masked_select(y.ge(range_.begin).logical_and(y.lt(range_.end))) - range_.begin;
  const auto wanted = std::min<int64_t>(n, static_cast<int64_t>(std::ceil(rate_ * n)));
  const uint64_t key = mix64((seed_ ^ 0x5a5a5a5aULL) + data::kGoldenGamma) ^
                       mix64(static_cast<uint64_t>(call_index) + data::kGoldenGamma) ^
                       static_cast<uint64_t>(rank_);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(mix64(key + data::kGoldenGamma));
  torch::Tensor score = torch::rand({n}, gen, torch::kFloat);
  if (mine.numel() > 0) score.index_fill_(0, mine, 2.0f);  // positives first: rand < 1 < 2
  const int64_t positives = mine.numel() > 0 ? std::get<0>(at::_unique(mine)).numel() : 0;
  const int64_t k = std::max(wanted, positives);
  return std::get<0>(std::get<1>(score.topk(k)).sort());
}

torch::Tensor RowSampler::sample(const torch::Tensor& global_labels, int64_t call_index,
                                 torch::Device device) const {
  return hostToDevice(sampleOnHost(global_labels, call_index), device);
}

}  // namespace l2face::trainer
