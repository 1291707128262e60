// Current and peak bytes held by torch's CUDA caching allocator, for the benchmarks' reports
// (zeros in a build without CUDA paths).
#pragma once

#include <cstdint>

#ifdef L2FACE_BENCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace l2face::bench {

struct CudaBytes {
  int64_t current = 0, peak = 0;
};

// Bytes allocated to tensors on `device` now and at most since the last resetCudaPeak().
inline CudaBytes cudaAllocated(int device) {
#ifdef L2FACE_BENCH_CUDA
  const auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  const auto& all =
      stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
  return {all.current, all.peak};
#else
  (void)device;
  return {};
#endif
}

inline void resetCudaPeak(int device) {
#ifdef L2FACE_BENCH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
#else
  (void)device;
#endif
}

}  // namespace l2face::bench
