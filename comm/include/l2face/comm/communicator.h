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

// The collectives. Values are stable: the watchdog's arrival boards carry them between ranks.
enum class CollectiveKind : int {
  kAllReduce = 1,
  kBroadcast,
  kAllGather,
  kReduceScatter,
  kBarrier
};

// What a kind does with its description's fields; one row per kind in collectiveTraits().
struct CollectiveTraits {
  const char* name;    // "allreduce", ...: the watchdog's and CommError's name of the op
  bool has_buffers;    // false: no data (barrier)
  bool in_place;       // send and recv are the same buffer
  bool send_per_rank;  // send holds size() blocks of count elements (else one block)
  bool recv_per_rank;  // recv holds size() blocks of count elements (else one block)
  bool reduces;        // uses op
  bool rooted;         // uses root
};
// Indexed by CollectiveKind − 1. Columns: name, has_buffers, in_place, send_per_rank,
// recv_per_rank, reduces, rooted.
inline constexpr CollectiveTraits kCollectiveTraits[] = {
    {"allreduce", true, true, false, false, true, false},
    {"broadcast", true, true, false, false, false, true},
    {"allgather", true, false, false, true, false, false},
    {"reducescatter", true, false, true, false, true, false},
    {"barrier", false, false, false, false, false, false},
};
const CollectiveTraits& collectiveTraits(CollectiveKind kind);  // throws CommError when unknown
inline const char* collectiveName(CollectiveKind kind) { return collectiveTraits(kind).name; }

// One collective call: the single currency between callers, decorators and backends.
//  allreduce:      in place on recv (count elements) — the reduction over ranks;
//  broadcast:      in place on recv (count elements) — root's elements copied to every rank;
//  allgather:      recv receives size() blocks of count elements, block r from rank r; send may
//                  alias block rank() of recv;
//  reducescatter:  send holds size() blocks of count elements; recv (count elements, not aliasing
//                  send) receives the reduction of block rank() over all ranks;
//  barrier:        no buffers.
struct Collective {
  CollectiveKind kind = CollectiveKind::kBarrier;
  const void* send = nullptr;  // equal to recv for in-place kinds
  void* recv = nullptr;
  size_t count = 0;
  DType dtype = DType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  int root = 0;

  const CollectiveTraits& traits() const { return collectiveTraits(kind); }
  const char* name() const { return traits().name; }
  size_t sendBytes(int world_size) const;  // bytes read from send
  size_t recvBytes(int world_size) const;  // bytes written to recv

  static Collective allReduce(void* data, size_t count, DType dtype, ReduceOp op) {
    return {CollectiveKind::kAllReduce, data, data, count, dtype, op, 0};
  }
  static Collective broadcast(void* data, size_t count, DType dtype, int root) {
    return {CollectiveKind::kBroadcast, data, data, count, dtype, ReduceOp::kSum, root};
  }
  static Collective allGather(const void* send, void* recv, size_t count, DType dtype) {
    return {CollectiveKind::kAllGather, send, recv, count, dtype, ReduceOp::kSum, 0};
  }
  static Collective reduceScatter(const void* send, void* recv, size_t count, DType dtype,
                                  ReduceOp op) {
    return {CollectiveKind::kReduceScatter, send, recv, count, dtype, op, 0};
  }
  static Collective barrier() { return {}; }
};

// Throws CommError when c cannot run in a world of world_size (a root outside it).
void checkCollective(const Collective& c, int world_size);

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
  // Blocks the host until the collective is complete (for CUDA backends too), then as wait().
  virtual void synchronize() { wait(); }
  // Once done: seconds the backend spent running the collective (from its start, after any
  // queueing, to its completion); negative when the backend does not measure it.
  virtual double seconds() const { return -1; }
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
// Every collective enters through issue(), which checks the description and hands it to the
// backend's one virtual launch(); the named helpers below only build descriptions.
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

  // The front door: checks c (checkCollective) and launches it asynchronously.
  WorkPtr issue(const Collective& c) {
    checkCollective(c, size());
    return launch(c);
  }

  WorkPtr allReduceAsync(void* data, size_t count, DType dtype, ReduceOp op) {
    return issue(Collective::allReduce(data, count, dtype, op));
  }
  WorkPtr broadcastAsync(void* data, size_t count, DType dtype, int root) {
    return issue(Collective::broadcast(data, count, dtype, root));
  }
  WorkPtr allGatherAsync(const void* send, void* recv, size_t count, DType dtype) {
    return issue(Collective::allGather(send, recv, count, dtype));
  }
  WorkPtr reduceScatterAsync(const void* send, void* recv, size_t count, DType dtype, ReduceOp op) {
    return issue(Collective::reduceScatter(send, recv, count, dtype, op));
  }
  WorkPtr barrierAsync() { return issue(Collective::barrier()); }

  // Blocking forms: the asynchronous call followed by wait(). A barrier is about the host: it
  // returns once every rank has reached it (synchronize()), on CUDA backends too.
  void allReduce(void* data, size_t count, DType dtype, ReduceOp op) {
    allReduceAsync(data, count, dtype, op)->wait();
  }
  void broadcast(void* data, size_t count, DType dtype, int root) {
    broadcastAsync(data, count, dtype, root)->wait();
  }
  void allGather(const void* send, void* recv, size_t count, DType dtype) {
    allGatherAsync(send, recv, count, dtype)->wait();
  }
  void reduceScatter(const void* send, void* recv, size_t count, DType dtype, ReduceOp op) {
    reduceScatterAsync(send, recv, count, dtype, op)->wait();
  }
  void barrier() { barrierAsync()->synchronize(); }

 protected:
  // The backend's one entry point: c has passed checkCollective for size().
  virtual WorkPtr launch(const Collective& c) = 0;
};

// A world of one: every collective is the identity (kAvg divides by 1). Always available.
std::unique_ptr<Communicator> makeLocalCommunicator();

// The backend options.backend names (or auto picks) for the job ctx describes. mpi needs an
// active MpiSession; nccl bootstraps over MPI when a session is active and otherwise over the TCP
// store named by L2FACE_MASTER_ADDR / L2FACE_MASTER_PORT / L2FACE_JOB_TOKEN. A collective call on
// every rank (ranks agree on the backend). Throws CommError when the choice cannot be honoured.
// Also makes the rank's CUDA device (selectCudaDevice) current when devices are visible and this
// host runs several ranks or L2FACE_GPU is set.
std::unique_ptr<Communicator> makeCommunicator(const CommOptions& options, const RunContext& ctx);

// A job's two planes over the same ranks. `data` carries the tensors (gradients, classifier
// blocks; device memory on nccl). `control` carries the small host-memory agreements (stop flags,
// loss sums, checkpoint votes, resume choice, barriers) on a host channel of its own, so that no
// agreement touches the device: local for local; for mpi a second MPI communicator (its own
// sequence numbers and watchdog; the data one itself when MPI lacks MPI_THREAD_MULTIPLE); for
// nccl an MPI communicator when an MpiSession is active, else a communicator over the TCP store
// the NCCL bootstrap uses (backend "store"). Destroy control before data (member order does it).
struct CommPlanes {
  std::unique_ptr<Communicator> data;
  std::unique_ptr<Communicator> control;
};

// makeCommunicator's backend as the data plane, and its control plane. A collective call on
// every rank.
CommPlanes makeCommPlanes(const CommOptions& options, const RunContext& ctx);

// The backend makeCommunicator would build for ctx, without building it: options.backend, or the
// auto rules (options.h). Throws CommError when auto finds none. Not collective.
Backend resolveBackend(const CommOptions& options, const RunContext& ctx);

}  // namespace l2face::comm
