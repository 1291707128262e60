// Element-wise reduction loops, one per dtype and op, written so that the compiler vectorises them.
#include "l2face/comm/internal/reduce_kernels.h"

#include <algorithm>
#include <cstdint>

namespace l2face::comm {
namespace {

template <typename T>
void reduceTyped(T* __restrict dst, const T* __restrict src, size_t n, ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(dst[i] + src[i]);
      return;
    case ReduceOp::kMax:
      for (size_t i = 0; i < n; ++i) dst[i] = std::max(dst[i], src[i]);
      return;
    case ReduceOp::kMin:
      for (size_t i = 0; i < n; ++i) dst[i] = std::min(dst[i], src[i]);
      return;
  }
}

template <typename T>
void scaleFloat(T* data, size_t n, int world) {
  const T inv = T(1) / static_cast<T>(world);
  for (size_t i = 0; i < n; ++i) data[i] *= inv;
}

template <typename T>
void divideInt(T* data, size_t n, int world) {
  const T w = static_cast<T>(world);
  for (size_t i = 0; i < n; ++i) data[i] /= w;
}

}  // namespace

void reduceInto(void* dst, const void* src, size_t count, DType dtype, ReduceOp op) {
  switch (dtype) {
    case DType::kFloat32:
      return reduceTyped(static_cast<float*>(dst), static_cast<const float*>(src), count, op);
    case DType::kFloat64:
      return reduceTyped(static_cast<double*>(dst), static_cast<const double*>(src), count, op);
    case DType::kInt32:
      return reduceTyped(static_cast<int32_t*>(dst), static_cast<const int32_t*>(src), count, op);
    case DType::kInt64:
      return reduceTyped(static_cast<int64_t*>(dst), static_cast<const int64_t*>(src), count, op);
    case DType::kUInt8:
      return reduceTyped(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), count, op);
  }
}

void finishAverage(void* data, size_t count, DType dtype, int world) {
  if (world == 1) return;
  switch (dtype) {
    case DType::kFloat32:
      return scaleFloat(static_cast<float*>(data), count, world);
    case DType::kFloat64:
      return scaleFloat(static_cast<double*>(data), count, world);
    case DType::kInt32:
      return divideInt(static_cast<int32_t*>(data), count, world);
    case DType::kInt64:
      return divideInt(static_cast<int64_t*>(data), count, world);
    case DType::kUInt8:
      return divideInt(static_cast<uint8_t*>(data), count, world);
  }
}

}  // namespace l2face::comm
