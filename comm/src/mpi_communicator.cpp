// The MPI backend: one comm thread serves every MPI call from an in-order queue, under a watchdog.
#include "mpi_communicator.h"

#include <mpi.h>
#include <sys/prctl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "l2face/comm/internal/reduce_kernels.h"
#include "l2face/comm/internal/watchdog.h"
#include "l2face/comm/mpi_session.h"
#include "mpi_arrival_board.h"
#include "mpi_ops.h"
#include "work.h"

namespace l2face::comm {
namespace {

using Clock = std::chrono::steady_clock;

// Polling: the first kBusyPoll of a collective re-tests at once (yielding the core), later tests
// sleep kSleepPoll between them so that a long wait costs little CPU. Idle, the thread spins
// kIdleSpin for the next task, then sleeps, waking every kIdlePoll to let MPI progress one-sided
// reads of the arrival board.
constexpr auto kBusyPoll = std::chrono::microseconds(1000);
constexpr auto kSleepPoll = std::chrono::microseconds(20);
constexpr auto kIdlePoll = std::chrono::milliseconds(2);
constexpr auto kIdleSpin = std::chrono::microseconds(50);
constexpr double kBoardReadSeconds = 5;  // budget for reading the board after a timeout
constexpr size_t kSegmentBytes = size_t{1} << 20;

struct Task {
  Collective c;
  uint64_t seq = 0;
  std::shared_ptr<HostWork> work;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(const CommOptions& options, const RunContext& ctx)
      : options_(options), host_(ctx.host) {
    thread_ = std::thread([this] { run(); });
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return ready_; });
    if (setup_error_) {
      lock.unlock();
      thread_.join();
      std::rethrow_exception(setup_error_);
    }
    if (ctx.world_size != size_ || ctx.rank != rank_) {
      std::string msg = "MPI says rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
                        " but the launcher's variables say rank " + std::to_string(ctx.rank) +
                        " of " + std::to_string(ctx.world_size);
      lock.unlock();
      shutdown();
      throw CommError(msg);
    }
  }

