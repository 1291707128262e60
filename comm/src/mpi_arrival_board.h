// The arrival board on an MPI one-sided window: each rank's latest collective, readable remotely.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>

#include "l2face/comm/internal/watchdog.h"

namespace l2face::comm {

// Each rank exposes {sequence, op} in a window on its own duplicated communicator; arrive() is a
// local atomic store, read() fetches every rank's pair with MPI_Rget. With shared memory (one
// node) the reads need nothing from the target; across nodes the target must be making MPI
// progress, and a rank that is not (stuck outside MPI, hence not in the collective) shows up as
// not responding. Creation and destruction are collective over comm. Made and used on the thread
// that makes the MPI calls.
class MpiArrivalBoard final : public ArrivalBoard {
 public:
  // nullptr when the window cannot be created (the report then says "unknown").
  static std::unique_ptr<MpiArrivalBoard> create(MPI_Comm comm);
  ~MpiArrivalBoard() override;
  void arrive(uint64_t sequence, CollectiveKind op) override;
  std::vector<Arrival> read(double budget_seconds) override;
  // Leaves the window to process exit (used when tearing down after a failure, where freeing it
  // would wait for the other ranks).
  void abandon() { abandoned_ = true; }

 private:
  MpiArrivalBoard(MPI_Comm comm, MPI_Win win, int64_t* slots, int rank, int size);

  MPI_Comm comm_;
  MPI_Win win_;
  int64_t* slots_;  // {sequence, op} of this rank, inside the window
  int rank_;
  int size_;
  bool abandoned_ = false;
  // Rget targets live as long as the board: an unfinished read may still land after read() gives
  // up.
  std::unique_ptr<int64_t[]> remote_;
};

}  // namespace l2face::comm
