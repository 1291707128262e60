// Multi-tensor SGD and AdamW with a device-side skip flag, parameter groups, gradient checks.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

// Parameters that share a weight decay.
struct ParamGroup {
  std::vector<torch::Tensor> params;
  double weight_decay = 0;
};

// The trainable (requires_grad) parameters of `modules`, in module order, as up to two groups:
// decayed with opt.weight_decay, and exempt: BatchNorm parameters and every parameter named
// "bias" when opt.no_decay_bn_bias, and the tensors in `never_decay` (a learned α: decay would
// pull the radius towards 0). Empty groups are left out.
std::vector<ParamGroup> parameterGroups(const std::vector<torch::nn::Module*>& modules,
                                        const OptimOptions& opt,
                                        const std::vector<torch::Tensor>& never_decay = {});

// Global L2 norm of the gradients and the step's skip flag, both 0-d fp32 on the device; nothing
// is read by the host. found_inf is 1 when the norm or `loss` (optional) is NaN/Inf.
struct GradientCheck {
  torch::Tensor norm;
  torch::Tensor found_inf;
};
// With clip_norm > 0 the gradients are also scaled in place by min(1, clip_norm/(norm + 1e-6)).
// grads: _foreach_norm / _foreach_mul_ over all of them, one multi-tensor launch each.
// extra_squared_norm (optional, 0-d): Σ g² of gradients kept elsewhere — a sharded classifier's,
// already summed over ranks — joins the norm; scale_extra receives the clipping factor for them.
GradientCheck checkGradients(const std::vector<torch::Tensor>& grads, double clip_norm,
                             const torch::Tensor& loss = {},
                             const torch::Tensor& extra_squared_norm = {},
                             const std::function<void(const torch::Tensor&)>& scale_extra = {});

// The optimizer state of one list of parameters, index-aligned with it.
struct FusedState {
  std::vector<torch::Tensor> m1;     // sgd: momentum (empty when momentum is 0); adamw: exp_avg
  std::vector<torch::Tensor> m2;     // adamw: exp_avg_sq
  std::vector<torch::Tensor> steps;  // adamw: step counts, 0-d fp32
};
// Zero state for `params` under opt.type.
FusedState zeroFusedState(const OptimOptions& opt, const std::vector<torch::Tensor>& params);
// One update of `params` by the fused kernel of opt.type (the one SGD / AdamW dispatch of the
// module), with the given weight decay; skipped on the device when found_inf is 1.
void fusedStep(const OptimOptions& opt, const std::vector<torch::Tensor>& params,
               const std::vector<torch::Tensor>& grads, FusedState& state, double weight_decay,
               double lr, const torch::Tensor& found_inf);

// SGD (PyTorch semantics: dampening 0, L2 weight decay added to the gradient, optional Nesterov)
// or AdamW (decoupled weight decay, bias-corrected moments), each group updated by one
// multi-tensor kernel (at::_fused_sgd_ / at::_fused_adamw_, the horizontally fused form of the
// _foreach path). Those kernels take found_inf on the device and leave parameters and state
// untouched when it is set; a _foreach chain cannot (NaN·0 is NaN), and a per-tensor where() would
// be one launch per parameter. Not thread-safe; one owner.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Updates every parameter from its .grad with learning rate lr, unless found_inf (a 0-d float
  // tensor on the parameters' device; undefined = never skip) is 1. Throws std::logic_error when a
  // parameter has no gradient (unused in forward).
  virtual void step(double lr, const torch::Tensor& found_inf = {}) = 0;
  // Checkpointed state in a fixed order (momentum buffers; or moments and step counts).
  virtual std::vector<torch::Tensor> state() const = 0;
  // Copies `state` (as state() returned it, e.g. from a checkpoint) into the optimizer's state.
  // std::invalid_argument naming the first tensor whose count or shape differs.
  void loadState(const std::vector<torch::Tensor>& state);
  void zeroGrad();
  // From the next step on, `params` (some of this optimizer's parameters) are updated with
  // lr × scale, as a parameter group's lr would be; scale 0 leaves them and their optimizer state
  // untouched (no weight decay, momentum, moments or AdamW step count), and scale 1 restores the
  // plain step. While a scale other than 1 is set, a group holding both kinds is updated by one
  // fused kernel per kind. The state's layout (state(), checkpoints) does not change.
  void scaleLearningRate(const std::vector<torch::Tensor>& params, double scale);
  // Gradients of all parameters in group order (handles to .grad, so in-place ops reach them).
  std::vector<torch::Tensor> grads() const;
  std::vector<torch::Tensor> params() const;

 protected:
  explicit Optimizer(std::vector<ParamGroup> groups);
  std::vector<torch::Tensor> groupGrads(const ParamGroup& g) const;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<char>> scaled_;  // per group and parameter: 1 when its lr is scaled
  double lr_scale_ = 1.0;
};

// Throws std::invalid_argument for a group mixing devices or dtypes (the fused kernels need one of
// each) or AdamW without two betas.
std::unique_ptr<Optimizer> makeOptimizer(const OptimOptions& opt, std::vector<ParamGroup> groups);

}  // namespace l2face::trainer
