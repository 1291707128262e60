// Element-wise reductions of host buffers, shared by the ring collectives and the local backend.
#pragma once

#include <cstddef>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// dst[i] = dst[i] (op) src[i] for count elements; kAvg reduces as kSum (see finishAverage).
void reduceInto(void* dst, const void* src, size_t count, DType dtype, ReduceOp op);

// Turns a sum over world ranks into the average: multiplies floats by 1/world, divides integers.
void finishAverage(void* data, size_t count, DType dtype, int world);

}  // namespace l2face::comm
