// Distributed softmax cross-entropy: shard maxima, in-place exp, one fused sum, in-place gradient.
#include "l2face/trainer/internal/distributed_cross_entropy.h"

#include <limits>

#include "l2face/trainer/internal/tensor_comm.h"

namespace l2face::trainer {
namespace {

// Per sample of the global batch (n), whether or not this rank owns its target: masks instead of
// index lists, so that no size depends on the labels and nothing is read by the host.
struct Targets {
  torch::Tensor owned;  // n bool: this rank holds the sample's target row
  torch::Tensor flat;   // n: flat position of the target in the logits (row 0 where not owned)
  torch::Tensor score;  // n: the score there
  torch::Tensor logit;  // n: the logit there (the margin applied where owned)
  torch::Tensor slope;  // n: ∂logit/∂score where owned, 1 elsewhere (margin only)
};

Targets findTargets(const torch::Tensor& logits, const torch::Tensor& target_row) {
  const int64_t n = logits.size(1);
  Targets t;
  t.owned = target_row.ge(0);
  // Distinct positions (one per column), so that writing them back never collides.
  t.flat = target_row.clamp_min(0) * n + torch::arange(n, target_row.options());
  t.score = logits.view({-1}).index_select(0, t.flat);
  return t;
}

// The margin at the owned targets: the logit and its slope by autograd, written into the logits
// (the other positions get their own value back).
void applyMargin(torch::Tensor& logits, Targets& t, const MarginFn& margin) {
  t.logit = t.score;
  if (!margin) return;
  torch::AutoGradMode grad_on(true);
  torch::Tensor c = t.score.detach().requires_grad_(true);
  torch::Tensor out = margin(c);
  const torch::Tensor slope =
      c.numel() > 0 ? torch::autograd::grad({out}, {c}, {torch::ones_like(out)})[0].detach()
                    : torch::empty_like(c);
  t.slope = torch::where(t.owned, slope, torch::ones_like(slope));
  t.logit = torch::where(t.owned, out.detach(), t.score);
  logits.view({-1}).index_copy_(0, t.flat, t.logit);
}

// [max logit; max score] over every rank's rows (−inf on a rank without rows).
torch::Tensor globalMaxima(torch::Tensor& logits, Targets& t, const MarginFn& margin,
                           comm::Communicator& comm) {
  const int64_t k = logits.size(0), n = logits.size(1);
  torch::Tensor maxima = torch::empty({2, n}, logits.options());
  if (k > 0) {
    maxima[1] = std::get<0>(logits.max(0));
    applyMargin(logits, t, margin);
    maxima[0] = margin ? std::get<0>(logits.max(0)) : maxima[1];
  } else {
    maxima.fill_(-std::numeric_limits<double>::infinity());
  }
  allReduceTensor(comm, maxima, comm::ReduceOp::kMax);
  return maxima;
}

// exp(logit − max) in place, then [Σ exp; target logit; target score] summed over the ranks.
torch::Tensor globalSums(torch::Tensor& logits, const Targets& t, const torch::Tensor& max_logit,
                         comm::Communicator& comm) {
  torch::Tensor sums = torch::zeros({3, logits.size(1)}, logits.options());
  if (logits.size(0) > 0) {
    logits.sub_(max_logit.unsqueeze(0)).exp_();
    sums[0] = logits.sum(0);
    sums[1].copy_(torch::where(t.owned, t.logit, torch::zeros_like(t.logit)));
    sums[2].copy_(torch::where(t.owned, t.score, torch::zeros_like(t.score)));
  }
  allReduceTensor(comm, sums, comm::ReduceOp::kSum);
  return sums;
}

}  // namespace

CrossEntropyResult distributedCrossEntropy(torch::Tensor& logits, const torch::Tensor& target_row,
                                           const MarginFn& margin, comm::Communicator& comm,
                                           double grad_scale) {
  torch::NoGradGuard no_grad;
  const int64_t k = logits.size(0), n = logits.size(1);
  Targets t = k > 0 ? findTargets(logits, target_row) : Targets{};
  const torch::Tensor maxima = globalMaxima(logits, t, margin, comm);
  const torch::Tensor sums = globalSums(logits, t, maxima[0], comm);
  CrossEntropyResult out;
  out.loss = sums[0].log() + maxima[0] - sums[1];
  // The target's score is the global maximum: a distributed arg-max over the class shards.
  out.correct = sums[2].ge(maxima[1]);
  out.target_flat = t.flat;
  out.margin_slope = t.slope;
  if (k > 0) {  // (softmax − onehot)·grad_scale/n, in place
    logits.div_(sums[0].unsqueeze(0));
    logits.view({-1}).index_add_(0, t.flat, t.owned.to(logits.scalar_type()).neg());  // −0: no-op
    logits.mul_(grad_scale / static_cast<double>(n));
  }
  return out;
}

void chainThroughMargin(torch::Tensor& logits_grad, const CrossEntropyResult& ce) {
  if (!ce.margin_slope.defined() || logits_grad.numel() == 0) return;
  torch::NoGradGuard no_grad;
  torch::Tensor flat = logits_grad.view({-1});
  flat.index_copy_(0, ce.target_flat, flat.index_select(0, ce.target_flat) * ce.margin_slope);
}

}  // namespace l2face::trainer
