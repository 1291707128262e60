// The heads: L2-constrained softmax of Ranjan et al. (fixed, learned or auto α), plain softmax,
// and NormFace / CosFace / ArcFace with normalised class weights.
#include "head.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
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

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The generator of block `block` of stream `stream` (0: weights, 1: bias).
at::Generator blockGenerator(uint64_t seed, int64_t block, int stream) {
  return at::make_generator<at::CPUGeneratorImpl>(
      splitmix64(splitmix64(seed) ^ (static_cast<uint64_t>(block) * 2 + stream)));
}

bool isNormalised(const std::string& type) {
  return type == "normface" || type == "cosface" || type == "arcface";
}

}  // namespace

ClassRows initialClassRows(const HeadOptions& opt, int64_t begin, int64_t end, int dim,
                           uint64_t seed) {
  if (begin < 0 || end < begin || dim < 1) throw std::invalid_argument("initialClassRows: bad range");
  const bool normalised = isNormalised(opt.type);
  const bool with_bias = !normalised && opt.bias;
  const double bound = 1.0 / std::sqrt(static_cast<double>(dim));
  ClassRows out;
  out.weight = torch::empty({end - begin, dim}, torch::kFloat);
  if (with_bias) out.bias = torch::empty({end - begin}, torch::kFloat);
  for (int64_t block = begin / kInitBlockRows; block * kInitBlockRows < end; ++block) {
    const int64_t b0 = block * kInitBlockRows;
    const int64_t lo = std::max(begin, b0), hi = std::min(end, b0 + kInitBlockRows);
    at::Generator gw = blockGenerator(seed, block, 0);
    torch::Tensor w = torch::empty({kInitBlockRows, dim}, torch::kFloat);
    if (normalised) {
      w.normal_(0.0, 0.01, gw);
    } else {
      w.uniform_(-bound, bound, gw);
    }
    out.weight.narrow(0, lo - begin, hi - lo).copy_(w.narrow(0, lo - b0, hi - lo));
    if (with_bias) {
      at::Generator gb = blockGenerator(seed, block, 1);
      torch::Tensor b = torch::empty({kInitBlockRows}, torch::kFloat).uniform_(-bound, bound, gb);
      out.bias.narrow(0, lo - begin, hi - lo).copy_(b.narrow(0, lo - b0, hi - lo));
    }
  }
  return out;
}

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

HeadImpl::HeadImpl(const HeadOptions& opt, int embedding_dim, int64_t num_classes, uint64_t seed,
                   bool with_classifier)
    : type(opt.type), with_classifier_(with_classifier) {
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
  normalised_ = isNormalised(type);
  ClassRows rows;
  if (with_classifier_) rows = initialClassRows(opt, 0, num_classes, embedding_dim, seed);
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
    if (with_classifier_) weight = register_parameter("weight", rows.weight);
    alpha_ = register_buffer("alpha", torch::tensor(scale_, torch::kFloat));
    return;
  }
  alpha_learnable_ = opt.alpha_learnable;
  torch::Tensor alpha = torch::tensor(resolveAlpha(opt, num_classes), torch::kFloat);
  alpha_ = alpha_learnable_ ? register_parameter("alpha", alpha) : register_buffer("alpha", alpha);
  if (with_classifier_) {
    weight = register_parameter("weight", rows.weight);
    if (opt.bias) bias = register_parameter("bias", rows.bias);
  }
}

torch::Tensor HeadImpl::constrain(const torch::Tensor& embeddings) {
  if (type == "softmax") return atLeastFloat(embeddings);
  torch::Tensor f = unit(atLeastFloat(embeddings));
  if (normalised_) return f;
  return f * alpha_.to(f.scalar_type());
}

HeadOutput HeadImpl::forward(const torch::Tensor& embeddings, const torch::Tensor& labels) {
  if (!with_classifier_) {
    throw std::logic_error("head: the class weights live in the sharded classifier");
  }
  if (!normalised_) {
    // fp32 FC even when the backbone ran in bf16: logits of a few thousand classes need it.
    torch::Tensor z = type == "softmax" ? atLeastFloat(embeddings) : constrain(embeddings);
    torch::Tensor logits = torch::nn::functional::linear(
        z, weight.to(z.scalar_type()),
        bias.defined() ? bias.to(z.scalar_type()) : torch::Tensor());
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
