// torch's CUDA sync-debug mode around the training step, and the step's one permitted exception.
#pragma once

#include <torch/torch.h>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

// Sets torch's CUDA sync-debug mode (c10::cuda::warning_state) to `mode` while alive and restores
// the previous mode; does nothing for SyncDebug::kOff or a non-CUDA device. Not thread-safe (the
// mode is process-wide): one training loop at a time.
class SyncDebugScope {
 public:
  SyncDebugScope(const torch::Device& device, SyncDebug mode);
  ~SyncDebugScope();
  SyncDebugScope(const SyncDebugScope&) = delete;
  SyncDebugScope& operator=(const SyncDebugScope&) = delete;

 private:
  bool active_ = false;
  int previous_ = 0;
};

// Turns torch's CUDA sync-debug mode off while alive (restoring it after): marks a host
// synchronisation that is deliberate and documented (docs/performance.md), e.g. the sampled
// classifier reading the global labels. Nothing without CUDA.
class AllowHostSync {
 public:
  AllowHostSync();
  ~AllowHostSync();
  AllowHostSync(const AllowHostSync&) = delete;
  AllowHostSync& operator=(const AllowHostSync&) = delete;

 private:
  bool active_ = false;
  int previous_ = 0;
};

}  // namespace l2face::trainer
