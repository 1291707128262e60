// torchDeviceInfo: torch's version and its view of CUDA, for `l2face doctor`; the intra-op threads.
#include "l2face/trainer/device_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <thread>

#include "l2face/comm/runtime_info.h"

namespace l2face::trainer {

TorchDeviceInfo torchDeviceInfo() {
  TorchDeviceInfo info;
  info.torch_version = TORCH_VERSION;
  try {
    const at::CUDAHooksInterface& hooks = at::detail::getCUDAHooks();
    info.cuda_built = at::hasCUDA() || hooks.versionCUDART() > 0;
    info.cuda_devices = static_cast<int>(torch::cuda::device_count());
    info.cuda_version = comm::cudaVersionString(static_cast<int>(hooks.versionCUDART()));
    if (hooks.compiledWithCuDNN()) info.cudnn_version = std::to_string(hooks.versionCuDNN());
  } catch (const std::exception&) {
    // A CPU-only torch throws from the CUDA hooks: nothing more to report.
  }
  info.run_device_auto = torch::cuda::is_available() ? "cuda" : "cpu";
  return info;
}

int setComputeThreads(int threads) {
  const int n =
      threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return n;
}

comm::TensorDevice tensorDeviceOf(const std::string& run_device,
                                  const std::string& auto_resolves_to) {
  const std::string& d = run_device == "auto" ? auto_resolves_to : run_device;
  if (d == "cpu") return comm::TensorDevice::kCpu;
  if (d == "cuda") return comm::TensorDevice::kCuda;
  return comm::TensorDevice::kUnspecified;
}

}  // namespace l2face::trainer
