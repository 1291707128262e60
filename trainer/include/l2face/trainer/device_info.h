// TorchDeviceInfo: what torch, as linked into l2face, sees of the compute devices (torch-free).
#pragma once

#include <string>

#include "l2face/comm/options.h"

namespace l2face::trainer {

// Plain value.
struct TorchDeviceInfo {
  std::string torch_version;    // "2.11.0"
  bool cuda_built = false;      // this torch has CUDA support compiled in
  int cuda_devices = 0;         // CUDA devices torch can use (0 without CUDA or a driver)
  std::string cuda_version;     // CUDA runtime torch was built with ("13.0"); "" without CUDA
  std::string cudnn_version;    // "91002"; "" without cuDNN
  std::string run_device_auto;  // what run.device auto resolves to here: "cuda" or "cpu"
};

// Never throws: a failed query leaves its field empty or zero. Thread-safety: thread-safe.
TorchDeviceInfo torchDeviceInfo();

// Where a run with this run.device (auto | cpu | cuda) keeps its tensors: what comm.backend auto
// follows (CommOptions::tensors). auto is resolved with `auto_resolves_to` ("cuda" or "cpu",
// TorchDeviceInfo::run_device_auto). Anything else is kUnspecified (the trainer rejects it).
comm::TensorDevice tensorDeviceOf(const std::string& run_device,
                                  const std::string& auto_resolves_to);

// Sets the intra-op threads torch uses for this process's CPU work; threads < 1 means the host's
// hardware concurrency. Returns the number set. Call before any torch work (not thread-safe).
int setComputeThreads(int threads);

}  // namespace l2face::trainer
