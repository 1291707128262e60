// Multi-tensor SGD step and learning-rate schedules.
#include "optimizer.h"

#include <cmath>
#include <stdexcept>

namespace l2face::trainer {

double learningRate(const OptimOptions& opt, int64_t step) {
  if (opt.warmup_steps > 0 && step < opt.warmup_steps) {
    return opt.lr * static_cast<double>(step + 1) / static_cast<double>(opt.warmup_steps);
  }
  if (opt.schedule == "constant") return opt.lr;
  if (opt.schedule == "cosine") {
    const double span = static_cast<double>(std::max<int64_t>(1, opt.max_steps - opt.warmup_steps));
    const double t = std::min(1.0, static_cast<double>(step - opt.warmup_steps) / span);
    return opt.lr * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  if (opt.schedule == "step") {
    double lr = opt.lr;
    for (int64_t m : opt.milestones) {
      if (step >= m) lr *= opt.gamma;
    }
    return lr;
  }
  throw std::invalid_argument("unknown optim.schedule '" + opt.schedule + "'");
}

ForeachSgd::ForeachSgd(std::vector<torch::Tensor> params, double momentum, double weight_decay,
                       bool nesterov)
    : params_(std::move(params)),
      momentum_(momentum),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {}

void ForeachSgd::step(double lr) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> params, grads;
  params.reserve(params_.size());
  grads.reserve(params_.size());
  for (auto& p : params_) {
    if (!p.grad().defined()) continue;
    params.push_back(p);
    grads.push_back(p.grad());
  }
  if (params.empty()) return;
  if (params.size() != params_.size()) {
    // Buffers are kept in parameter order; a parameter that skipped backward would misalign them.
    throw std::logic_error("ForeachSgd: " + std::to_string(params_.size() - params.size()) +
                           " parameters received no gradient (unused in forward?)");
  }
  if (weight_decay_ != 0) grads = at::_foreach_add(grads, params, weight_decay_);
  if (momentum_ != 0) {
    if (buffers_.empty()) {
      buffers_.reserve(grads.size());
      for (auto& g : grads) buffers_.push_back(g.clone());
    } else {
      at::_foreach_mul_(buffers_, momentum_);
      at::_foreach_add_(buffers_, grads);
    }
    if (nesterov_) {
      grads = at::_foreach_add(grads, buffers_, momentum_);
    } else {
      grads = buffers_;
    }
  }
  at::_foreach_add_(params, grads, -lr);
}

void ForeachSgd::zeroGrad() {
  for (auto& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

}  // namespace l2face::trainer
