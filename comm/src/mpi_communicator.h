// Factory of the MPI backend (only compiled when MPI is found).
#pragma once

#include <memory>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// Needs an active MpiSession; checks that MPI's rank and size match ctx.
std::unique_ptr<Communicator> makeMpiCommunicator(const CommOptions& options,
                                                  const RunContext& ctx);

}  // namespace l2face::comm
