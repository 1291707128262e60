// NCCL bootstraps: the unique id over MPI_Bcast or the TCP store, and the matching arrival board.
#include "nccl_bootstrap.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "l2face/comm/errors.h"
#include "l2face/comm/internal/store_arrival_board.h"
#include "l2face/comm/internal/store_communicator.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/comm/tcp_store.h"

#ifdef L2FACE_HAVE_MPI
#include <mpi.h>

#include "mpi_arrival_board.h"
#endif

namespace l2face::comm {
namespace {

// For a world of one: this rank is the only one, and it is always present.
class SelfBoard final : public ArrivalBoard {
 public:
  void arrive(uint64_t sequence, CollectiveKind op) override {
    seq_ = sequence;
    op_ = static_cast<int>(op);
  }
  std::vector<Arrival> read(double) override { return {Arrival{0, seq_.load(), op_.load(), true}}; }

 private:
  std::atomic<uint64_t> seq_{0};
  std::atomic<int> op_{0};
};

// Used when no side channel could be set up: reports say "unknown".
class NoBoard final : public ArrivalBoard {
 public:
  void arrive(uint64_t, CollectiveKind) override {}
  std::vector<Arrival> read(double) override { return {}; }
};

class SelfBootstrap final : public NcclBootstrap {
 public:
  void broadcastFrom0(void*, size_t) override {}
  ArrivalBoard& board() override { return board_; }

 private:
  SelfBoard board_;
};

#ifdef L2FACE_HAVE_MPI
class MpiBootstrap final : public NcclBootstrap {
 public:
  explicit MpiBootstrap(double timeout_seconds) : timeout_seconds_(timeout_seconds) {
    if (MPI_Comm_dup(MPI_COMM_WORLD, &comm_) != MPI_SUCCESS) {
      throw CommError("NCCL bootstrap: MPI_Comm_dup failed");
    }
    board_ = MpiArrivalBoard::create(comm_);
    int level = 0;
    MPI_Query_thread(&level);
    // The watchdog thread may call MPI while another thread (an mpi communicator) does too.
    concurrent_ok_ = level == MPI_THREAD_MULTIPLE;
  }
  ~MpiBootstrap() override {
    if (std::uncaught_exceptions() > 0) {
      if (board_) board_->abandon();  // freeing it would wait for the other ranks
      return;
    }
    board_.reset();
    MPI_Comm_free(&comm_);
  }
  // Non-blocking broadcast polled under the deadline: a rank 0 that never sends ends in an error.
  void broadcastFrom0(void* data, size_t bytes) override {
    MPI_Request req = MPI_REQUEST_NULL;
    if (MPI_Ibcast(data, static_cast<int>(bytes), MPI_BYTE, 0, comm_, &req) != MPI_SUCCESS) {
      throw CommError("NCCL bootstrap: MPI_Ibcast of the unique id failed");
    }
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(timeout_seconds_));
    for (int done = 0; !done;) {
      if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        throw CommError("NCCL bootstrap: the broadcast of the unique id failed");
      }
      if (!done && std::chrono::steady_clock::now() > deadline) {
        throw CommError("NCCL bootstrap: the unique id did not arrive from rank 0 within " +
                        std::to_string(timeout_seconds_) + " s");
      }
      if (!done) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  ArrivalBoard& board() override {
    if (board_) return *board_;
    return none_;
  }
  void progress() override {
    if (!concurrent_ok_) return;
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, MPI_STATUS_IGNORE);
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::unique_ptr<MpiArrivalBoard> board_;
  NoBoard none_;
  bool concurrent_ok_ = false;
  double timeout_seconds_;
};
#endif

class StoreBootstrap final : public NcclBootstrap {
 public:
  StoreBootstrap(const RunContext& ctx, std::shared_ptr<JobStore> store)
      : rank_(ctx.rank), store_(std::move(store)) {
    board_ = std::make_unique<StoreArrivalBoard>(store_->client, ctx.rank, ctx.world_size);
  }
  // The client's requests wait at most comm.timeout_seconds (openJobStore), the unique id too.
  void broadcastFrom0(void* data, size_t bytes) override {
    const std::string key = "l2face/nccl/unique_id";
    if (rank_ == 0) {
      store_->client->set(key, std::string(static_cast<const char*>(data), bytes));
      return;
    }
    std::string v = store_->client->get(key);
    if (v.size() != bytes) throw CommError("NCCL bootstrap: unique id of the wrong size in store");
    std::memcpy(data, v.data(), bytes);
  }
  ArrivalBoard& board() override { return *board_; }

 private:
  int rank_ = 0;
  std::shared_ptr<JobStore> store_;  // outlives the board
  std::unique_ptr<StoreArrivalBoard> board_;
};

}  // namespace

std::unique_ptr<NcclBootstrap> makeNcclBootstrap(const RunContext& ctx, double timeout_seconds,
                                                 std::shared_ptr<JobStore> store) {
  if (ctx.world_size == 1) return std::make_unique<SelfBootstrap>();
#ifdef L2FACE_HAVE_MPI
  if (MpiSession::active()) return std::make_unique<MpiBootstrap>(timeout_seconds);
#endif
  if (!store) store = openJobStore(ctx, timeout_seconds);
  return std::make_unique<StoreBootstrap>(ctx, std::move(store));
}

}  // namespace l2face::comm
