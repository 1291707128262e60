// The ranks of an `l2face eval` job: who this process is and how embedded rows are gathered.
#pragma once

#include <memory>

#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/eval/shards.h"

namespace l2face::launch {

// One process: world 1, no communicator. Under mpirun/srun with more ranks: a host (MPI)
// communicator, which also makes the rank's CUDA device (local rank, or L2FACE_GPU) current, and
// shards whose gather all-gathers each rank's rows (padded to the largest share, then trimmed).
// A world of several ranks without MPI throws std::invalid_argument. Collective.
struct EvalJob {
  comm::RunContext ctx;
  std::unique_ptr<comm::Communicator> comm;
  eval::EmbedShards shards;

  bool leader() const { return ctx.isLeader(); }
};

EvalJob makeEvalJob();

}  // namespace l2face::launch
