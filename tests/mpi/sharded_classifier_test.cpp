// The model-parallel classifier against a single-process full-softmax reference (the replicated
// head, in float64): loss, ∂L/∂logits, class-weight and bias gradients, feature gradients and
// accuracy for every head type, over 1-4 ranks with C not divisible by P; negative-class
// sampling (positives kept, deterministic, restricted-softmax exact); optimizer steps; and the
// distributed cross-entropy alone against the replicated softmax cross-entropy.
#include "l2face/trainer/internal/sharded_classifier.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "l2face/trainer/internal/distributed_cross_entropy.h"
#include "l2face/trainer/internal/head.h"
#include "l2face/trainer/internal/margin.h"
#include "l2face/trainer/internal/optimizer.h"
#include "l2face/trainer/internal/tensor_comm.h"
#include "mpi_test_util.h"

using namespace l2face;
using namespace l2face::trainer;

namespace {

constexpr int64_t kClasses = 103;  // prime: never divisible by 2, 3 or 4 ranks
constexpr int kDim = 16;
constexpr int64_t kPerRank = 5;

// One communicator per test (a collective): it must be gone before main ends MPI.
std::unique_ptr<comm::Communicator> world() { return comm::testing::mpiCommunicator(); }

HeadOptions headOf(const std::string& type) {
  HeadOptions h;
  h.type = *enumFromName<HeadType>(type);
  h.alpha = 6.0;
  h.scale = 16.0;
  h.margin = h.type == HeadType::kCosFace ? 0.35 : 0.5;
  return h;
}

// The whole global batch, the same on every rank: raw embeddings and labels. Labels repeat and
// hit both ends of the class range; one feature is the target's own weight direction (margins
// near cos θ = 1).
struct Batch {
  torch::Tensor embeddings;  // P·B × d, float64
  torch::Tensor labels;      // P·B
};
Batch globalBatch(int world_size, uint64_t seed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t n = world_size * kPerRank;
  Batch b;
  b.embeddings = torch::randn({n, kDim}, g, torch::kDouble) * 3;
  b.labels = torch::randint(0, kClasses, {n}, g, torch::kLong);
  b.labels[0] = 0;
  b.labels[n - 1] = kClasses - 1;
  if (n > 2) b.labels[1] = b.labels[2];
  return b;
}

torch::Tensor mySlice(const torch::Tensor& t, int rank) {
  return t.narrow(0, rank * kPerRank, kPerRank);
}

// The replicated head over the whole batch: loss, gradients, logits gradient.
struct Reference {
  double loss = 0;
  torch::Tensor per_sample_loss, logits_grad, weight_grad, bias_grad, feature_grad, predictions;
};
Reference reference(Head& head, const torch::Tensor& features, const torch::Tensor& labels) {
  Reference r;
  torch::Tensor f = features.detach().clone().requires_grad_(true);
  HeadOutput out = head->forward(f, labels);  // the head constrains the raw embeddings itself
  out.logits.retain_grad();
  torch::Tensor per = torch::nn::functional::cross_entropy(
      out.logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  torch::Tensor loss = per.mean();
  loss.backward();
  r.loss = loss.item<double>();
  r.per_sample_loss = per.detach();
  r.logits_grad = out.logits.grad();
  r.weight_grad = head->weight.grad();
  if (head->bias.defined()) r.bias_grad = head->bias.grad();
  r.feature_grad = f.grad();
  r.predictions = out.scores.argmax(1);
  return r;
}

void expectClose(const torch::Tensor& got, const torch::Tensor& want, double tol,
                 const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const double err = (got.to(torch::kDouble) - want.to(torch::kDouble)).abs().max().item<double>();
  const double mag = want.abs().max().item<double>();
  EXPECT_LE(err, tol * std::max(1.0, mag)) << what << ": max |error| " << err;
}

class ShardedHeads : public ::testing::TestWithParam<std::string> {};

// Features are constrained by the rank's own head (α·f/‖f‖ etc.); the reference head sees the
// raw embeddings and constrains them itself, so its feature gradient is the embedding gradient
// and ours is pulled back through the same constraint with autograd.
void checkAgainstReference(const std::string& type, torch::Dtype dtype, double tol,
                           double sample_rate) {
  auto world_comm = world();
  comm::Communicator& c = *world_comm;
  const int p = c.size(), rank = c.rank();
  HeadOptions h = headOf(type);
  OptimOptions o;
  ClassifierOptions cls;
  cls.parallel = ClassifierPlacement::kSharded;
  cls.sample_rate = sample_rate;
  const uint64_t seed = 11;
  Batch b = globalBatch(p, 5);

  Head ref(h, kDim, kClasses, seed);
  ref->to(torch::kDouble);
  Reference want = reference(ref, b.embeddings, b.labels);

  ShardedClassifier sc(h, o, cls, kClasses, kDim, seed, c, torch::kCPU, dtype);
  sc.keepLogitsGrad(true);
  Head mine(h, kDim, kClasses, seed, /*with_classifier=*/false);
  mine->to(dtype);
  torch::Tensor e = mySlice(b.embeddings, rank).to(dtype).requires_grad_(true);
  torch::Tensor features = mine->constrain(e);
  ShardedClassifier::Output out =
      sc.forwardBackward(features.detach(), mySlice(b.labels, rank), 1.0, /*call_index=*/0);
  features.backward(out.feature_grad);

  const ClassRange r = sc.range();
  EXPECT_EQ(r.size(), classRange(kClasses, p, rank).size());
  EXPECT_NEAR(out.global_loss.item<double>(), want.loss, tol * std::max(1.0, want.loss));
  EXPECT_NEAR(out.loss.item<double>(), mySlice(want.per_sample_loss, rank).mean().item<double>(),
              tol * std::max(1.0, want.loss));
  // ∂L/∂logits of the owned rows (class-major) and the shard's gradients.
  expectClose(sc.lastLogitsGrad(), want.logits_grad.narrow(1, r.begin, r.size()).t(), tol,
              type + " logits gradient");
  expectClose(sc.weightGrad(), want.weight_grad.narrow(0, r.begin, r.size()), tol,
              type + " weight gradient");
  if (want.bias_grad.defined()) {
    expectClose(sc.biasGrad(), want.bias_grad.narrow(0, r.begin, r.size()), tol,
                type + " bias gradient");
  }
  // P·∂L/∂e of this rank's samples (the gradient of its own mean loss).
  expectClose(e.grad(), mySlice(want.feature_grad, rank) * p, tol, type + " embedding gradient");
  const int64_t correct =
      mySlice(want.predictions, rank).eq(mySlice(b.labels, rank)).sum().item<int64_t>();
  EXPECT_EQ(out.correct.item<int64_t>(), correct) << type;
  // The weights of each rank are exactly the replicated head's rows.
  EXPECT_TRUE(torch::equal(sc.weight().to(torch::kFloat),
                           ref->weight.narrow(0, r.begin, r.size()).to(torch::kFloat)));
}

TEST_P(ShardedHeads, EqualsFullSoftmaxReferenceFloat64) {
  checkAgainstReference(GetParam(), torch::kDouble, 1e-10, 1.0);
}

TEST_P(ShardedHeads, EqualsFullSoftmaxReferenceFloat32) {
  checkAgainstReference(GetParam(), torch::kFloat, 2e-5, 1.0);
}

// A sample rate that keeps every row takes the sampling code path (index_select, scattered
// gradients) and must give the exact result.
TEST_P(ShardedHeads, SamplingEveryRowEqualsExact) {
  checkAgainstReference(GetParam(), torch::kDouble, 1e-10, 0.99999);
}

INSTANTIATE_TEST_SUITE_P(AllHeads, ShardedHeads,
                         ::testing::Values("l2_softmax", "softmax", "normface", "cosface",
                                           "arcface"));

TEST(ShardedClassifier, ClassRangesAreBalancedContiguousAndCoverAll) {
  for (int64_t classes : {1, 2, 7, 103, 1000}) {
    for (int p = 1; p <= 5; ++p) {
      int64_t next = 0;
      for (int r = 0; r < p; ++r) {
        ClassRange cr = classRange(classes, p, r);
        EXPECT_EQ(cr.begin, next);
        EXPECT_LE(std::abs(cr.size() - classes / p), 1);
        next = cr.end;
      }
      EXPECT_EQ(next, classes);
    }
  }
}

// Sampling: every positive class of the global batch is kept by its owner, the choice is a
// function of (seed, call index, rank), and the loss equals a softmax restricted to the union of
// kept classes, computed by the replicated head on those rows only.
TEST(ShardedClassifier, SamplingKeepsPositivesIsDeterministicAndExactOnTheKeptClasses) {
  auto world_comm = world();
  comm::Communicator& c = *world_comm;
  const int p = c.size(), rank = c.rank();
  const int64_t classes = 1000;
  HeadOptions h = headOf("arcface");
  OptimOptions o;
  ClassifierOptions cls;
  cls.parallel = ClassifierPlacement::kSharded;
  cls.sample_rate = 0.1;
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(3);
  torch::Tensor e = torch::randn({p * kPerRank, kDim}, g, torch::kDouble);
  torch::Tensor y = torch::randint(0, classes, {p * kPerRank}, g, torch::kLong);
  auto run = [&](int64_t call) {
    ShardedClassifier sc(h, o, cls, classes, kDim, 7, c, torch::kCPU, torch::kDouble);
    Head mine(h, kDim, classes, 7, false);
    torch::Tensor f = mine->constrain(mySlice(e, rank));
    auto out = sc.forwardBackward(f, mySlice(y, rank), 1.0, call);
    return std::make_pair(sc.lastRows().clone(), out.global_loss.item<double>());
  };
  auto [rows, loss] = run(4);
  auto [rows_again, loss_again] = run(4);
  auto [rows_other, loss_other] = run(5);
  EXPECT_TRUE(torch::equal(rows, rows_again));
  EXPECT_EQ(loss, loss_again);
  EXPECT_FALSE(torch::equal(rows, rows_other));
  const ClassRange r = classRange(classes, p, rank);
  const int64_t wanted = static_cast<int64_t>(std::ceil(0.1 * r.size()));
  EXPECT_GE(rows.numel(), wanted);
  std::set<int64_t> kept(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
  for (int64_t i = 0; i < y.numel(); ++i) {
    const int64_t label = y[i].item<int64_t>();
    if (label >= r.begin && label < r.end) EXPECT_TRUE(kept.count(label)) << "positive " << label;
  }
  EXPECT_TRUE(std::is_sorted(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel()));
  // The restricted softmax: all ranks' kept rows, padded to the largest shard with −1.
  torch::Tensor padded = torch::full({classRange(classes, p, 0).size()}, -1, torch::kLong);
  padded.narrow(0, 0, rows.numel()).copy_(rows);
  torch::Tensor all = allGatherTensor(c, padded);
  torch::Tensor union_rows = all.masked_select(all.ge(0));
  Head full(h, kDim, classes, 7);
  full->to(torch::kDouble);
  torch::Tensor remap = torch::full({classes}, -1, torch::kLong);
  remap.index_put_({union_rows}, torch::arange(union_rows.numel()));
  HeadOptions sub_h = h;
  Head sub(sub_h, kDim, union_rows.numel(), 7);
  sub->to(torch::kDouble);
  {
    torch::NoGradGuard ng;
    sub->weight.copy_(full->weight.index_select(0, union_rows));
  }
  torch::Tensor sub_labels = remap.index_select(0, y);
  torch::Tensor want =
      torch::nn::functional::cross_entropy(sub->forward(e, sub_labels).logits, sub_labels);
  EXPECT_NEAR(loss, want.item<double>(), 1e-10);
}

// Optimizer steps: SGD with momentum, weight decay and Nesterov, and AdamW, over three steps with
// gradient clipping off: the shard's rows equal the replicated head's rows after the same steps.
TEST(ShardedClassifier, OptimizerStepsMatchTheReplicatedHead) {
  auto world_comm = world();
  comm::Communicator& c = *world_comm;
  const int p = c.size(), rank = c.rank();
  for (const OptimType optim : {OptimType::kSgd, OptimType::kAdamW}) {
    HeadOptions h = headOf("l2_softmax");
    OptimOptions o;
    o.type = optim;
    o.momentum = 0.9;
    o.nesterov = optim == OptimType::kSgd;
    o.weight_decay = 5e-3;
    o.no_decay_bn_bias = true;
    ClassifierOptions cls;
    ShardedClassifier sc(h, o, cls, kClasses, kDim, 2, c, torch::kCPU, torch::kDouble);
    Head ref(h, kDim, kClasses, 2);
    ref->to(torch::kDouble);
    auto opt = makeOptimizer(o, parameterGroups({ref.get()}, o));
    for (int step = 0; step < 3; ++step) {
      Batch b = globalBatch(p, 100 + step);
      torch::Tensor f = ref->constrain(b.embeddings).detach();
      opt->zeroGrad();
      torch::nn::functional::cross_entropy(ref->forward(f, b.labels).logits, b.labels).backward();
      opt->step(0.5);
      sc.zeroGrad();
      sc.forwardBackward(mySlice(f, rank), mySlice(b.labels, rank), 1.0, step);
      sc.step(0.5, torch::Tensor());
    }
    const ClassRange r = sc.range();
    expectClose(sc.weight(), ref->weight.narrow(0, r.begin, r.size()), 1e-10,
                std::string(enumName(optim)) + " weights");
    expectClose(sc.bias(), ref->bias.narrow(0, r.begin, r.size()), 1e-10,
                std::string(enumName(optim)) + " bias");
  }
}

// A skipped step (found_inf = 1) leaves weights and optimizer state untouched; sampled rows only
// move rows that were kept.
TEST(ShardedClassifier, SkipFlagAndUntouchedRows) {
  auto world_comm = world();
  comm::Communicator& c = *world_comm;
  const int p = c.size(), rank = c.rank();
  HeadOptions h = headOf("cosface");
  OptimOptions o;
  ClassifierOptions cls;
  cls.parallel = ClassifierPlacement::kSharded;
  cls.sample_rate = 0.2;
  const int64_t classes = 500;
  ShardedClassifier sc(h, o, cls, classes, kDim, 9, c, torch::kCPU);
  torch::Tensor before = sc.weight().clone();
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(8);
  torch::Tensor e = torch::nn::functional::normalize(
      torch::randn({p * kPerRank, kDim}, g), torch::nn::functional::NormalizeFuncOptions().dim(1));
  torch::Tensor y = torch::randint(0, classes, {p * kPerRank}, g, torch::kLong);
  sc.forwardBackward(mySlice(e, rank), mySlice(y, rank), 1.0, 0);
  sc.step(0.1, torch::ones({}));
  EXPECT_TRUE(torch::equal(sc.weight(), before));
  for (const auto& s : sc.optimizerState()) EXPECT_EQ(s.abs().max().item<double>(), 0.0);
  sc.step(0.1, torch::zeros({}));
  torch::Tensor moved = (sc.weight() - before).abs().amax(1).gt(0);
  torch::Tensor kept = torch::zeros({sc.range().size()}, torch::kBool);
  if (sc.lastRows().numel() > 0) kept.index_fill_(0, sc.lastRows() - sc.range().begin, true);
  EXPECT_TRUE(torch::equal(moved, kept)) << "only the sampled rows move";
}

// distributedCrossEntropy alone: rank r holds its classRange rows of one global score matrix.
// Loss, accuracy and ∂L/∂scores equal the replicated softmax cross-entropy in float64, with and
// without a margin callable; with 2 classes, ranks beyond the second hold no rows.
TEST(DistributedCrossEntropy, MatchesTheReplicatedSoftmaxCrossEntropy) {
  auto world_comm = world();
  comm::Communicator& c = *world_comm;
  const int p = c.size(), rank = c.rank();
  const double s = 8;
  const Margin margin{0, 0.35};
  for (const int64_t classes : {kClasses, int64_t{2}}) {
    for (const bool with_margin : {false, true}) {
      SCOPED_TRACE(std::to_string(classes) + (with_margin ? " classes, margin" : " classes"));
      at::Generator g = at::make_generator<at::CPUGeneratorImpl>(17);
      const int64_t n = p * kPerRank;
      const torch::Tensor scores = torch::tanh(torch::randn({n, classes}, g, torch::kDouble)) * s;
      const torch::Tensor labels = torch::randint(0, classes, {n}, g, torch::kLong);
      MarginFn fn;
      if (with_margin) fn = [&](const torch::Tensor& t) { return marginTarget(t / s, margin) * s; };
      const ClassRange r = classRange(classes, p, rank);
      torch::Tensor logits = scores.t().narrow(0, r.begin, r.size()).contiguous();
      const torch::Tensor mine = labels.ge(r.begin).logical_and(labels.lt(r.end));
      const torch::Tensor target_row = torch::where(mine, labels - r.begin, -1);
      const CrossEntropyResult ce = distributedCrossEntropy(logits, target_row, fn, c, 1.0);
      chainThroughMargin(logits, ce);

      torch::Tensor x = scores.clone().requires_grad_(true);
      torch::Tensor z = with_margin ? marginLogits(x / s, labels, s, margin) : x;
      torch::Tensor per = torch::nn::functional::cross_entropy(
          z, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      per.mean().backward();
      EXPECT_LE((ce.loss - per.detach()).abs().max().item<double>(), 1e-10);
      const torch::Tensor want = x.grad().t().narrow(0, r.begin, r.size());
      ASSERT_EQ(logits.sizes(), want.sizes());
      if (want.numel() > 0) EXPECT_LE((logits - want).abs().max().item<double>(), 1e-10);
      EXPECT_TRUE(torch::equal(ce.correct, scores.argmax(1).eq(labels)));
    }
  }
}

}  // namespace
