// Factory of the NCCL backend (only compiled with CUDA and NCCL).
#pragma once

#include <memory>

#include "l2face/comm/communicator.h"
#include "l2face/comm/internal/store_communicator.h"

namespace l2face::comm {

// One CUDA device per rank (L2FACE_GPU, else local_rank modulo the visible devices; see
// cudaDeviceForRank). The unique id travels over MPI when a session is active, else over the TCP
// store (L2FACE_MASTER_ADDR/PORT, JOB_TOKEN): `store` when given (the control plane's), else one
// opened for it. Joining the communicator ends with CommError after comm.timeout_seconds, naming
// the ranks that did not arrive.
std::unique_ptr<Communicator> makeNcclCommunicator(const CommOptions& options,
                                                   const RunContext& ctx,
                                                   std::shared_ptr<JobStore> store = nullptr);

}  // namespace l2face::comm
