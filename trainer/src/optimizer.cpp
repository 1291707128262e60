// Parameter groups, gradient norm / clipping / finiteness, and the fused SGD and AdamW steps.
#include "optimizer.h"

#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_fused_sgd.h>

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

// Momentum buffers start at zero instead of PyTorch's "buffer = grad on the first step": with
// dampening 0 both give buffer = grad after one step, and zeros need no host-side "first step"
// flag, which a skipped (non-finite) first step would otherwise have to update.
class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> groups, double momentum, bool nesterov)
      : Optimizer(std::move(groups)), momentum_(momentum), nesterov_(nesterov) {
    for (const auto& g : groups_)
      buffers_.push_back(momentum_ != 0 ? zerosLike(g.params) : std::vector<torch::Tensor>{});
  }
  void step(double lr, const torch::Tensor& found_inf) override {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < groups_.size(); ++i) {
      at::_fused_sgd_(groups_[i].params, groupGrads(groups_[i]), buffers_[i],
                      groups_[i].weight_decay, momentum_, lr, /*dampening=*/0.0, nesterov_,
                      /*maximize=*/false, /*is_first_step=*/false, std::nullopt, flag(found_inf));
    }
  }
  std::vector<torch::Tensor> state() const override {
    std::vector<torch::Tensor> out;
    for (const auto& b : buffers_) out.insert(out.end(), b.begin(), b.end());
    return out;
  }

 private:
  double momentum_;
  bool nesterov_;
  std::vector<std::vector<torch::Tensor>> buffers_;
};

class AdamW final : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, double beta1, double beta2, double eps)
      : Optimizer(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {
    for (const auto& g : groups_) {
      exp_avg_.push_back(zerosLike(g.params));
      exp_avg_sq_.push_back(zerosLike(g.params));
      std::vector<torch::Tensor> steps;
      for (const auto& p : g.params)
        steps.push_back(torch::zeros({}, p.options().dtype(torch::kFloat)));
      steps_.push_back(std::move(steps));
    }
  }
  void step(double lr, const torch::Tensor& found_inf) override {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < groups_.size(); ++i) {
      // The step count advances first (bias correction uses it) and is taken back when skipped,
      // as torch.optim.AdamW(fused=True) does under a GradScaler.
      at::_foreach_add_(steps_[i], 1.0);
      at::_fused_adamw_(groups_[i].params, groupGrads(groups_[i]), exp_avg_[i], exp_avg_sq_[i],
                        /*max_exp_avg_sqs=*/{}, steps_[i], lr, beta1_, beta2_,
                        groups_[i].weight_decay, eps_, /*amsgrad=*/false, /*maximize=*/false,
                        std::nullopt, flag(found_inf));
      if (found_inf.defined()) {
        at::_foreach_sub_(steps_[i], std::vector<torch::Tensor>(steps_[i].size(), found_inf));
      }
    }
  }
  std::vector<torch::Tensor> state() const override {
    std::vector<torch::Tensor> out;
    for (const auto* list : {&exp_avg_, &exp_avg_sq_, &steps_}) {
      for (const auto& l : *list) out.insert(out.end(), l.begin(), l.end());
    }
    return out;
  }

 private:
  double beta1_, beta2_, eps_;
  std::vector<std::vector<torch::Tensor>> exp_avg_, exp_avg_sq_, steps_;
};

}  // namespace

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

void Optimizer::zeroGrad() {
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
    }
  }
}

std::unique_ptr<Optimizer> makeOptimizer(const OptimOptions& opt, std::vector<ParamGroup> groups) {
  if (opt.type == "sgd")
    return std::make_unique<Sgd>(std::move(groups), opt.momentum, opt.nesterov);
  if (opt.type == "adamw") {
    if (opt.betas.size() != 2) throw std::invalid_argument("optim.betas needs two values");
    return std::make_unique<AdamW>(std::move(groups), opt.betas[0], opt.betas[1], opt.eps);
  }
  throw std::invalid_argument("unknown optim.type '" + opt.type + "' (available: sgd, adamw)");
}

}  // namespace l2face::trainer
