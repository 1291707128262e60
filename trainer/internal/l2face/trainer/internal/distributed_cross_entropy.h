// Softmax cross-entropy over classes split by rows across ranks: two fused all-reduces, the logit
// gradient written in place, and a head's target margin applied as a callable.
#pragma once

#include <torch/torch.h>

#include <functional>

#include "l2face/comm/communicator.h"

namespace l2face::trainer {

// The target logit from the target score (elementwise, any shape): a head's margin, e.g.
// s·(cos(θ + m)) from s·cos θ. Differentiated by autograd for the chain rule.
using MarginFn = std::function<torch::Tensor(const torch::Tensor& target_score)>;

struct CrossEntropyResult {
  torch::Tensor loss;          // n: per-sample loss of the global batch, the same on every rank
  torch::Tensor correct;       // n bool: the target's score is the top score over all classes
  // n: flat position in the logits of each sample's target row here (row 0 where another rank
  // owns it; undefined when this rank has no rows).
  torch::Tensor target_flat;
  torch::Tensor margin_slope;  // n: ∂logit/∂score where owned, 1 elsewhere (undefined: no margin)
};

// logits: k × n class-major scores of this rank's k rows (k may be 0) for the n samples of the
// global batch; target_row: n, the row of each sample's target here or −1 when another rank owns
// it (exactly one rank owns each). margin: empty for none. Collective: a MAX all-reduce of 2·n
// values and a SUM all-reduce of 3·n. On return `logits` holds grad_scale·∂L/∂logits (L the mean
// loss over the n samples, the margin's logits at the targets), computed in place. No size depends
// on the labels and no value is read by the host (masks, not index lists).
CrossEntropyResult distributedCrossEntropy(torch::Tensor& logits, const torch::Tensor& target_row,
                                           const MarginFn& margin, comm::Communicator& comm,
                                           double grad_scale);

// Turns the ∂L/∂logits that distributedCrossEntropy wrote into ∂L/∂scores (the margin's slope at
// the targets), in place.
void chainThroughMargin(torch::Tensor& logits_grad, const CrossEntropyResult& ce);

}  // namespace l2face::trainer
