// Multi-tensor SGD (momentum, weight decay, Nesterov) and the learning-rate schedule.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

// Learning rate at a 0-based step: linear warm-up, then constant | cosine | step decay.
double learningRate(const OptimOptions& opt, int64_t step);

// SGD with PyTorch's semantics (dampening 0; momentum buffer = grad on the first step), updating
// all parameters with a handful of _foreach kernels instead of a per-parameter loop.
// Not thread-safe; one owner.
class ForeachSgd {
 public:
  ForeachSgd(std::vector<torch::Tensor> params, double momentum, double weight_decay,
             bool nesterov);
  void step(double lr);
  void zeroGrad();
  // Momentum buffers, one per parameter (empty until the first step).
  std::vector<torch::Tensor>& momentumBuffers() { return buffers_; }
  const std::vector<torch::Tensor>& params() const { return params_; }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> buffers_;
  double momentum_, weight_decay_;
  bool nesterov_;
};

}  // namespace l2face::trainer
