// Communicator: the collective operations l2face's ranks use, independent of the backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "l2face/comm/errors.h"
#include "l2face/comm/options.h"
#include "l2face/comm/run_context.h"

namespace l2face::comm {

enum class DType { kFloat32, kFloat64, kInt32, kInt64, kUInt8 };
// kAvg is the sum divided by size(); integer types divide with truncation toward zero.
enum class ReduceOp { kSum, kAvg, kMax, kMin };
// Where a backend's collective buffers live.
enum class MemoryKind { kHost, kCuda };

size_t dtypeBytes(DType t);
const char* dtypeName(DType t);
const char* reduceOpName(ReduceOp op);

// Completion of one asynchronous collective. Thread-safety: all methods thread-safe.
class Work {
 public:
  virtual ~Work() = default;
  // True once the collective has finished (successfully or not). Never blocks.
  virtual bool done() = 0;
  // Host backends: blocks until the buffers hold the result; throws the collective's CommError if
  // it failed. CUDA backends: makes the compute stream wait for the result (the host does not
  // block), like torch.distributed's work.wait().
  virtual void wait() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

// Collectives over a fixed group of ranks.
//
// Contract: every collective must be called in the same order, with the same counts, dtypes,
// ops and roots, on every rank of the group. Each call takes the next sequence number (1, 2, ...),
// which is how ranks match their calls and how the watchdog names a stuck one: a rank that skips
// a collective makes the others wait, and after comm.timeout_seconds the watchdog ends the job,
// naming the op, its sequence number and the ranks that did not arrive (docs/communication.md).
//
// Buffers are host memory when memoryKind() is kHost (local, mpi) and device memory of the
// current CUDA device for kCuda (nccl). An asynchronous call's buffers must stay valid and
// untouched until its Work is done (host) or waited on (CUDA). Collectives complete in the order
// they were issued.
//
// Thread-safety: calls must be externally serialised (one issuing thread at a time), since the
// order of the calls is the contract; the backends' own threads are internal.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;
  virtual MemoryKind memoryKind() const { return MemoryKind::kHost; }
  // CUDA backends: the stream (a cudaStream_t) whose work the collectives are ordered after and
  // which Work::wait() makes wait; nullptr is the default stream. Ignored by host backends.
  virtual void setComputeStream(void* /*stream*/) {}
  virtual void* computeStream() const { return nullptr; }
  // Sequence number of the most recently issued collective (0 before the first).
  virtual uint64_t sequence() const = 0;

  // In place: data holds count elements on every rank and receives the reduction.
  virtual WorkPtr allReduceAsync(void* data, size_t count, DType dtype, ReduceOp op) = 0;
  // In place: root's count elements are copied to every rank.
  virtual WorkPtr broadcastAsync(void* data, size_t count, DType dtype, int root) = 0;
  // recv receives size() blocks of count elements, block r from rank r. send may alias block
  // rank() of recv.
  virtual WorkPtr allGatherAsync(const void* send, void* recv, size_t count, DType dtype) = 0;
  // send holds size() blocks of count elements; recv (count elements, not aliasing send) receives
  // the reduction of block rank() over all ranks.
  virtual WorkPtr reduceScatterAsync(const void* send, void* recv, size_t count, DType dtype,
                                     ReduceOp op) = 0;
  virtual WorkPtr barrierAsync() = 0;

  // Blocking forms: the asynchronous call followed by wait().
  virtual void allReduce(void* data, size_t count, DType dtype, ReduceOp op) {
    allReduceAsync(data, count, dtype, op)->wait();
  }
  virtual void broadcast(void* data, size_t count, DType dtype, int root) {
    broadcastAsync(data, count, dtype, root)->wait();
  }
  virtual void allGather(const void* send, void* recv, size_t count, DType dtype) {
    allGatherAsync(send, recv, count, dtype)->wait();
  }
  virtual void reduceScatter(const void* send, void* recv, size_t count, DType dtype, ReduceOp op) {
    reduceScatterAsync(send, recv, count, dtype, op)->wait();
  }
  virtual void barrier() { barrierAsync()->wait(); }
};

// For the few small control-path collectives that hand host memory (checkpoint agreement,
// preemption flags) on a device backend: a communicator with the same ranks and sequence as
// `inner` whose buffers are host memory, copied to device memory and back around each collective
// (synchronously: every Work it returns is complete). nullptr when inner already takes host memory
// (use inner itself). `inner` must outlive it; calls on the two interleave in one order.
std::unique_ptr<Communicator> makeHostView(Communicator& inner);

// A world of one: every collective is the identity (kAvg divides by 1). Always available.
std::unique_ptr<Communicator> makeLocalCommunicator();

// The backend options.backend names (or auto picks) for the job ctx describes. mpi needs an
// active MpiSession; nccl bootstraps over MPI when a session is active and otherwise over the TCP
// store named by L2FACE_MASTER_ADDR / L2FACE_MASTER_PORT / L2FACE_JOB_TOKEN. A collective call on
// every rank (ranks agree on the backend). Throws CommError when the choice cannot be honoured.
// Also makes the rank's CUDA device (selectCudaDevice) current when devices are visible and this
// host runs several ranks or L2FACE_GPU is set.
std::unique_ptr<Communicator> makeCommunicator(const CommOptions& options, const RunContext& ctx);

// The backend makeCommunicator would build for ctx, without building it: options.backend, or the
// auto rules (options.h). Throws CommError when auto finds none. Not collective.
Backend resolveBackend(const CommOptions& options, const RunContext& ctx);

}  // namespace l2face::comm
