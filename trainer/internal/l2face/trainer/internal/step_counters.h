// Device-side counters of the training loop, read by the host once per logging window.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace l2face::trainer {

// Every update is a tensor op on the device; snapshot() is the window's only host sync, one
// copy of a stacked vector. Not thread-safe; one owner.
class StepCounters {
 public:
  explicit StepCounters(const torch::Device& device) {
    const auto f = torch::TensorOptions().device(device).dtype(torch::kFloat);
    for (auto* t : {&loss_sum_, &finite_steps_, &correct_, &skipped_, &run_, &max_run_}) {
      *t = torch::zeros({}, f);
    }
  }

  // After a step: its mean loss, correct predictions, and found_inf (1 = skipped).
  void add(const torch::Tensor& loss, const torch::Tensor& correct,
           const torch::Tensor& found_inf) {
    torch::NoGradGuard no_grad;
    const torch::Tensor ok = 1 - found_inf;
    loss_sum_ +=
        torch::where(found_inf > 0, torch::zeros_like(loss), loss.detach());  // NaN·0 is NaN
    finite_steps_ += ok;
    correct_ += correct.to(torch::kFloat);
    skipped_ += found_inf;
    run_.mul_(found_inf).add_(found_inf);  // consecutive skips: +1, or back to 0
    max_run_ = torch::maximum(max_run_, run_);
  }

  struct Window {
    double loss_sum = 0, finite_steps = 0, correct = 0;
    int64_t skipped_total = 0, longest_run = 0;
    double alpha = 0, grad_norm = 0;
  };
  // Reads the window (and α, the last gradient norm: 0-d tensors or undefined) and starts the
  // next one; the current run of skips carries over.
  Window snapshot(const torch::Tensor& alpha, const torch::Tensor& grad_norm) {
    torch::NoGradGuard no_grad;
    auto value = [&](const torch::Tensor& t) {
      return t.defined() ? t.detach().to(loss_sum_.device(), torch::kFloat).reshape({})
                         : torch::zeros_like(loss_sum_);
    };
    torch::Tensor all = torch::stack({loss_sum_, finite_steps_, correct_, skipped_, max_run_,
                                      value(alpha), value(grad_norm)})
                            .to(torch::kCPU, torch::kDouble);
    const double* v = all.data_ptr<double>();
    Window w{v[0], v[1], v[2], static_cast<int64_t>(v[3]), static_cast<int64_t>(v[4]), v[5], v[6]};
    loss_sum_.zero_();
    finite_steps_.zero_();
    correct_.zero_();
    max_run_.copy_(run_);
    return w;
  }

 private:
  torch::Tensor loss_sum_, finite_steps_, correct_, skipped_, run_, max_run_;
};

}  // namespace l2face::trainer
