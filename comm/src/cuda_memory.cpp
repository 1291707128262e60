// CUDA device memory for GradSync's buckets, the device count and the rank's device (builds
// with CUDA).
#include <cuda_runtime.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "l2face/comm/internal/buffer_memory.h"
#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/internal/interval_clock.h"
#include "l2face/comm/internal/staging.h"
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

// Pinned staging for a host backend: device->host on a copy stream of its own that first waits
// for the compute stream (so only this copy is waited for), host->device on the compute stream.
class PinnedStagingMemory final : public StagingMemory {
 public:
  ~PinnedStagingMemory() override {
    if (copy_stream_ != nullptr) cudaStreamDestroy(copy_stream_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
  }
  void* allocate(size_t bytes) override {
    void* p = nullptr;
    checkCuda(cudaHostAlloc(&p, bytes == 0 ? 4 : bytes, cudaHostAllocDefault), "cudaHostAlloc");
    return p;
  }
  void release(void* p) noexcept override { cudaFreeHost(p); }
  void copyIn(void* staged, const void* caller, size_t bytes, void* stream) override {
    if (!isCudaPointer(caller)) {
      std::memcpy(staged, caller, bytes);
      return;
    }
    if (copy_stream_ == nullptr) {
      checkCuda(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking),
                "cudaStreamCreate");
      checkCuda(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
    }
    checkCuda(cudaEventRecord(ready_, static_cast<cudaStream_t>(stream)), "cudaEventRecord");
    checkCuda(cudaStreamWaitEvent(copy_stream_, ready_, 0), "cudaStreamWaitEvent");
    checkCuda(cudaMemcpyAsync(staged, caller, bytes, cudaMemcpyDeviceToHost, copy_stream_),
              "cudaMemcpyAsync");
    checkCuda(cudaStreamSynchronize(copy_stream_), "cudaStreamSynchronize");
  }
  void copyOut(void* caller, const void* staged, size_t bytes, void* stream) override {
    if (!isCudaPointer(caller)) {
      std::memcpy(caller, staged, bytes);
      return;
    }
    checkCuda(cudaMemcpyAsync(caller, staged, bytes, cudaMemcpyHostToDevice,
                              static_cast<cudaStream_t>(stream)),
              "cudaMemcpyAsync");
  }
  void synchronize(void* stream) override {
    checkCuda(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
  }

 private:
  cudaStream_t copy_stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
};

// Event pairs on the compute stream; a pair is read once its end event has completed (the begin
// event precedes it on the same stream) and then returned to the pool.
class CudaIntervalClock final : public IntervalClock {
 public:
  explicit CudaIntervalClock(const Communicator& comm) : comm_(comm) {}
  ~CudaIntervalClock() override {
    for (auto& p : pending_) destroy(p);
    for (auto& p : pool_) destroy(p);
  }
  void begin() override {
    if (pool_.empty()) pool_.push_back(create());
    open_ = pool_.back();
    pool_.pop_back();
    checkCuda(cudaEventRecord(open_.begin, stream()), "cudaEventRecord");
  }
  void end() override {
    checkCuda(cudaEventRecord(open_.end, stream()), "cudaEventRecord");
    pending_.push_back(open_);
  }
  std::vector<double> collect() override {
    std::vector<double> out;
    while (!pending_.empty() && cudaEventQuery(pending_.front().end) == cudaSuccess) {
      float ms = 0;
      checkCuda(cudaEventElapsedTime(&ms, pending_.front().begin, pending_.front().end),
                "cudaEventElapsedTime");
      out.push_back(ms / 1000.0);
      pool_.push_back(pending_.front());
      pending_.pop_front();
    }
    return out;
  }

 private:
  struct Pair {
    cudaEvent_t begin = nullptr, end = nullptr;
  };
  static Pair create() {
    Pair p;
    checkCuda(cudaEventCreate(&p.begin), "cudaEventCreate");
    checkCuda(cudaEventCreate(&p.end), "cudaEventCreate");
    return p;
  }
  static void destroy(Pair& p) {
    cudaEventDestroy(p.begin);
    cudaEventDestroy(p.end);
  }
  cudaStream_t stream() const { return static_cast<cudaStream_t>(comm_.computeStream()); }

  const Communicator& comm_;
  Pair open_;
  std::deque<Pair> pending_;
  std::vector<Pair> pool_;
};

}  // namespace

std::shared_ptr<StagingMemory> makePinnedStagingMemory() {
  return std::make_shared<PinnedStagingMemory>();
}

std::unique_ptr<IntervalClock> makeCudaIntervalClock(const Communicator& comm) {
  return std::make_unique<CudaIntervalClock>(comm);
}

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
