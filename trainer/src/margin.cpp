// The combined-margin target logit: clamped cosine, cos(θ + m) and the θ + m > π fallback.
#include "l2face/trainer/internal/margin.h"

#include <cmath>

namespace l2face::trainer {

torch::Tensor marginTarget(const torch::Tensor& target_cosine, const Margin& margin) {
  const double angle_margin = margin.angle, cosine_margin = margin.cosine;
  torch::Tensor target = target_cosine;
  if (angle_margin != 0) {
    // ε: 1 − ε must differ from 1 in the working precision, else sin θ = 0 at a perfect match.
    const double eps = target.scalar_type() == torch::kDouble ? 1e-12 : 1e-6;
    const torch::Tensor c = target.clamp(-1 + eps, 1 - eps);
    const torch::Tensor s = (1 - c * c).sqrt();
    const torch::Tensor shifted = c * std::cos(angle_margin) - s * std::sin(angle_margin);
    // θ + m ≤ π  ⟺  cos θ ≥ cos(π − m) = −cos m.
    target = torch::where(c >= -std::cos(angle_margin), shifted,
                          c - angle_margin * std::sin(angle_margin));
  }
  if (cosine_margin != 0) target = target - cosine_margin;
  return target;
}

torch::Tensor marginLogits(const torch::Tensor& cosine, const torch::Tensor& labels, double scale,
                           const Margin& margin) {
  if (margin.none()) return cosine * scale;
  const torch::Tensor index = labels.to(torch::kLong).unsqueeze(1);
  const torch::Tensor target = marginTarget(cosine.gather(1, index), margin);
  return cosine.scatter(1, index, target) * scale;
}

}  // namespace l2face::trainer
