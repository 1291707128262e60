// The heads: L2-constrained softmax of Ranjan et al. (fixed, learned or auto α), plain softmax,
// and NormFace / CosFace / ArcFace with normalised class weights.
#include "l2face/trainer/internal/head.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "l2face/data/seed_mix.h"
#include "l2face/trainer/alpha.h"

namespace l2face::trainer {
namespace {

// At least fp32 for norms and logits: bf16/fp16 features are promoted, fp64 (tests) kept.
torch::Tensor atLeastFloat(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

// The generator of block `block` of stream `stream` (0: weights, 1: bias): two splitmix64 steps.
at::Generator blockGenerator(uint64_t seed, int64_t block, int stream) {
  const uint64_t key =
      data::mix64(seed + data::kGoldenGamma) ^ (static_cast<uint64_t>(block) * 2 + stream);
  return at::make_generator<at::CPUGeneratorImpl>(data::mix64(key + data::kGoldenGamma));
}

bool isNormalised(HeadType type) {
  return type == HeadType::kNormFace || type == HeadType::kCosFace || type == HeadType::kArcFace;
}

// The target margin of a normalised head, validated.
Margin marginOf(const HeadOptions& opt) {
  if (!(opt.margin >= 0)) throw std::invalid_argument("head.margin must be >= 0");
  switch (opt.type) {
    case HeadType::kArcFace:
      if (!(opt.margin < M_PI / 2)) {
        throw std::invalid_argument("head.margin of arcface is an angle in radians; must be < π/2");
      }
      return {opt.margin, 0};
    case HeadType::kCosFace:
      if (!(opt.margin < 2)) {
        throw std::invalid_argument("head.margin of cosface must be < 2 (cosines span [-1, 1])");
      }
      return {0, opt.margin};
    default:
      return {};
  }
}

}  // namespace

torch::Tensor unitRows(const torch::Tensor& t) {
  return t / t.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
}

ClassRows initialClassRows(const HeadSpec& spec, int64_t begin, int64_t end, int dim,
                           uint64_t seed) {
  if (begin < 0 || end < begin || dim < 1)
    throw std::invalid_argument("initialClassRows: bad range");
  const bool normalised = spec.normalised;
  const bool with_bias = spec.bias;
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
  if (opt.type != HeadType::kL2Softmax) return 0;
  if (opt.alpha_auto) return alphaLowerBound(num_classes, opt.p);
  if (!(opt.alpha > 0)) throw std::invalid_argument("head.alpha must be > 0");
  return opt.alpha;
}

HeadSpec resolveHeadSpec(const HeadOptions& opt, int64_t num_classes) {
  if (num_classes < 1) throw std::invalid_argument("a head needs at least one class");
  HeadSpec spec;
  spec.type = opt.type;
  spec.unit_features = opt.type != HeadType::kSoftmax;
  spec.normalised = isNormalised(opt.type);
  if (opt.alpha_learnable && opt.type != HeadType::kL2Softmax) {
    throw std::invalid_argument(
        std::string("head.alpha_learnable applies to head.type l2_softmax ") + "only, not " +
        enumName(opt.type) + " (the normalised heads scale by head.scale)");
  }
  if (spec.normalised) {
    if (!(opt.scale > 0)) throw std::invalid_argument("head.scale must be > 0");
    spec.margin = marginOf(opt);
    spec.alpha = opt.scale;
    return spec;
  }
  spec.bias = opt.bias;
  spec.alpha_learnable = opt.alpha_learnable;
  spec.alpha = resolveAlpha(opt, num_classes);
  return spec;
}

HeadImpl::HeadImpl(const HeadOptions& opt, int embedding_dim, int64_t num_classes, uint64_t seed,
                   bool with_classifier)
    : HeadImpl(resolveHeadSpec(opt, num_classes), embedding_dim, num_classes, seed,
               with_classifier) {}

HeadImpl::HeadImpl(const HeadSpec& spec, int embedding_dim, int64_t num_classes, uint64_t seed,
                   bool with_classifier)
    : spec_(spec), with_classifier_(with_classifier) {
  if (num_classes < 1) throw std::invalid_argument("a head needs at least one class");
  // Normalised heads: s as a buffer (saved, never trained); l2_softmax: α, trained or not.
  torch::Tensor alpha = torch::tensor(spec_.alpha, torch::kFloat);
  alpha_ =
      spec_.alpha_learnable ? register_parameter("alpha", alpha) : register_buffer("alpha", alpha);
  if (!with_classifier_) return;
  ClassRows rows = initialClassRows(spec_, 0, num_classes, embedding_dim, seed);
  weight = register_parameter("weight", rows.weight);
  if (spec_.bias) bias = register_parameter("bias", rows.bias);
}

torch::Tensor HeadImpl::constrain(const torch::Tensor& embeddings) {
  if (!spec_.unit_features) return atLeastFloat(embeddings);
  torch::Tensor f = unitRows(atLeastFloat(embeddings));
  if (spec_.normalised) return f;
  return f * alpha_.to(f.scalar_type());
}

HeadOutput HeadImpl::forward(const torch::Tensor& embeddings, const torch::Tensor& labels) {
  if (!with_classifier_) {
    throw std::logic_error("head: the class weights live in the sharded classifier");
  }
  if (!spec_.normalised) {
    // fp32 FC even when the backbone ran in bf16: logits of a few thousand classes need it.
    torch::Tensor z = constrain(embeddings);
    torch::Tensor logits = torch::nn::functional::linear(
        z, weight.to(z.scalar_type()), bias.defined() ? bias.to(z.scalar_type()) : torch::Tensor());
    return {logits, logits};
  }
  torch::Tensor f = constrain(embeddings);
  torch::Tensor cosine = torch::mm(f, unitRows(weight.to(f.scalar_type())).t());
  HeadOutput out;
  out.scores = cosine * spec_.alpha;
  out.logits = marginLogits(cosine, labels, spec_.alpha, spec_.margin);
  return out;
}

double HeadImpl::alpha() const { return alpha_.item<double>(); }

}  // namespace l2face::trainer
