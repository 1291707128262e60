// Data-parallel replicas: start-up broadcast and bucketed gradient averaging during backward.
#include "data_parallel.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>

#include <stdexcept>

#include "tensor_comm.h"

namespace l2face::trainer {
namespace {

// Runs after autograd accumulated parameter i's gradient into .grad: hand it to GradSync.
class ReadyHook final : public torch::autograd::PostAccumulateGradHook {
 public:
  ReadyHook(comm::GradSync& sync, size_t index) : sync_(sync), index_(index) {}
  void operator()(const torch::autograd::Variable& param) override {
    if (!sync_.syncEnabled()) return;
    const torch::Tensor& g = param.grad();
    if (!g.is_non_overlapping_and_dense()) {
      throw std::logic_error("data parallel: a gradient that is not dense cannot be bucketed");
    }
    sync_.markReady(index_, g.data_ptr<float>());
  }

 private:
  comm::GradSync& sync_;
  size_t index_;
};

}  // namespace

DataParallel::DataParallel(comm::Communicator& comm, std::vector<torch::Tensor> params,
                           const comm::GradSyncOptions& options)
    : comm_(comm), params_(std::move(params)) {
  std::vector<size_t> numel;
  for (const auto& p : params_) {
    if (p.scalar_type() != torch::kFloat) {
      throw std::invalid_argument("data parallel: parameters must be float32");
    }
    numel.push_back(static_cast<size_t>(p.numel()));
  }
  sync_ = std::make_unique<comm::GradSync>(comm_, numel, options);
  for (size_t i = 0; i < params_.size(); ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    if (!acc) throw std::logic_error("data parallel: a parameter has no gradient accumulator");
    acc->tensor_post_acc_grad_hooks() = std::make_unique<ReadyHook>(*sync_, i);
    accumulators_.push_back(std::move(acc));
  }
}

DataParallel::~DataParallel() {
  for (auto& acc : accumulators_) acc->tensor_post_acc_grad_hooks().reset();
}

void DataParallel::broadcastFromRank0(const std::vector<torch::Tensor>& buffers) {
  torch::NoGradGuard no_grad;
  std::vector<comm::WorkPtr> work;
  auto send = [&](const torch::Tensor& t) {
    if (!t.is_contiguous()) throw std::logic_error("data parallel: broadcast needs contiguous state");
    work.push_back(comm_.broadcastAsync(t.data_ptr(), static_cast<size_t>(t.numel()), commDtype(t), 0));
  };
  for (const auto& p : params_) send(p);
  for (const auto& b : buffers) {
    if (b.defined() && b.numel() > 0) send(b);
  }
  for (auto& w : work) w->wait();
}

void DataParallel::finish() {
  if (!sync_->syncEnabled()) return;
  std::vector<float*> grads(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // unused on this rank
    grads[i] = p.grad().data_ptr<float>();
  }
  sync_->finish(grads.data());
}

}  // namespace l2face::trainer
