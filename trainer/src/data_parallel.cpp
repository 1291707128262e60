// Data-parallel replicas: start-up broadcast and bucketed gradient averaging during backward.
#include "l2face/trainer/internal/data_parallel.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>

#include <algorithm>
#include <stdexcept>

#include "l2face/trainer/internal/tensor_comm.h"

namespace l2face::trainer {
namespace {

// Runs after autograd accumulated parameter i's gradient into .grad: hand it to GradSync (with a
// bucket view .grad already is the bucket's memory, and markReady only marks it ready).
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

// Bucket views need parameters whose memory layout fits numel elements, all on the CPU (host
// buckets) or all on CUDA (device buckets: a CUDA backend's, or device_buckets on a host one).
bool viewsPossible(const comm::Communicator& comm, const std::vector<torch::Tensor>& params,
                   bool cuda) {
  if (!cuda && comm.memoryKind() != comm::MemoryKind::kHost) return false;
  for (const auto& p : params) {
    if (p.device().is_cuda() != cuda || !p.is_non_overlapping_and_dense()) return false;
  }
  return true;
}

bool allOnCuda(const std::vector<torch::Tensor>& params) {
  return !params.empty() && std::all_of(params.begin(), params.end(),
                                        [](const torch::Tensor& p) { return p.is_cuda(); });
}

}  // namespace

DataParallel::DataParallel(comm::Communicator& comm, std::vector<torch::Tensor> params,
                           comm::GradSyncOptions options)
    : comm_(comm), params_(std::move(params)) {
  // Gradients on a GPU stay there: buckets in device memory also on a host backend (mpi), which
  // then stages whole buckets instead of one copy per parameter.
  const bool cuda = allOnCuda(params_);
  if (cuda) options.device_buckets = true;
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
  if (viewsPossible(comm_, params_, cuda)) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      torch::Tensor& p = params_[i];
      // The parameter's own strides, so that the gradient's layout is what autograd would make.
      views_.push_back(torch::from_blob(sync_->gradView(i), p.sizes(), p.strides(), p.options()));
      if (p.grad().defined()) views_.back().copy_(p.grad());
      p.mutable_grad() = views_.back();
    }
  }
}

DataParallel::~DataParallel() {
  for (auto& acc : accumulators_) acc->tensor_post_acc_grad_hooks().reset();
  // The buckets go with GradSync: gradients that are views get memory of their own.
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < views_.size(); ++i) {
    torch::Tensor& p = params_[i];
    if (p.grad().defined() && p.grad().is_same(views_[i])) p.mutable_grad() = views_[i].clone();
  }
}

void DataParallel::broadcastFromRank0(const std::vector<torch::Tensor>& buffers) {
  torch::NoGradGuard no_grad;
  std::vector<comm::WorkPtr> work;
  // A dense tensor (contiguous, or channels-last convolution weights) occupies numel elements
  // from data_ptr in its own layout; every rank built the same layout, so the bytes match.
  auto send = [&](const torch::Tensor& t) {
    if (!t.is_non_overlapping_and_dense())
      throw std::logic_error("data parallel: broadcast needs dense state (no views with gaps)");
    work.push_back(
        comm_.broadcastAsync(t.data_ptr(), static_cast<size_t>(t.numel()), commDtype(t), 0));
  };
  for (const auto& p : params_) send(p);
  for (const auto& b : buffers) {
    if (b.defined() && b.numel() > 0) send(b);
  }
  for (auto& w : work) w->wait();
}

void DataParallel::zeroGrad() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    if (views_.empty()) {
      if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
      continue;
    }
    if (!p.grad().defined() || !p.grad().is_same(views_[i])) p.mutable_grad() = views_[i];
    views_[i].zero_();
  }
}

void DataParallel::finish() {
  if (!sync_->syncEnabled()) return;
  std::vector<float*> grads(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    if (!p.grad().defined()) {  // unused on this rank: its view, or a new zero gradient
      p.mutable_grad() = views_.empty() ? torch::zeros_like(p) : views_[i].zero_();
    }
    grads[i] = p.grad().data_ptr<float>();  // GradSync copies only when it is not the view
  }
  sync_->finish(grads.data());
}

}  // namespace l2face::trainer
