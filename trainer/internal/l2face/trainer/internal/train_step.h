// One optimizer step of the training loop: micro-batches through backbone, head (or sharded
// classifier) and backward, then the gradient check and the multi-tensor optimizer step.
// trainer::train drives it with the loader's batches; bench/step drives the same code with
// in-memory batches, so that a compute-only measurement times exactly what training runs.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>

#include "batch_transfer.h"
#include "data_parallel.h"
#include "l2face/comm/communicator.h"
#include "l2face/data/loader.h"
#include "optimizer.h"
#include "run_checkpoint.h"
#include "step_counters.h"

namespace l2face::trainer {

struct StepConfig {
  torch::Device device = torch::kCPU;
  bool bf16 = false;           // bf16 autocast around the backbone (CUDA)
  bool channels_last = false;  // NHWC input and convolution weights
  int accumulate = 1;          // micro-batches per optimizer step
  double clip_grad_norm = 0;   // 0 = no clipping
};

// Not thread-safe; one owner (the training loop). Holds references to the model, the optimizer,
// the communicator and the data-parallel wrapper (null on one rank), which must outlive it.
class TrainStep {
 public:
  TrainStep(TrainModel& m, Optimizer& optimizer, comm::Communicator& comm, DataParallel* dp,
            const StepConfig& config);
  ~TrainStep();

  // Starts optimizer step `step`: drops the gradients and zeroes the step's loss and accuracy.
  void begin(int64_t step);
  // Forward and backward of micro-batch `micro` (0 .. accumulate − 1) of the step. poisoned
  // multiplies the loss (and a sharded classifier's feature gradient) by NaN: fault injection.
  // On CUDA the batch's pixels and labels are copied asynchronously (BatchTransfer) and the batch
  // gets a reuse fence; nothing here waits on the host (nor does finish()).
  void microBatch(const data::Batch& batch, int micro, bool poisoned);
  // Ends the step: waits for the gradient all-reduce, checks (and clips) the gradients, runs the
  // optimizer(s) with learning rate lr (skipped on the device for a non-finite step), and adds
  // the step to `counters`. Nothing is read by the host.
  GradientCheck finish(double lr, bool poisoned, StepCounters& counters);

  // The step's mean loss and correct predictions (0-d tensors on the device), after finish().
  const torch::Tensor& loss() const { return step_loss_; }
  const torch::Tensor& correct() const { return correct_; }

 private:
  TrainModel& m_;
  Optimizer& optimizer_;
  comm::Communicator& comm_;
  DataParallel* dp_;
  StepConfig config_;
  std::unique_ptr<BatchTransfer> transfer_;
  int64_t step_ = 0;
  torch::Tensor step_loss_, correct_;
};

// For training on the CPU, where every step allocates the same activations and gradients again:
// glibc's malloc serves blocks above its mmap threshold (128 KiB, adapting up to 32 MiB) from
// fresh mappings and unmaps them on free, so each step faults those pages in again and the kernel
// zeroes them (13 % of the cpu-clock samples of a CPU IResNet-18 step). This keeps freed memory in
// the process's heap for the next step instead (no mmap-served blocks, no trimming), so resident
// memory stays at its peak. Process-wide and permanent: call once, before a CPU training loop
// (trainer::train and bench/step do). Nothing outside glibc.
void retainFreedHostMemory();

}  // namespace l2face::trainer
