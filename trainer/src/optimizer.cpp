// Parameter groups, gradient norm / clipping / finiteness, and the fused SGD and AdamW steps.
#include "l2face/trainer/internal/optimizer.h"

#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_fused_sgd.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace l2face::trainer {
namespace {

bool isBatchNorm(const torch::nn::Module& m) {
  return m.as<torch::nn::BatchNorm1dImpl>() || m.as<torch::nn::BatchNorm2dImpl>();
}

std::optional<at::Tensor> flag(const torch::Tensor& found_inf) {
  if (!found_inf.defined()) return std::nullopt;
  return found_inf;
}

std::vector<torch::Tensor> zerosLike(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  out.reserve(ts.size());
  for (const auto& t : ts) out.push_back(torch::zeros_like(t, at::MemoryFormat::Preserve));
  return out;
}

// The parameters of a group whose mask entry is `want`, with their gradients and state (handles:
// the fused kernels update the group's own tensors).
struct GroupPart {
  std::vector<torch::Tensor> params, grads;
  FusedState state;
};
GroupPart selectPart(const std::vector<torch::Tensor>& params,
                     const std::vector<torch::Tensor>& grads, const FusedState& s,
                     const std::vector<char>& mask, bool want) {
  GroupPart p;
  for (size_t k = 0; k < params.size(); ++k) {
    if ((mask[k] != 0) != want) continue;
    p.params.push_back(params[k]);
    p.grads.push_back(grads[k]);
    if (!s.m1.empty()) p.state.m1.push_back(s.m1[k]);
    if (!s.m2.empty()) p.state.m2.push_back(s.m2[k]);
    if (!s.steps.empty()) p.state.steps.push_back(s.steps[k]);
  }
  return p;
}

// Every group's state in one fused layout; state() lists SGD's momenta, or AdamW's moments and
// step counts, group by group within each kind.
class FusedOptimizer final : public Optimizer {
 public:
  FusedOptimizer(const OptimOptions& opt, std::vector<ParamGroup> groups)
      : Optimizer(std::move(groups)), opt_(opt) {
    for (const auto& g : groups_) state_.push_back(zeroFusedState(opt_, g.params));
  }
  void step(double lr, const torch::Tensor& found_inf) override {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < groups_.size(); ++i) {
      const ParamGroup& g = groups_[i];
      const std::vector<torch::Tensor> grads = groupGrads(g);
      const bool split = lr_scale_ != 1.0 &&
                         std::find(scaled_[i].begin(), scaled_[i].end(), 1) != scaled_[i].end();
      if (!split) {
        fusedStep(opt_, g.params, grads, state_[i], g.weight_decay, lr, found_inf);
        continue;
      }
      for (const bool scaled : {false, true}) {
        if (scaled && lr_scale_ == 0.0) continue;  // frozen: nothing of theirs changes
        GroupPart p = selectPart(g.params, grads, state_[i], scaled_[i], scaled);
        if (p.params.empty()) continue;
        fusedStep(opt_, p.params, p.grads, p.state, g.weight_decay, scaled ? lr * lr_scale_ : lr,
                  found_inf);
      }
    }
  }
  std::vector<torch::Tensor> state() const override {
    std::vector<torch::Tensor> out;
    for (auto list : {&FusedState::m1, &FusedState::m2, &FusedState::steps}) {
      for (const auto& s : state_) out.insert(out.end(), (s.*list).begin(), (s.*list).end());
    }
    return out;
  }

 private:
  OptimOptions opt_;
  std::vector<FusedState> state_;
};

}  // namespace

// Momentum buffers start at zero instead of PyTorch's "buffer = grad on the first step": with
// dampening 0 both give buffer = grad after one step, and zeros need no host-side "first step"
// flag, which a skipped (non-finite) first step would otherwise have to update.
FusedState zeroFusedState(const OptimOptions& opt, const std::vector<torch::Tensor>& params) {
  FusedState s;
  if (opt.type == OptimType::kAdamW || opt.momentum != 0) s.m1 = zerosLike(params);
  if (opt.type != OptimType::kAdamW) return s;
  s.m2 = zerosLike(params);
  for (const auto& p : params)
    s.steps.push_back(torch::zeros({}, p.options().dtype(torch::kFloat)));
  return s;
}

void fusedStep(const OptimOptions& opt, const std::vector<torch::Tensor>& params,
               const std::vector<torch::Tensor>& grads, FusedState& state, double weight_decay,
               double lr, const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  switch (opt.type) {
    case OptimType::kSgd:
      at::_fused_sgd_(params, grads, state.m1, weight_decay, opt.momentum, lr, /*dampening=*/0.0,
                      opt.nesterov, /*maximize=*/false, /*is_first_step=*/false, std::nullopt,
                      flag(found_inf));
      return;
    case OptimType::kAdamW:
      // The step count advances first (bias correction uses it) and is taken back when skipped,
      // as torch.optim.AdamW(fused=True) does under a GradScaler.
      at::_foreach_add_(state.steps, 1.0);
      at::_fused_adamw_(params, grads, state.m1, state.m2, /*max_exp_avg_sqs=*/{}, state.steps, lr,
                        opt.betas[0], opt.betas[1], weight_decay, opt.eps, /*amsgrad=*/false,
                        /*maximize=*/false, std::nullopt, flag(found_inf));
      if (found_inf.defined()) {
        at::_foreach_sub_(state.steps, std::vector<torch::Tensor>(state.steps.size(), found_inf));
      }
      return;
  }
}

