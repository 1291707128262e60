// Host staging as a decorator: a communicator whose collectives' buffers are copied into another
// memory (the wrapped backend's) around the wrapped backend's launch.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "buffer_memory.h"
#include "l2face/comm/communicator.h"

namespace l2face::comm {

struct StagingOptions {
  std::shared_ptr<BufferMemory> memory;  // the wrapped backend's memory: staging buffers, copies
  // True for a caller's buffer that must be staged (the others pass through untouched).
  std::function<bool(const void*)> needs_staging;
  // Complete every collective before launch returns (the Work it returns is done).
  bool synchronous = false;
  std::string backend_suffix;  // appended to the wrapped backend's name
};

// Wraps any backend's launch: a staged buffer is copied into memory when the collective is
// issued (its input; the output too for in-place kinds), and its result copied back when the
// Work is waited on, after which memory is synchronised. With nothing to stage and not
// synchronous, the wrapped Work is returned as it is. Rank, size and sequence are the wrapped
// backend's; buffers are host memory. Thread-safety: as Communicator.
class StagingCommunicator final : public Communicator {
 public:
  // owned: null, or the communicator inner refers to (destroyed with this one).
  StagingCommunicator(Communicator& inner, std::unique_ptr<Communicator> owned,
                      StagingOptions options);

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string backend() const override { return inner_.backend() + options_.backend_suffix; }
  uint64_t sequence() const override { return inner_.sequence(); }

 protected:
  WorkPtr launch(const Collective& c) override;

 private:
  std::unique_ptr<Communicator> owned_;
  Communicator& inner_;
  StagingOptions options_;
};

// A host backend (mpi) that also takes CUDA buffers: they travel through host memory. The MPI
// backend reduces on the host (its ring runs reduceInto on the CPU), so a CUDA-aware MPI would not
// spare the copies. Asynchronous: the result reaches the device buffer in Work::wait().
std::unique_ptr<Communicator> withDeviceStaging(std::unique_ptr<Communicator> host_backend);

}  // namespace l2face::comm
