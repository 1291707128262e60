// The CUDA stream torch runs the step on, handed to comm (whose headers take it as void*).
#pragma once

#include <torch/torch.h>

#include "l2face/comm/communicator.h"

namespace l2face::trainer {

// torch's current CUDA stream of `device` as a cudaStream_t; nullptr for a CPU device or a torch
// without CUDA.
void* currentCudaStream(const torch::Device& device);

// Orders comm's CUDA work (NCCL collectives, bucket copies, staging) after the work torch has
// queued on device's current stream, and makes waits land on that stream. Nothing on the CPU.
inline void followCurrentStream(comm::Communicator& comm, const torch::Device& device) {
  if (device.is_cuda()) comm.setComputeStream(currentCudaStream(device));
}

}  // namespace l2face::trainer
