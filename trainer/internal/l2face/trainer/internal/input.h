// Turning a uint8 NHWC batch into the network's normalised float NCHW input on the device.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace l2face::trainer {

// (x − 127.5) / 128 of uint8 NHWC bytes already on the device, as float NCHW. channels_last
// keeps the NHWC byte order in memory (the permuted view already has those strides): no copy.
inline torch::Tensor toInput(const torch::Tensor& nhwc, bool channels_last = false) {
  return nhwc.permute({0, 3, 1, 2})
      .to(torch::kFloat)
      .sub_(127.5)
      .div_(128.0)
      .contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
}

// The same from host memory: only bytes cross to the device (a non-blocking copy, asynchronous
// when the memory is pinned; the training step uses BatchTransfer instead).
inline torch::Tensor toInput(const uint8_t* nhwc, int n, int h, int w, const torch::Device& device,
                             bool channels_last = false) {
  torch::Tensor bytes = torch::from_blob(const_cast<uint8_t*>(nhwc), {n, h, w, 3}, torch::kUInt8);
  return toInput(device.is_cpu() ? bytes : bytes.to(device, /*non_blocking=*/true), channels_last);
}

inline torch::Device resolveDevice(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available())
      throw std::runtime_error("run.device is cuda but no GPU is visible");
    return torch::kCUDA;
  }
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

}  // namespace l2face::trainer
