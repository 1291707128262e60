// Margin logits of the normalised heads (NormFace, CosFace, ArcFace) in one formulation.
#pragma once

#include <torch/torch.h>

namespace l2face::trainer {

// The combined margin of a normalised head: the target logit is s·(cos(θ_y + angle) − cosine).
struct Margin {
  double angle = 0;   // m_angle, radians (arcface)
  double cosine = 0;  // m_cos (cosface)
  bool none() const { return angle == 0 && cosine == 0; }
};

// cosine: N × C cosines between unit features and unit class weights (fp32 or fp64);
// labels: N class indices. Returns s·cos θ_j for j ≠ y and s·(cos(θ_y + m_angle) − m_cos) for the
// target, the combined margin of insightface with m1 = 1:
//   normface  m_angle = 0,   m_cos = 0
//   cosface   m_angle = 0,   m_cos = m
//   arcface   m_angle = m,   m_cos = 0
// ArcFace is kept finite and monotonic: cos θ is clamped to [−1 + ε, 1 − ε] (sin θ > 0, so the
// derivative of sqrt(1 − cos²) stays finite), cos(θ + m) = cos θ cos m − sin θ sin m, and where
// θ + m would pass π the target falls back to cos θ − m·sin m (the usual linear extension).
torch::Tensor marginLogits(const torch::Tensor& cosine, const torch::Tensor& labels, double scale,
                           const Margin& margin);

// The target's cos(θ_y + m_angle) − m_cos alone (unscaled), for target cosines of any shape: the
// function marginLogits applies, shared with the sharded classifier (which differentiates it).
torch::Tensor marginTarget(const torch::Tensor& target_cosine, const Margin& margin);

}  // namespace l2face::trainer
