// Bucket memory for GradSync: host memory, or CUDA device memory ordered on the compute stream.
#pragma once

#include <cstddef>
#include <memory>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// Allocation and copies in the memory a communicator's collectives use. Thread-safety: as the
// owner (GradSync) serialises its calls.
class BufferMemory {
 public:
  virtual ~BufferMemory() = default;
  virtual void* allocate(size_t bytes) = 0;  // zero-filled
  virtual void release(void* p) noexcept = 0;
  // Either side may be host or this kind of memory.
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void zero(void* dst, size_t bytes) = 0;
  // Returns once every copy issued so far is complete (CUDA: synchronises the compute stream).
  virtual void synchronize() = 0;
};

std::unique_ptr<BufferMemory> makeHostMemory();
// Copies run on comm.computeStream() (read at each call). Throws CommError in a build without CUDA.
std::unique_ptr<BufferMemory> makeCudaMemory(const Communicator& comm);

}  // namespace l2face::comm
