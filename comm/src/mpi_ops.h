// Collectives as non-blocking MPI point-to-point state machines, polled by the comm thread.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <vector>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// One collective in flight. start() posts its first messages, poll() advances without blocking
// and returns true once complete; both throw CommError on an MPI error. Polling (instead of a
// blocking call) is what lets the comm thread enforce the watchdog's timeout.
class MpiOp {
 public:
  virtual ~MpiOp() = default;
  virtual void start() = 0;
  virtual bool poll() = 0;
};

// Throws CommError with MPI's text for rc != MPI_SUCCESS.
void checkMpi(int rc, const char* call);

// A ring over the ranks of comm on a buffer split into size() chunks (chunk r has counts[r]
// elements; chunks are contiguous and in rank order):
//  reduce-scatter: size()-1 steps; in step s rank r sends its partial of chunk (r-s-1) to r+1 and
//    reduces chunk (r-s-2) received from r-1 into its own, so that rank r ends holding chunk r
//    reduced over all ranks (then divided by size() for kAvg);
//  all-gather: size()-1 steps; in step s rank r sends chunk (r-s) and receives chunk (r-s-1).
// Each chunk travels in segments, so that a received segment is reduced while it is still in
// cache and the next ones are in flight. All ranks see bit-identical results: each chunk is
// reduced in one place and then copied.
struct RingSpec {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  int tag = 0;
  char* buffer = nullptr;  // all chunks, reduced in place
  std::vector<size_t> counts;
  DType dtype = DType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  bool reduce_scatter = true;
  bool all_gather = true;
  char* scratch = nullptr;  // at least the largest chunk, for incoming partials
  size_t segment_bytes = size_t{1} << 20;
};

std::unique_ptr<MpiOp> makeRingOp(const RingSpec& spec);

// An op made of MPI requests posted at once (non-blocking broadcast pieces, barrier).
std::unique_ptr<MpiOp> makeBroadcastOp(MPI_Comm comm, char* data, size_t bytes, int root);
std::unique_ptr<MpiOp> makeBarrierOp(MPI_Comm comm);

// counts of count elements split into n near-equal chunks, the larger ones first.
std::vector<size_t> evenChunks(size_t count, int n);

}  // namespace l2face::comm
