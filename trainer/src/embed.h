// Embedding a uint8 batch with a backbone in inference mode (optionally with the flip test).
#pragma once

#include <torch/torch.h>

#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/input.h"

namespace l2face::trainer {

// out: n × net.embedding_dim floats. The caller sets train/eval mode.
inline void embedPixels(BackboneImpl& net, const uint8_t* nhwc, int n, int side,
                        const torch::Device& device, bool flip_sum, float* out) {
  torch::NoGradGuard no_grad;
  torch::Tensor x = toInput(nhwc, n, side, side, device);
  torch::Tensor e = net.forward(x);
  if (flip_sum) e = e + net.forward(x.flip({3}));
  e = e.to(torch::kCPU, torch::kFloat).contiguous();
  std::memcpy(out, e.data_ptr<float>(), sizeof(float) * static_cast<size_t>(n) * net.embedding_dim);
}

}  // namespace l2face::trainer
