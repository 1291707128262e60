// CUDA queries and copies the comm module needs without CUDA in its public headers.
#pragma once

#include <cstddef>

namespace l2face::comm {

// Visible CUDA devices; 0 in a build without CUDA or when the driver reports none.
int cudaDeviceCountOrZero();

// The device count resolveBackend's auto rule sees: cudaDeviceCountOrZero(), unless a test has
// set another with setVisibleCudaDevicesForTesting (n < 0 restores the real count).
int visibleCudaDevices();
void setVisibleCudaDevicesForTesting(int n);

// True for CUDA device or managed memory; always false in a build without CUDA.
bool isCudaPointer(const void* p);

// memcpy that also takes CUDA pointers on either side (then a synchronous cudaMemcpy).
void copyBytes(void* dst, const void* src, size_t bytes);

}  // namespace l2face::comm
