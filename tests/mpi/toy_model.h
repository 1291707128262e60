// A two-layer tanh network with hand-written gradients: the oracle for GradSync's equivalence test.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace l2face::comm::testing {

// y = W2·tanh(W1·x + b1) + b2, loss = mean over the batch of ½‖y − t‖². Parameters in forward order
// W1 (H×D), b1 (H), W2 (O×H), b2 (O). Samples are a function of their global index only, so that
// any split of a global batch over ranks sees the same data.
struct ToyModel {
  static constexpr int kD = 7, kH = 13, kO = 5;
  std::vector<std::vector<float>> params;

  ToyModel() {
    params = {std::vector<float>(kH * kD), std::vector<float>(kH), std::vector<float>(kO * kH),
              std::vector<float>(kO)};
    uint32_t s = 12345;
    for (auto& p : params) {
      for (float& v : p) v = uniform(s) * 0.5f;
    }
  }

  static std::vector<size_t> sizes() { return {kH * kD, kH, kO * kH, kO}; }

  static float uniform(uint32_t& s) {
    s = s * 1664525u + 1013904223u;
    return static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f;
  }

  static void sample(int64_t index, float* x, float* t) {
    uint32_t s = static_cast<uint32_t>(index) * 2654435761u + 17u;
    for (int i = 0; i < kD; ++i) x[i] = uniform(s);
    for (int o = 0; o < kO; ++o) t[o] = std::sin(x[o % kD] * 2.f) + 0.5f * x[(o + 3) % kD];
  }

  // Gradients of the mean loss over samples [first, first + count), accumulated into grads.
  void accumulateGradients(int64_t first, int64_t count, std::vector<std::vector<float>>& grads,
                           float weight) const {
    const auto &W1 = params[0], &b1 = params[1], &W2 = params[2], &b2 = params[3];
    float x[kD], t[kO], h[kH], y[kO], dy[kO], dz[kH];
    const float scale = weight / static_cast<float>(count);
    for (int64_t k = first; k < first + count; ++k) {
      sample(k, x, t);
      for (int j = 0; j < kH; ++j) {
        float z = b1[j];
        for (int i = 0; i < kD; ++i) z += W1[j * kD + i] * x[i];
        h[j] = std::tanh(z);
      }
      for (int o = 0; o < kO; ++o) {
        float v = b2[o];
        for (int j = 0; j < kH; ++j) v += W2[o * kH + j] * h[j];
        y[o] = v;
        dy[o] = (y[o] - t[o]) * scale;
      }
      for (int j = 0; j < kH; ++j) {
        float g = 0;
        for (int o = 0; o < kO; ++o) g += W2[o * kH + j] * dy[o];
        dz[j] = g * (1.f - h[j] * h[j]);
      }
      for (int o = 0; o < kO; ++o) {
        for (int j = 0; j < kH; ++j) grads[2][o * kH + j] += dy[o] * h[j];
        grads[3][o] += dy[o];
      }
      for (int j = 0; j < kH; ++j) {
        for (int i = 0; i < kD; ++i) grads[0][j * kD + i] += dz[j] * x[i];
        grads[1][j] += dz[j];
      }
    }
  }

  std::vector<std::vector<float>> zeroGradients() const {
    std::vector<std::vector<float>> g;
    for (const auto& p : params) g.emplace_back(p.size(), 0.f);
    return g;
  }

  void sgdStep(const std::vector<std::vector<float>>& grads, float lr) {
    for (size_t p = 0; p < params.size(); ++p) {
      for (size_t i = 0; i < params[p].size(); ++i) params[p][i] -= lr * grads[p][i];
    }
  }
};

}  // namespace l2face::comm::testing
