// RunContext: who this process is in the job (rank, world, local rank) and where it writes.
#pragma once

#include <string>

namespace l2face::comm {

// Plain value, set once by launch and passed by reference; no process-global state.
struct RunContext {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string host;
  std::string run_dir;
  bool isLeader() const { return rank == 0; }
};

// Fills rank/world/local rank from launcher variables (OMPI_COMM_WORLD_*, SLURM_*, L2FACE_*),
// defaulting to a world of one; host from gethostname().
RunContext runContextFromEnvironment();

}  // namespace l2face::comm
