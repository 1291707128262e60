// How NCCL ranks find each other and post arrivals: over MPI, over the TCP store, or alone.
#pragma once

#include <cstddef>
#include <memory>

#include "l2face/comm/internal/store_communicator.h"
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

// A world of one needs nothing; otherwise MPI when an MpiSession is active, else the TCP store:
// `store` when given (shared with the control plane), else one opened here (rank 0 serves it on
// L2FACE_MASTER_PORT). Waiting for the unique id ends with CommError after timeout_seconds.
std::unique_ptr<NcclBootstrap> makeNcclBootstrap(const RunContext& ctx, double timeout_seconds,
                                                 std::shared_ptr<JobStore> store = nullptr);

}  // namespace l2face::comm
