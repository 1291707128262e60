// DataParallel: keeps replicas identical — rank 0's state broadcast at start, gradients averaged
// by comm::GradSync while backward runs (post-accumulate-grad hooks, DDP's bucket order). The
// parameters' gradients are views into GradSync's buckets (DDP's gradient_as_bucket_view): host
// buckets for CPU parameters, device buckets for CUDA ones (on a host backend too); backward
// accumulates into the buckets and nothing is copied per parameter.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "l2face/comm/communicator.h"
#include "l2face/comm/grad_sync.h"

namespace l2face::trainer {

// Not thread-safe; one owner (the training loop). Hooks run on autograd's thread during backward.
class DataParallel {
 public:
  // params: every trainable float32 tensor, in the same order on every rank (a collective).
  DataParallel(comm::Communicator& comm, std::vector<torch::Tensor> params,
               comm::GradSyncOptions options);
  ~DataParallel();

  // Copies rank 0's parameters and buffers to every rank (call once before training).
  void broadcastFromRank0(const std::vector<torch::Tensor>& buffers);
  // Zeroes every parameter's gradient for a new step, in place: with bucket views each .grad is
  // (again) its view, zero-filled, also after something set it to none or replaced it; without
  // views .grad is left undefined (autograd allocates it). Call at the start of each step.
  void zeroGrad();
  // True when the gradients are bucket views: every parameter dense, all on the CPU with a host
  // backend or all on CUDA (else GradSync copies gradients into the buckets and back).
  bool gradientsAreBucketViews() const { return !views_.empty(); }
  // false during gradient-accumulation micro-steps: hooks do nothing, gradients keep accumulating.
  void setSync(bool enabled) { sync_->setSyncEnabled(enabled); }
  // After backward of a synchronising micro-step: waits for the buckets and writes the averages
  // into each parameter's .grad (a parameter without a gradient gets one).
  void finish();
  comm::GradSyncStats stats() const { return sync_->stats(); }

 private:
  comm::Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<comm::GradSync> sync_;
  std::vector<torch::Tensor> views_;  // views_[i]: parameter i's gradient in its bucket, or none
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // keep the hooks alive
};

}  // namespace l2face::trainer
