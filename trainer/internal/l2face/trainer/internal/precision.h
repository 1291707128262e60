// Arithmetic precision and memory format of the training step: bf16 autocast, channels_last.
#pragma once

#include <torch/torch.h>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

// run.precision resolved for a device: "bf16" or "fp32". auto = bf16 on CUDA, fp32 on CPU.
// Throws std::invalid_argument for bf16 on a CPU device (CPU training is fp32 by design).
std::string resolvePrecision(const std::string& precision, const torch::Device& device);

// bf16 autocast for the device's type while alive (nothing when disabled). Used around the
// backbone only: the head, its logits and the softmax cross-entropy stay fp32.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_;
  c10::DeviceType type_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

// Converts the 4-d parameters (convolution weights) and buffers to channels_last in place.
void toChannelsLast(torch::nn::Module& m);

// True when every parameter and buffer is finite (reads each tensor's flag: a host sync).
bool allFinite(const torch::nn::Module& m);

}  // namespace l2face::trainer
