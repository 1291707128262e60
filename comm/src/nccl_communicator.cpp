// The NCCL backend: an own stream ordered after the compute stream, watched by a watchdog thread.
#include "nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/internal/watchdog.h"
#include "l2face/comm/mpi_session.h"
#include "nccl_bootstrap.h"

namespace l2face::comm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWatchdogPoll = std::chrono::milliseconds(100);
constexpr double kBoardReadSeconds = 5;

void checkCuda(cudaError_t rc, const char* call) {
  if (rc != cudaSuccess) throw CommError(std::string(call) + " failed: " + cudaGetErrorString(rc));
}
void checkNccl(ncclResult_t rc, const char* call) {
  if (rc != ncclSuccess) throw CommError(std::string(call) + " failed: " + ncclGetErrorString(rc));
}

// Indexed by DType and ReduceOp (checkCollective has rejected values outside the enums).
constexpr ncclDataType_t kNcclTypes[] = {ncclFloat32, ncclFloat64, ncclInt32, ncclInt64, ncclUint8};
constexpr ncclRedOp_t kNcclOps[] = {ncclSum, ncclAvg, ncclMax, ncclMin};
ncclDataType_t ncclType(DType t) { return kNcclTypes[static_cast<int>(t)]; }
ncclRedOp_t ncclOp(ReduceOp op) { return kNcclOps[static_cast<int>(op)]; }

// The ranks whose arrival at init (op set) the side channel does not show.
std::string ranksAbsentAtInit(const std::vector<Arrival>& arrivals) {
  if (arrivals.empty()) return "unknown (no side channel)";
  std::string absent, unread;
  for (const Arrival& a : arrivals) {
    std::string& list = a.responsive ? absent : unread;
    if (!a.responsive || a.op == 0) list += (list.empty() ? "" : ", ") + std::to_string(a.rank);
  }
  return "[" + absent + "]" +
         (unread.empty() ? "" : "; ranks that could not be read: [" + unread + "]");
}

