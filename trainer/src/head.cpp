// The heads: L2-constrained softmax of Ranjan et al. (fixed, learned or auto α), plain softmax,
// and NormFace / CosFace / ArcFace with normalised class weights.
#include "head.h"

#include <cmath>
#include <stdexcept>

#include "l2face/trainer/alpha.h"
#include "margin.h"

namespace l2face::trainer {
namespace {

// At least fp32 for norms and logits: bf16/fp16 features are promoted, fp64 (tests) kept.
torch::Tensor atLeastFloat(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

torch::Tensor unit(const torch::Tensor& t) {  // eps keeps a zero vector finite
  return t / t.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
}

}  // namespace

double alphaLowerBound(int64_t num_classes, double p) {
  if (num_classes <= 2) {
    throw std::invalid_argument("alpha auto needs more than 2 classes, got " +
                                std::to_string(num_classes));
  }
  if (!(p > 0 && p < 1)) throw std::invalid_argument("head.p must be in (0, 1)");
  return std::log(p * static_cast<double>(num_classes - 2) / (1 - p));
}

double resolveAlpha(const HeadOptions& opt, int64_t num_classes) {
  if (opt.type != "l2_softmax") return 0;
  if (opt.alpha_auto) return alphaLowerBound(num_classes, opt.p);
  if (!(opt.alpha > 0)) throw std::invalid_argument("head.alpha must be > 0");
  return opt.alpha;
}

HeadImpl::HeadImpl(const HeadOptions& opt, int embedding_dim, int64_t num_classes)
    : type(opt.type) {
  if (type != "l2_softmax" && type != "softmax" && type != "normface" && type != "cosface" &&
      type != "arcface") {
    throw std::invalid_argument("unknown head.type '" + type +
                                "' (available: l2_softmax, softmax, normface, cosface, arcface)");
  }
  if (num_classes < 1) throw std::invalid_argument("a head needs at least one class");
  if (opt.alpha_learnable && type != "l2_softmax") {
    throw std::invalid_argument("head.alpha_learnable applies to head.type l2_softmax only, not " +
                                type + " (the normalised heads scale by head.scale)");
  }
  normalised_ = type == "normface" || type == "cosface" || type == "arcface";
  if (normalised_) {
    if (!(opt.scale > 0)) throw std::invalid_argument("head.scale must be > 0");
    if (!(opt.margin >= 0)) throw std::invalid_argument("head.margin must be >= 0");
    if (type == "arcface" && !(opt.margin < M_PI / 2)) {
      throw std::invalid_argument("head.margin of arcface is an angle in radians; must be < π/2");
    }
    if (type == "cosface" && !(opt.margin < 2)) {
      throw std::invalid_argument("head.margin of cosface must be < 2 (cosines span [-1, 1])");
    }
    scale_ = opt.scale;
    angle_margin_ = type == "arcface" ? opt.margin : 0;
    cosine_margin_ = type == "cosface" ? opt.margin : 0;
    // PartialFC's initialisation: N(0, 0.01); only the direction matters after normalisation.
    weight = register_parameter("weight", torch::randn({num_classes, embedding_dim}) * 0.01);
    alpha_ = register_buffer("alpha", torch::tensor(scale_, torch::kFloat));
    return;
  }
  alpha_learnable_ = opt.alpha_learnable;
  torch::Tensor alpha = torch::tensor(resolveAlpha(opt, num_classes), torch::kFloat);
  alpha_ = alpha_learnable_ ? register_parameter("alpha", alpha) : register_buffer("alpha", alpha);
  fc = register_module(
      "fc", torch::nn::Linear(torch::nn::LinearOptions(embedding_dim, num_classes).bias(opt.bias)));
}

torch::Tensor HeadImpl::constrain(const torch::Tensor& embeddings) {
  if (type == "softmax") return embeddings;
  torch::Tensor f = unit(atLeastFloat(embeddings));
  if (normalised_) return f;
  return f * alpha_.to(f.scalar_type());
}

HeadOutput HeadImpl::forward(const torch::Tensor& embeddings, const torch::Tensor& labels) {
  if (!normalised_) {
    // fp32 FC even when the backbone ran in bf16: logits of a few thousand classes need it.
    torch::Tensor z = type == "softmax" ? atLeastFloat(embeddings) : constrain(embeddings);
    torch::Tensor logits = fc->forward(z);
    return {logits, logits};
  }
  torch::Tensor f = constrain(embeddings);
  torch::Tensor cosine = torch::mm(f, unit(weight.to(f.scalar_type())).t());
  HeadOutput out;
  out.scores = cosine * scale_;
  out.logits = marginLogits(cosine, labels, scale_, angle_margin_, cosine_margin_);
  return out;
}

double HeadImpl::alpha() const { return alpha_.item<double>(); }

}  // namespace l2face::trainer
