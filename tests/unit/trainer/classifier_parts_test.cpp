// Tests of the classifier's parts on one rank: the distributed cross-entropy against torch's
// softmax cross-entropy (with and without a margin), the row sampler, and the seed mixer.
#include <gtest/gtest.h>

#include <set>

#include "l2face/comm/communicator.h"
#include "l2face/data/seed_mix.h"
#include "l2face/trainer/internal/distributed_cross_entropy.h"
#include "l2face/trainer/internal/margin.h"
#include "l2face/trainer/internal/row_sampler.h"

using namespace l2face;
using namespace l2face::trainer;

namespace {

double maxError(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

struct Case {
  torch::Tensor scores;  // n × C, float64
  torch::Tensor labels;  // n
};
Case makeCase(int64_t n, int64_t c, uint64_t seed) {
  torch::manual_seed(seed);
  Case k{torch::randn({n, c}, torch::kDouble) * 4, torch::randint(0, c, {n}, torch::kLong)};
  k.labels[0] = 0;
  k.labels[n - 1] = c - 1;
  return k;
}

}  // namespace

// One rank owns every class: loss, accuracy and ∂L/∂logits equal torch's cross-entropy of the
// same logits (float64, to rounding).
TEST(DistributedCrossEntropy, OneRankEqualsSoftmaxCrossEntropy) {
  auto comm = comm::makeLocalCommunicator();
  const Case k = makeCase(9, 13, 3);
  const double grad_scale = 0.5;
  torch::Tensor logits = k.scores.t().contiguous();  // class-major
  CrossEntropyResult ce = distributedCrossEntropy(logits, k.labels, {}, *comm, grad_scale);

  torch::Tensor x = k.scores.clone().requires_grad_(true);
  torch::Tensor per = torch::nn::functional::cross_entropy(
      x, k.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  (per.mean() * grad_scale).backward();
  EXPECT_LE(maxError(ce.loss, per.detach()), 1e-12);
  EXPECT_LE(maxError(logits.t(), x.grad()), 1e-15);
  EXPECT_TRUE(torch::equal(ce.correct, k.scores.argmax(1).eq(k.labels)));
  EXPECT_FALSE(ce.margin_slope.defined());
}

// With ArcFace's margin as the callable: the loss is that of the margin logits, the gradient
// (after chainThroughMargin) is ∂L/∂scores through the margin, and accuracy uses the scores.
TEST(DistributedCrossEntropy, MarginCallableIsDifferentiatedAtTheTargets) {
  auto comm = comm::makeLocalCommunicator();
  const double s = 8;
  const Margin margin{0.5, 0};
  Case k = makeCase(7, 11, 5);
  k.scores = torch::tanh(k.scores) * s;  // s·cos θ
  torch::Tensor logits = k.scores.t().contiguous();
  const MarginFn fn = [&](const torch::Tensor& t) { return marginTarget(t / s, margin) * s; };
  CrossEntropyResult ce = distributedCrossEntropy(logits, k.labels, fn, *comm, 1.0);
  chainThroughMargin(logits, ce);

  torch::Tensor x = k.scores.clone().requires_grad_(true);
  torch::Tensor margined = marginLogits(x / s, k.labels, s, margin);
  torch::Tensor per = torch::nn::functional::cross_entropy(
      margined, k.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  per.mean().backward();
  EXPECT_LE(maxError(ce.loss, per.detach()), 1e-12);
  EXPECT_LE(maxError(logits.t(), x.grad()), 1e-14);
  EXPECT_TRUE(torch::equal(ce.correct, k.scores.argmax(1).eq(k.labels)));
}

TEST(RowSampler, KeepsEveryPositiveAndIsAFunctionOfSeedCallAndRank) {
  const checkpoint::RowRange range{100, 200};
  const torch::Tensor labels = torch::tensor({5, 120, 120, 150, 199, 250}, torch::kLong);
  RowSampler a(range, 0.1, 7, 1), other_rank(range, 0.1, 7, 2);
  const torch::Tensor rows = a.sample(labels, 3, torch::kCPU);
  EXPECT_EQ(rows.numel(), 10);  // ⌈0.1 · 100⌉ > 3 positives
  EXPECT_TRUE(torch::equal(rows, std::get<0>(rows.sort())));
  std::set<int64_t> kept(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
  for (int64_t positive : {20, 50, 99}) EXPECT_TRUE(kept.count(positive)) << positive;
  EXPECT_TRUE(torch::equal(rows, a.sample(labels, 3, torch::kCPU)));
  EXPECT_FALSE(torch::equal(rows, a.sample(labels, 4, torch::kCPU)));
  EXPECT_FALSE(torch::equal(rows, other_rank.sample(labels, 3, torch::kCPU)));
  // More positives than the rate asks for: all of them.
  RowSampler small(range, 0.01, 7, 1);
  EXPECT_EQ(small.sample(labels, 0, torch::kCPU).numel(), 3);
  EXPECT_EQ(small.maxRows(64), 64);
}

// mix64(x + γ) is splitmix64: the first outputs of state 0 and 1 as published with the generator.
TEST(SeedMix, IsTheSplitMix64Finaliser) {
  EXPECT_EQ(data::mix64(0 + data::kGoldenGamma), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(data::mix64(2 * data::kGoldenGamma), 0x6E789E6AA1B965F4ULL);
}
