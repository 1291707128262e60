// Classification heads: the L2-constrained softmax (α·f/‖f‖ into a plain FC) and plain softmax.
#pragma once

#include <torch/torch.h>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

// The α to use for a head: fixed, or the paper's lower bound when head.alpha is auto.
double resolveAlpha(const HeadOptions& opt, int64_t num_classes);

struct HeadImpl : torch::nn::Module {
  HeadImpl(const HeadOptions& opt, int embedding_dim, int64_t num_classes);
  // The constrained features: α·f/‖f‖ for l2_softmax, f for softmax.
  torch::Tensor constrain(const torch::Tensor& embeddings);
  // Logits (N × C) of the classifier on the constrained features.
  torch::Tensor forward(const torch::Tensor& embeddings);
  double alpha() const;  // 0 for the unconstrained softmax

  std::string type;
  torch::Tensor alpha_;  // 0-d buffer, saved with the head
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Head);

}  // namespace l2face::trainer
