// The MPI arrival board: a two-int64 window per rank, written locally, read with MPI_Rget.
#include "mpi_arrival_board.h"

#include <chrono>
#include <thread>
#include <vector>

namespace l2face::comm {

std::unique_ptr<MpiArrivalBoard> MpiArrivalBoard::create(MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int64_t* slots = nullptr;
  MPI_Win win = MPI_WIN_NULL;
  if (MPI_Win_allocate(2 * sizeof(int64_t), sizeof(int64_t), MPI_INFO_NULL, comm, &slots, &win) !=
      MPI_SUCCESS) {
    return nullptr;
  }
  MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
  slots[0] = slots[1] = 0;
  // One passive-target epoch for the board's whole life: reads need no lock traffic.
  if (MPI_Win_lock_all(MPI_MODE_NOCHECK, win) != MPI_SUCCESS) {
    MPI_Win_free(&win);
    return nullptr;
  }
  return std::unique_ptr<MpiArrivalBoard>(new MpiArrivalBoard(comm, win, slots, rank, size));
}

MpiArrivalBoard::MpiArrivalBoard(MPI_Comm comm, MPI_Win win, int64_t* slots, int rank, int size)
    : comm_(comm),
      win_(win),
      slots_(slots),
      rank_(rank),
      size_(size),
      remote_(new int64_t[2 * static_cast<size_t>(size)]()) {}

MpiArrivalBoard::~MpiArrivalBoard() {
  if (abandoned_) return;
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
}

void MpiArrivalBoard::arrive(uint64_t sequence, CollectiveKind op) {
  // The window is in the unified memory model on the platforms we run on (shared memory and RDMA
  // NICs), so a plain atomic store is what remote MPI_Get observes.
  __atomic_store_n(&slots_[1], static_cast<int64_t>(op), __ATOMIC_RELAXED);
  __atomic_store_n(&slots_[0], static_cast<int64_t>(sequence), __ATOMIC_RELEASE);
}

std::vector<Arrival> MpiArrivalBoard::read(double budget_seconds) {
  std::vector<Arrival> out(static_cast<size_t>(size_));
  std::vector<MPI_Request> requests(static_cast<size_t>(size_), MPI_REQUEST_NULL);
  for (int r = 0; r < size_; ++r) {
    out[static_cast<size_t>(r)].rank = r;
    if (r == rank_) continue;
    if (MPI_Rget(&remote_[2 * static_cast<size_t>(r)], 2, MPI_INT64_T, r, 0, 2, MPI_INT64_T, win_,
                 &requests[static_cast<size_t>(r)]) != MPI_SUCCESS) {
      requests[static_cast<size_t>(r)] = MPI_REQUEST_NULL;
      out[static_cast<size_t>(r)].responsive = false;
    }
  }
  std::vector<bool> done(static_cast<size_t>(size_), false);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(budget_seconds);
  for (;;) {
    bool all = true;
    for (int r = 0; r < size_; ++r) {
      size_t i = static_cast<size_t>(r);
      if (r == rank_ || done[i] || !out[i].responsive) continue;
      int flag = 0;
      if (MPI_Test(&requests[i], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        out[i].responsive = false;
        continue;
      }
      if (flag) {
        done[i] = true;
        out[i].sequence = static_cast<uint64_t>(remote_[2 * i]);
        out[i].op = static_cast<int>(remote_[2 * i + 1]);
      } else {
        all = false;
      }
    }
    if (all || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  for (int r = 0; r < size_; ++r) {
    size_t i = static_cast<size_t>(r);
    if (r == rank_) {
      out[i].sequence = static_cast<uint64_t>(__atomic_load_n(&slots_[0], __ATOMIC_ACQUIRE));
      out[i].op = static_cast<int>(__atomic_load_n(&slots_[1], __ATOMIC_RELAXED));
    } else if (!done[i]) {
      out[i].responsive = false;
    }
  }
  return out;
}

}  // namespace l2face::comm