std::vector<ParamGroup> parameterGroups(const std::vector<torch::nn::Module*>& modules,
                                        const OptimOptions& opt,
                                        const std::vector<torch::Tensor>& never_decay) {
  ParamGroup decay{{}, opt.weight_decay}, exempt{{}, 0.0};
  auto exempted = [&](const torch::Tensor& t) {
    for (const auto& n : never_decay) {
      if (n.is_same(t)) return true;
    }
    return false;
  };
  for (torch::nn::Module* root : modules) {
    for (const auto& item : root->named_modules()) {
      const torch::nn::Module& m = *item.value();
      for (const auto& p : m.named_parameters(/*recurse=*/false)) {
        if (!p.value().requires_grad()) continue;  // frozen (iresnet's embedding BN scale)
        const bool bn_or_bias = isBatchNorm(m) || p.key() == "bias";
        const bool no_decay = exempted(p.value()) || (opt.no_decay_bn_bias && bn_or_bias);
        (no_decay ? exempt : decay).params.push_back(p.value());
      }
    }
  }
  std::vector<ParamGroup> out;
  for (auto* g : {&decay, &exempt}) {
    if (!g->params.empty()) out.push_back(std::move(*g));
  }
  return out;
}

GradientCheck checkGradients(const std::vector<torch::Tensor>& grads, double clip_norm,
                             const torch::Tensor& loss, const torch::Tensor& extra_squared_norm,
                             const std::function<void(const torch::Tensor&)>& scale_extra) {
  torch::NoGradGuard no_grad;
  GradientCheck c;
  c.norm = grads.empty() ? torch::zeros({}, extra_squared_norm.options().dtype(torch::kFloat))
                         : torch::stack(at::_foreach_norm(grads, 2)).to(torch::kFloat).norm();
  if (extra_squared_norm.defined()) {
    c.norm = (c.norm.square() + extra_squared_norm.to(torch::kFloat)).sqrt();
  }
  torch::Tensor bad = c.norm.isfinite().logical_not();
  if (loss.defined()) bad = bad.logical_or(loss.detach().isfinite().logical_not());
  c.found_inf = bad.to(torch::kFloat);
  if (clip_norm > 0) {
    const torch::Tensor factor = (clip_norm / (c.norm + 1e-6)).clamp_max(1.0);
    if (!grads.empty()) at::_foreach_mul_(grads, factor);
    if (scale_extra) scale_extra(factor);
  }
  return c;
}

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  for (const auto& g : groups_) {
    scaled_.emplace_back(g.params.size(), 0);
    for (const auto& p : g.params) {
      if (p.device() != g.params[0].device() || p.scalar_type() != g.params[0].scalar_type()) {
        throw std::invalid_argument("optimizer: a parameter group mixes devices or dtypes");
      }
    }
  }
}

std::vector<torch::Tensor> Optimizer::groupGrads(const ParamGroup& g) const {
  std::vector<torch::Tensor> grads;
  grads.reserve(g.params.size());
  for (const auto& p : g.params) {
    if (!p.grad().defined()) {
      // The fused kernels take whole lists; a parameter that skipped backward cannot be updated.
      throw std::logic_error("optimizer: a parameter of shape " + c10::str(p.sizes()) +
                             " received no gradient (unused in forward?)");
    }
    grads.push_back(p.grad());
  }
  return grads;
}

std::vector<torch::Tensor> Optimizer::grads() const {
  std::vector<torch::Tensor> out;
  for (const auto& g : groups_) {
    auto gg = groupGrads(g);
    out.insert(out.end(), gg.begin(), gg.end());
  }
  return out;
}

std::vector<torch::Tensor> Optimizer::params() const {
  std::vector<torch::Tensor> out;
  for (const auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

void Optimizer::loadState(const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> mine = state();  // handles to the live tensors
  if (saved.size() != mine.size()) {
    throw std::invalid_argument("optimizer state: the checkpoint holds " +
                                std::to_string(saved.size()) + " tensors, this optimizer " +
                                std::to_string(mine.size()));
  }
  for (size_t i = 0; i < mine.size(); ++i) {
    if (!saved[i].sizes().equals(mine[i].sizes())) {
      throw std::invalid_argument("optimizer state tensor " + std::to_string(i) + ": shape " +
                                  c10::str(saved[i].sizes()) + " in the checkpoint, " +
                                  c10::str(mine[i].sizes()) + " here");
    }
    mine[i].copy_(saved[i]);
  }
}

void Optimizer::scaleLearningRate(const std::vector<torch::Tensor>& params, double scale) {
  lr_scale_ = scale;
  for (size_t i = 0; i < groups_.size(); ++i) {
    for (size_t k = 0; k < groups_[i].params.size(); ++k) {
      const torch::Tensor& p = groups_[i].params[k];
      scaled_[i][k] = std::any_of(params.begin(), params.end(),
                                  [&](const torch::Tensor& t) { return t.is_same(p); });
    }
  }
}

void Optimizer::zeroGrad() {
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
    }
  }
}

std::unique_ptr<Optimizer> makeOptimizer(const OptimOptions& opt, std::vector<ParamGroup> groups) {
  if (opt.type == OptimType::kAdamW && opt.betas.size() != 2) {
    throw std::invalid_argument("optim.betas needs two values");
  }
  return std::make_unique<FusedOptimizer>(opt, std::move(groups));
}

}  // namespace l2face::trainer