// An event that records a collective's completion on the NCCL stream. Destroying an event whose
// work is pending is allowed: CUDA releases it once the work completes.
struct Event {
  Event() { checkCuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate"); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t e = nullptr;
};

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<Event> done, cudaStream_t compute,
           std::shared_ptr<const std::atomic<bool>> failed)
      : done_(std::move(done)), compute_(compute), failed_(std::move(failed)) {}
  bool done() override { return cudaEventQuery(done_->e) == cudaSuccess; }
  void wait() override {
    if (failed_->load()) throw CommError("NCCL communicator failed (see the watchdog's message)");
    checkCuda(cudaStreamWaitEvent(compute_, done_->e, 0), "cudaStreamWaitEvent");
  }
  void synchronize() override {
    wait();
    checkCuda(cudaEventSynchronize(done_->e), "cudaEventSynchronize");
  }

 private:
  std::shared_ptr<Event> done_;
  cudaStream_t compute_;
  std::shared_ptr<const std::atomic<bool>> failed_;  // shared: a work may outlive its communicator
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const CommOptions& options, const RunContext& ctx,
                   std::shared_ptr<JobStore> store)
      : options_(options), host_(ctx.host), rank_(ctx.rank), size_(ctx.world_size) {
    int devices = cudaDeviceCountOrZero();
    if (devices == 0) throw CommError("comm.backend nccl: no CUDA device is visible");
    // With L2FACE_GPU the launcher chose each rank's device (e.g. one visible device per rank).
    if (ctx.local_size > devices && !ctx.gpu_overridden) {
      throw CommError("comm.backend nccl: " + std::to_string(ctx.local_size) +
                      " ranks on this host but " + std::to_string(devices) +
                      " CUDA devices (NCCL needs one device per rank)");
    }
    device_ = selectCudaDevice(ctx);  // L2FACE_GPU, else local rank modulo the devices
    bootstrap_ = makeNcclBootstrap(ctx, options.timeout_seconds, std::move(store));
    ncclUniqueId id;
    std::memset(&id, 0, sizeof(id));
    if (rank_ == 0) checkNccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    bootstrap_->broadcastFrom0(&id, sizeof(id));
    joinUnderDeadline(id);
    try {
      checkCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
      checkCuda(cudaMalloc(&barrier_scratch_, sizeof(float)), "cudaMalloc");
      watchdog_ = std::thread([this] { watch(); });
    } catch (...) {
      // The destructor does not run for a constructor that throws.
      ncclCommAbort(comm_);
      if (barrier_scratch_ != nullptr) cudaFree(barrier_scratch_);
      if (stream_ != nullptr) cudaStreamDestroy(stream_);
      throw;
    }
  }

  ~NcclCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    // Destroy waits for outstanding work and for peers; after an error (or while unwinding from
    // one) that could block forever, so the communicator is aborted instead.
    if (comm_ != nullptr) {
      if (failed_->load() || std::uncaught_exceptions() > 0) {
        ncclCommAbort(comm_);
      } else {
        cudaStreamSynchronize(stream_);
        finalizeOrAbort();
      }
    }
    if (barrier_scratch_ != nullptr) cudaFree(barrier_scratch_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  MemoryKind memoryKind() const override { return MemoryKind::kCuda; }
  void setComputeStream(void* stream) override { compute_ = static_cast<cudaStream_t>(stream); }
  void* computeStream() const override { return compute_; }
  uint64_t sequence() const override { return issued_.load(); }

 protected:
  WorkPtr launch(const Collective& c) override {
    if (c.traits().has_buffers) {
      checkDevice(c.send, c.name());
      if (c.recv != c.send) checkDevice(c.recv, c.name());
    }
    return enqueue(c.kind, [&](cudaStream_t s) { return ncclLaunch(c, s); });
  }

 private:
  struct InFlight {
    uint64_t seq;
    CollectiveKind kind;
    std::shared_ptr<Event> done;
    Clock::time_point issued;
  };

  static void checkDevice(const void* p, const char* op) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      cudaGetLastError();
      throw CommError(std::string(op) +
                      ": buffer is not CUDA memory (the nccl backend takes "
                      "device buffers)");
    }
    if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged) {
      throw CommError(std::string(op) +
                      ": buffer is host memory (the nccl backend takes device "
                      "buffers)");
    }
  }

  // The NCCL call of collective c on stream s.
  ncclResult_t ncclLaunch(const Collective& c, cudaStream_t s) {
    const ncclDataType_t type = ncclType(c.dtype);
    switch (c.kind) {
      case CollectiveKind::kAllReduce:
        return ncclAllReduce(c.send, c.recv, c.count, type, ncclOp(c.op), comm_, s);
      case CollectiveKind::kBroadcast:
        return ncclBroadcast(c.send, c.recv, c.count, type, c.root, comm_, s);
      case CollectiveKind::kAllGather:
        return ncclAllGather(c.send, c.recv, c.count, type, comm_, s);
      case CollectiveKind::kReduceScatter:
        return ncclReduceScatter(c.send, c.recv, c.count, type, ncclOp(c.op), comm_, s);
      case CollectiveKind::kBarrier:
        return ncclAllReduce(barrier_scratch_, barrier_scratch_, 1, ncclFloat32, ncclSum, comm_, s);
    }
    throw CommError("unknown collective");
  }

  template <typename Launch>
  WorkPtr enqueue(CollectiveKind kind, Launch launch) {
    if (failed_->load()) throw CommError("NCCL communicator failed earlier");
    const uint64_t seq = issued_.load() + 1;
    issued_.store(seq);
    bootstrap_->board().arrive(seq, kind);
    // The NCCL stream waits for everything the compute stream has queued so far (the gradients).
    auto ready = std::make_shared<Event>();
    checkCuda(cudaEventRecord(ready->e, compute_), "cudaEventRecord");
    checkCuda(cudaStreamWaitEvent(stream_, ready->e, 0), "cudaStreamWaitEvent");
    ncclResult_t rc = launch(stream_);
    if (rc == ncclInProgress) rc = settle();  // a non-blocking communicator still enqueueing
    if (rc != ncclSuccess) {
      throw CommError(std::string("NCCL: ") + ncclGetErrorString(rc), collectiveName(kind), seq,
                      rank_, host_);
    }
    auto done = std::make_shared<Event>();
    checkCuda(cudaEventRecord(done->e, stream_), "cudaEventRecord");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in_flight_.push_back({seq, kind, done, Clock::now()});
    }
    return std::make_shared<NcclWork>(done, compute_, failed_);
  }

  // Joins the job's NCCL communicator within comm.timeout_seconds: a non-blocking init polled
  // until it succeeds, fails or the deadline passes; then it is aborted and CommError names the
  // ranks that never posted their arrival at init (sequence 0, op barrier) on the side channel.
  void joinUnderDeadline(const ncclUniqueId& id) {
    bootstrap_->board().arrive(0, CollectiveKind::kBarrier);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommInitRankConfig(&comm_, size_, id, rank_, &config);
    if (rc == ncclInProgress) rc = settle();
    if (rc == ncclSuccess) return;
    std::string why = std::string("ncclCommInitRankConfig failed: ") + ncclGetErrorString(rc);
    if (rc == ncclInProgress) {
      why = "ncclCommInitRankConfig did not complete within " +
            std::to_string(options_.timeout_seconds) + " s; ranks that did not arrive: " +
            ranksAbsentAtInit(bootstrap_->board().read(kBoardReadSeconds));
    }
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
    throw CommError("[l2face] rank " + std::to_string(rank_) + " (" + host_ + "): " + why);
  }

  // Polls a non-blocking communicator's pending call: its result, or ncclInProgress when it is
  // still pending after comm.timeout_seconds.
  ncclResult_t settle() {
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(options_.timeout_seconds));
    for (;;) {
      ncclResult_t state = ncclInProgress;
      if (comm_ == nullptr) return ncclInternalError;
      ncclCommGetAsyncError(comm_, &state);
      if (state != ncclInProgress || Clock::now() > deadline) return state;
      bootstrap_->progress();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  // Orderly end: flush (ncclCommFinalize, non-blocking here) within the timeout, then destroy;
  // a flush that fails or does not end is aborted instead.
  void finalizeOrAbort() {
    ncclResult_t rc = ncclCommFinalize(comm_);
    if (rc == ncclInProgress) rc = settle();
    if (rc == ncclSuccess) {
      ncclCommDestroy(comm_);
    } else {
      ncclCommAbort(comm_);
    }
  }

  // Polls completion events and NCCL's asynchronous error; ends the job on an error or timeout.
  void watch() {
    cudaSetDevice(device_);
    const auto timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options_.timeout_seconds));
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      cv_.wait_for(lock, kWatchdogPoll);
      while (!in_flight_.empty() && cudaEventQuery(in_flight_.front().done->e) == cudaSuccess) {
        in_flight_.pop_front();
      }
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        std::string last = in_flight_.empty()
                               ? std::string("none in flight")
                               : std::string(collectiveName(in_flight_.front().kind)) + " #" +
                                     std::to_string(in_flight_.front().seq);
        fail("[l2face] rank " + std::to_string(rank_) + " (" + host_ +
             "): NCCL asynchronous error: " + ncclGetErrorString(async) +
             "; oldest collective in flight: " + last);
      }
      if (!in_flight_.empty() && Clock::now() - in_flight_.front().issued > timeout) {
        InFlight stuck = in_flight_.front();
        lock.unlock();
        auto arrivals = bootstrap_->board().read(kBoardReadSeconds);
        fail(formatTimeoutMessage(rank_, host_, stuck.kind, stuck.seq, options_.timeout_seconds,
                                  arrivals));
      }
      bootstrap_->progress();
    }
  }

  [[noreturn]] void fail(const std::string& message) {
    failed_->store(true);
    ncclCommAbort(comm_);  // unblocks NCCL kernels spinning on a peer that will never come
    endJob(message);
  }

  CommOptions options_;
  std::string host_;
  int rank_;
  int size_;
  int device_ = 0;
  std::unique_ptr<NcclBootstrap> bootstrap_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaStream_t compute_ = nullptr;  // the legacy default stream unless set
  float* barrier_scratch_ = nullptr;
  std::atomic<uint64_t> issued_{0};
  std::shared_ptr<std::atomic<bool>> failed_ = std::make_shared<std::atomic<bool>>(false);
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<InFlight> in_flight_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> makeNcclCommunicator(const CommOptions& options,
                                                   const RunContext& ctx,
                                                   std::shared_ptr<JobStore> store) {
  return std::make_unique<NcclCommunicator>(options, ctx, std::move(store));
}

}  // namespace l2face::comm
