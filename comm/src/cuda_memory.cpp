// CUDA device memory for GradSync's buckets, the device count and the rank's device (builds
// with CUDA).
#include <cuda_runtime.h>

#include <cstring>
#include <string>

#include "l2face/comm/internal/buffer_memory.h"
#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/run_context.h"

namespace l2face::comm {
namespace {

void checkCuda(cudaError_t rc, const char* call) {
  if (rc != cudaSuccess) throw CommError(std::string(call) + " failed: " + cudaGetErrorString(rc));
}

class CudaMemory final : public BufferMemory {
 public:
  explicit CudaMemory(const Communicator& comm) : comm_(comm) {}

  void* allocate(size_t bytes) override {
    void* p = nullptr;
    checkCuda(cudaMalloc(&p, bytes == 0 ? 4 : bytes), "cudaMalloc");
    checkCuda(cudaMemset(p, 0, bytes == 0 ? 4 : bytes), "cudaMemset");
    return p;
  }
  void release(void* p) noexcept override { cudaFree(p); }
  void copy(void* dst, const void* src, size_t bytes) override {
    checkCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream()), "cudaMemcpyAsync");
  }
  void zero(void* dst, size_t bytes) override {
    checkCuda(cudaMemsetAsync(dst, 0, bytes, stream()), "cudaMemsetAsync");
  }
  void synchronize() override {
    checkCuda(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
  }

 private:
  cudaStream_t stream() const { return static_cast<cudaStream_t>(comm_.computeStream()); }
  const Communicator& comm_;
};

}  // namespace

int selectCudaDevice(const RunContext& ctx) {
  int device = cudaDeviceForRank(ctx, cudaDeviceCountOrZero());
  if (device >= 0) checkCuda(cudaSetDevice(device), "cudaSetDevice");
  return device;
}

int cudaDeviceCountOrZero() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the error a machine without a driver reports
    return 0;
  }
  return n;
}

bool isCudaPointer(const void* p) {
  // Without a device no pointer can be device memory; asking the runtime would cost a failed
  // driver query per call. Computed once: an immutable fact about this process.
  static const bool have_devices = cudaDeviceCountOrZero() > 0;
  if (!have_devices || p == nullptr) return false;
  cudaPointerAttributes a;
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

void copyBytes(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (isCudaPointer(dst) || isCudaPointer(src)) {
    checkCuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
  } else {
    std::memcpy(dst, src, bytes);
  }
}

std::unique_ptr<BufferMemory> makeCudaMemory(const Communicator& comm) {
  return std::make_unique<CudaMemory>(comm);
}

}  // namespace l2face::comm
