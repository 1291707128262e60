// Layer helpers shared by the backbones: convolution options and output-size arithmetic.
#pragma once

#include <torch/torch.h>

namespace l2face::trainer {

inline torch::nn::Conv2d convLayer(int in, int out, int kernel, int stride, int padding, bool bias,
                                   int groups = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(padding)
                               .groups(groups)
                               .bias(bias));
}

inline torch::nn::BatchNorm2d batchNorm2d(int channels) {
  return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels).eps(1e-5));
}

inline torch::nn::PReLU prelu(int channels) {
  return torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(channels));
}

// Output side of a 3×3, stride-2, padding-1 convolution: ceil(n / 2).
inline int halfSide(int n) { return (n + 1) / 2; }

}  // namespace l2face::trainer
