// The L2-constrained softmax head of Ranjan et al.: normalise, scale by α, fully connected layer.
#include "head.h"

#include <cmath>
#include <stdexcept>

#include "l2face/trainer/alpha.h"

namespace l2face::trainer {

double alphaLowerBound(int64_t num_classes, double p) {
  if (num_classes <= 2) {
    throw std::invalid_argument("alpha auto needs more than 2 classes, got " +
                                std::to_string(num_classes));
  }
  if (!(p > 0 && p < 1)) throw std::invalid_argument("head.p must be in (0, 1)");
  return std::log(p * static_cast<double>(num_classes - 2) / (1 - p));
}

double resolveAlpha(const HeadOptions& opt, int64_t num_classes) {
  if (opt.type == "softmax") return 0;
  if (opt.alpha_auto) return alphaLowerBound(num_classes, opt.p);
  if (!(opt.alpha > 0)) throw std::invalid_argument("head.alpha must be > 0");
  return opt.alpha;
}

HeadImpl::HeadImpl(const HeadOptions& opt, int embedding_dim, int64_t num_classes)
    : type(opt.type) {
  if (type != "l2_softmax" && type != "softmax") {
    throw std::invalid_argument("unknown head.type '" + type + "' (available: l2_softmax, softmax)");
  }
  alpha_ = register_buffer("alpha", torch::tensor(resolveAlpha(opt, num_classes), torch::kFloat));
  fc = register_module("fc", torch::nn::Linear(
                                 torch::nn::LinearOptions(embedding_dim, num_classes).bias(opt.bias)));
}

torch::Tensor HeadImpl::constrain(const torch::Tensor& embeddings) {
  if (type == "softmax") return embeddings;
  // At least fp32 for the norm (bf16/fp16 features are promoted); eps keeps a zero feature finite.
  torch::Tensor f = embeddings.scalar_type() == torch::kDouble ? embeddings
                                                               : embeddings.to(torch::kFloat);
  torch::Tensor norm = f.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
  return f * (alpha_.to(f.scalar_type()) / norm);
}

torch::Tensor HeadImpl::forward(const torch::Tensor& embeddings) {
  return fc->forward(constrain(embeddings));
}

double HeadImpl::alpha() const { return alpha_.item<double>(); }

}  // namespace l2face::trainer
