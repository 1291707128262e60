// How NCCL ranks find each other and post arrivals: over MPI, over the TCP store, or alone.
#pragma once

#include <cstddef>
#include <memory>

#include "l2face/comm/internal/watchdog.h"
#include "l2face/comm/run_context.h"

namespace l2face::comm {

// Thread-safety: construction and broadcastFrom0 on the owner thread; board() and progress() from
// the owner's watchdog thread afterwards.
class NcclBootstrap {
 public:
  virtual ~NcclBootstrap() = default;
  // A collective: rank 0's bytes are copied to every rank.
  virtual void broadcastFrom0(void* data, size_t bytes) = 0;
  virtual ArrivalBoard& board() = 0;
  // Lets the side channel make progress (MPI one-sided reads need the target to call MPI).
  virtual void progress() {}
};

// A world of one needs nothing; otherwise MPI when an MpiSession is active, else the TCP store
// (rank 0 serves it on L2FACE_MASTER_PORT).
std::unique_ptr<NcclBootstrap> makeNcclBootstrap(const RunContext& ctx, double timeout_seconds);

}  // namespace l2face::comm
