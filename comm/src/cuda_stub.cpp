// The CUDA entry points of a build without CUDA/NCCL: no devices, no device memory.
#include <cstring>

#include "l2face/comm/internal/buffer_memory.h"
#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/internal/interval_clock.h"
#include "l2face/comm/internal/staging.h"
#include "l2face/comm/run_context.h"

namespace l2face::comm {

int cudaDeviceCountOrZero() { return 0; }
int selectCudaDevice(const RunContext&) { return -1; }
bool isCudaPointer(const void*) { return false; }
void copyBytes(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

std::unique_ptr<BufferMemory> makeCudaMemory(const Communicator&) {
  throw CommError("CUDA buffers requested, but this l2face was built without CUDA");
}

// No device buffers exist here: staging is plain host memory.
std::shared_ptr<StagingMemory> makePinnedStagingMemory() { return makeHostStagingMemory(); }

std::unique_ptr<IntervalClock> makeCudaIntervalClock(const Communicator&) {
  throw CommError("CUDA events requested, but this l2face was built without CUDA");
}

}  // namespace l2face::comm