  ~MpiCommunicator() override { shutdown(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  uint64_t sequence() const override { return issued_.load(); }

 protected:
  // Host buffers only: withDeviceStaging (staging.h) wraps this backend for CUDA buffers.
  WorkPtr launch(const Collective& c) override {
    Task t;
    t.c = c;
    return enqueue(std::move(t));
  }

 private:
  WorkPtr enqueue(Task t) {
    t.work = std::make_shared<HostWork>();
    WorkPtr w = t.work;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) throw CommError("collective issued on a communicator being destroyed");
      t.seq = issued_.load() + 1;
      issued_.store(t.seq);
      queue_.push_back(std::move(t));
      pending_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_one();
    return w;
  }

  void shutdown() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      // Unwinding from an error: skip the collective clean-up, which would wait for other ranks.
      orderly_ = std::uncaught_exceptions() == 0;
    }
    cv_.notify_all();
    thread_.join();
  }

  // --- the comm thread ---

  void run() {
    // Sleeps between polls should last what they ask for, not the default 50 µs timer slack.
    prctl(PR_SET_TIMERSLACK, 1000UL);
    try {
      setup();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      setup_error_ = std::current_exception();
      ready_ = true;
      cv_.notify_all();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_ = true;
    }
    cv_.notify_all();
    for (;;) {
      Task task;
      {
        // Right after a collective the next one usually follows within microseconds (GradSync's
        // buckets, a blocking caller's next call): spin briefly before sleeping on the condition.
        const auto spin_until = Clock::now() + kIdleSpin;
        while (pending_.load(std::memory_order_acquire) == 0 && Clock::now() < spin_until) {
          std::this_thread::yield();
        }
        std::unique_lock<std::mutex> lock(mutex_);
        while (queue_.empty() && !stop_) {
          if (cv_.wait_for(lock, kIdlePoll) == std::cv_status::timeout) {
            lock.unlock();
            idleProgress();
            lock.lock();
          }
        }
        if (queue_.empty()) break;  // stop_ and nothing left
        task = std::move(queue_.front());
        queue_.pop_front();
        pending_.fetch_sub(1, std::memory_order_relaxed);
        if (stop_ && !orderly_) {
          task.work->fail(std::make_exception_ptr(CommError(
              "communicator destroyed after a failure", task.c.name(), task.seq, rank_, host_)));
          continue;
        }
      }
      execute(task);
    }
    teardown();
  }

  void setup() {
    checkMpi(MPI_Comm_dup(MPI_COMM_WORLD, &data_comm_), "MPI_Comm_dup");
    checkMpi(MPI_Comm_dup(MPI_COMM_WORLD, &side_comm_), "MPI_Comm_dup");
    // Errors come back as codes (turned into CommError) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(data_comm_, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(side_comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(data_comm_, &rank_);
    MPI_Comm_size(data_comm_, &size_);
    int level = 0;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_SERIALIZED) {
      throw CommError("MPI granted thread level " + std::to_string(level) +
                      "; the MPI backend calls MPI from its comm thread and needs at least "
                      "MPI_THREAD_SERIALIZED");
    }
    board_ = MpiArrivalBoard::create(side_comm_);
  }

  void teardown() {
    bool orderly;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      orderly = orderly_ && !failure_;
    }
    if (!orderly) {
      if (board_) board_->abandon();
      board_.reset();
      return;
    }
    board_.reset();  // collective: every rank destroys its communicator in the same order
    MPI_Comm_free(&side_comm_);
    MPI_Comm_free(&data_comm_);
  }

  void idleProgress() {
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, side_comm_, &flag, MPI_STATUS_IGNORE);
  }

  void execute(Task& task) {
    if (board_) board_->arrive(task.seq, task.c.kind);
    if (failure_) {
      task.work->fail(failure_);
      return;
    }
    try {
      task.work->started();
      std::unique_ptr<MpiOp> op = makeOp(task.c, task.seq);
      const auto start = Clock::now();
      const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options_.timeout_seconds));
      op->start();
      while (!op->poll()) {
        auto now = Clock::now();
        if (now > deadline) onTimeout(task);
        if (now - start < kBusyPoll) {
          std::this_thread::yield();
        } else {
          std::this_thread::sleep_for(kSleepPoll);
        }
      }
      finishTask(task.c);
      task.work->complete();
    } catch (const CommError& e) {
      failure_ =
          std::make_exception_ptr(CommError(e.what(), task.c.name(), task.seq, rank_, host_));
      task.work->fail(failure_);
    } catch (...) {
      failure_ = std::current_exception();
      task.work->fail(failure_);
    }
  }

  // The collective as an MpiOp over data_comm_: a ring for the reducing and gathering kinds.
  std::unique_ptr<MpiOp> makeOp(const Collective& c, uint64_t seq) {
    const size_t elem = dtypeBytes(c.dtype);
    const size_t block = c.count * elem;
    char* recv = static_cast<char*>(c.recv);
    RingSpec spec = ringSpec(c, seq);
    switch (c.kind) {
      case CollectiveKind::kBarrier:
        return makeBarrierOp(data_comm_);
      case CollectiveKind::kBroadcast:
        return makeBroadcastOp(data_comm_, recv, block, c.root);
      case CollectiveKind::kAllReduce:
        spec.buffer = recv;
        spec.counts = evenChunks(c.count, size_);
        spec.scratch = reserve(scratch_, spec.counts.empty() ? 0 : spec.counts[0] * elem);
        return makeRingOp(spec);
      case CollectiveKind::kReduceScatter:
        // The ring reduces in place, so it works on a copy of send; rank r keeps block r
        // (finishTask copies it out). Empty collectives may pass null buffers.
        spec.buffer = reserve(staging_, block * static_cast<size_t>(size_));
        if (block > 0) std::memcpy(spec.buffer, c.send, block * static_cast<size_t>(size_));
        spec.counts.assign(static_cast<size_t>(size_), c.count);
        spec.all_gather = false;
        spec.scratch = reserve(scratch_, block);
        return makeRingOp(spec);
      case CollectiveKind::kAllGather: {
        char* mine = recv + static_cast<size_t>(rank_) * block;
        if (c.send != mine && block > 0) std::memmove(mine, c.send, block);
        spec.buffer = recv;
        spec.counts.assign(static_cast<size_t>(size_), c.count);
        spec.reduce_scatter = false;
        return makeRingOp(spec);
      }
    }
    throw CommError("unknown collective");
  }

  RingSpec ringSpec(const Collective& c, uint64_t seq) const {
    RingSpec spec;
    spec.comm = data_comm_;
    spec.rank = rank_;
    spec.size = size_;
    spec.tag = static_cast<int>(seq % 32768);  // MPI guarantees tags up to 32767
    spec.dtype = c.dtype;
    spec.op = c.op;
    spec.segment_bytes = kSegmentBytes;
    return spec;
  }

  void finishTask(const Collective& c) {
    const size_t bytes = c.recvBytes(size_);
    if (c.kind == CollectiveKind::kReduceScatter && bytes > 0) {
      std::memcpy(c.recv, staging_.data() + static_cast<size_t>(rank_) * bytes, bytes);
    }
  }

  static char* reserve(std::vector<char>& v, size_t bytes) {
    if (v.size() < bytes) v.resize(bytes);
    return v.data();
  }

  [[noreturn]] void onTimeout(const Task& t) {
    std::vector<Arrival> arrivals;
    if (board_) arrivals = board_->read(kBoardReadSeconds);
    endJob(formatTimeoutMessage(rank_, host_, t.c.kind, t.seq, options_.timeout_seconds, arrivals));
  }

  CommOptions options_;
  std::string host_;
  int rank_ = 0;
  int size_ = 1;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  std::atomic<uint64_t> issued_{0};
  std::atomic<size_t> pending_{0};  // queue_.size(), readable without the lock
  bool stop_ = false;
  bool orderly_ = true;
  bool ready_ = false;
  std::exception_ptr setup_error_;
  // Comm thread only.
  MPI_Comm data_comm_ = MPI_COMM_NULL;
  MPI_Comm side_comm_ = MPI_COMM_NULL;  // the arrival board's, so its traffic never meets data's
  std::unique_ptr<MpiArrivalBoard> board_;
  std::vector<char> scratch_;
  std::vector<char> staging_;
  std::exception_ptr failure_;  // sticky: after one failure every later collective fails
};

}  // namespace

std::unique_ptr<Communicator> makeMpiCommunicator(const CommOptions& options,
                                                  const RunContext& ctx) {
  if (!MpiSession::active()) {
    throw CommError(
        "the mpi backend needs MPI: launch under mpirun (or srun --mpi=pmix) and create "
        "an MpiSession in main");
  }
  return std::make_unique<MpiCommunicator>(options, ctx);
}

}  // namespace l2face::comm
