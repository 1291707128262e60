// Host staging as a decorator: a communicator whose collectives' buffers are copied into another
// memory (the wrapped backend's) around the wrapped backend's launch.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// Staging buffers and the copies between them and a caller's buffers. `stream` is the staging
// communicator's compute stream (a cudaStream_t; nullptr: the default stream).
class StagingMemory {
 public:
  virtual ~StagingMemory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  // Copies the caller's bytes into a staging buffer, after the work queued on stream so far;
  // returns once they are there (waiting for this copy only, not for the whole device).
  virtual void copyIn(void* staged, const void* caller, size_t bytes, void* stream) = 0;
  // Queues the copy of a result back into the caller's buffer on stream (asynchronous for device
  // buffers: later work on stream sees it). The staged buffer stays untouched until it has run.
  virtual void copyOut(void* caller, const void* staged, size_t bytes, void* stream) = 0;
  // Returns once every copy queued on stream has run.
  virtual void synchronize(void* stream) = 0;
};

// Plain host memory and memcpy (host-to-host staging; tests).
std::shared_ptr<StagingMemory> makeHostStagingMemory();
// Pinned host buffers, device->host copies on a copy stream of its own ordered after the compute
// stream, host->device copies on the compute stream. Plain host memory and memcpy in a build
// without CUDA.
std::shared_ptr<StagingMemory> makePinnedStagingMemory();

struct StagedBuffers;

struct StagingOptions {
  std::shared_ptr<StagingMemory> memory;  // staging buffers (the wrapped backend's memory)
  // True for a caller's buffer that must be staged (the others pass through untouched).
  std::function<bool(const void*)> needs_staging;
  std::string backend_suffix;  // appended to the wrapped backend's name
  // A caller buffer staged a second time (same address and size: GradSync's buckets, every step)
  // gets a staging buffer of its own, kept for later calls, while their total stays below this.
  size_t persistent_cap_bytes = size_t{1} << 30;
};

// Wraps any backend's launch: a staged buffer is copied into staging memory when the collective
// is issued (its input; the output too for in-place kinds), and its result copied back when the
// Work is waited on (asynchronously on the compute stream). A one-off staging buffer is released
// once that copy has run; a repeated caller buffer keeps its staging buffer (no allocation, no
// host sync on later calls: the next copy in is ordered after the copy back on the GPU, and the
// backend writes the buffer only after that copy in). With nothing to stage, the wrapped Work is
// returned as it is. Rank, size and sequence are the wrapped backend's; buffers are host memory.
// Thread-safety: as Communicator.
class StagingCommunicator final : public Communicator {
 public:
  // owned: null, or the communicator inner refers to (destroyed with this one).
  StagingCommunicator(Communicator& inner, std::unique_ptr<Communicator> owned,
                      StagingOptions options);
  ~StagingCommunicator() override;

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string backend() const override { return inner_.backend() + options_.backend_suffix; }
  uint64_t sequence() const override { return inner_.sequence(); }
  void setComputeStream(void* stream) override { stream_ = stream; }
  void* computeStream() const override { return stream_; }

 protected:
  WorkPtr launch(const Collective& c) override;

 private:
  struct Persistent {
    void* buffer = nullptr;
    std::shared_ptr<std::atomic<bool>> busy;  // a collective in flight uses it
  };
  void* stagingBuffer(const void* caller, size_t bytes, StagedBuffers& s);

  std::unique_ptr<Communicator> owned_;
  Communicator& inner_;
  StagingOptions options_;
  void* stream_ = nullptr;
  std::map<std::pair<const void*, size_t>, Persistent> persistent_;  // repeated caller buffers
  std::set<std::pair<const void*, size_t>> seen_;                    // staged once so far (bounded)
  size_t persistent_bytes_ = 0;
};

// A host backend (mpi) that also takes CUDA buffers: they travel through pinned host memory. The
// MPI backend reduces on the host (its ring runs reduceInto on the CPU), so a CUDA-aware MPI would
// not spare the copies. Asynchronous: the result reaches the device buffer in Work::wait(),
// ordered on the compute stream.
std::unique_ptr<Communicator> withDeviceStaging(std::unique_ptr<Communicator> host_backend);

// A communicator that forwards every call to inner (same ranks, same sequence): a second name for
// one communicator where a caller needs two (the control plane sharing the data plane's MPI).
std::unique_ptr<Communicator> aliasOf(Communicator& inner);

}  // namespace l2face::comm
