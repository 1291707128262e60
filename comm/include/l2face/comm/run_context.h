// RunContext: who this process is in the job (rank, world, local rank, GPU) and where it writes.
#pragma once

#include <functional>
#include <string>

namespace l2face::comm {

// Plain value, set once by launch and passed by reference; no process-global state.
struct RunContext {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // rank among the ranks on this host
  int local_size = 1;  // ranks on this host (intra-op threads are divided by it)
  // CUDA device index (among the visible ones) this rank uses when it computes on a GPU:
  // L2FACE_GPU when set, else local_rank (see cudaDeviceForRank).
  int gpu = 0;
  bool gpu_overridden = false;  // gpu came from L2FACE_GPU
  std::string host;
  std::string run_dir;
  // How rank/world and local rank/size were found, for `l2face doctor` and error messages:
  // "mpi", "L2FACE_*", "OMPI_COMM_WORLD_*", "SLURM_*", "PMIX_RANK", "default (one process)";
  // local: "L2FACE_LOCAL_*", "OMPI_COMM_WORLD_LOCAL_*", "SLURM_LOCALID", "mpi (shared-memory
  // split)", "assumed (all ranks on one host)".
  std::string source = "default (one process)";
  std::string local_source = "default (one process)";
  bool isLeader() const { return rank == 0; }
};

// Rank and size of MPI_COMM_WORLD and, when asked, the ranks sharing this node; for
// runContextFromVariables. local_rank/local_size are -1 when not computed.
struct MpiGeometry {
  int rank = 0;
  int size = 1;
  int local_rank = -1;
  int local_size = -1;
};

// Reads the job geometry. Rank and world size, first source that applies:
//   1. MPI, when an MpiSession is active (mpirun, srun --mpi=pmix); L2FACE_RANK/L2FACE_WORLD_SIZE
//      that disagree with it are an error (a stale export);
//   2. L2FACE_RANK + L2FACE_WORLD_SIZE (jobs started without MPI, e.g. with the TCP store);
//   3. OMPI_COMM_WORLD_RANK + OMPI_COMM_WORLD_SIZE;
//   4. SLURM_PROCID + SLURM_STEP_NUM_TASKS (or SLURM_NTASKS), only inside an srun step
//      (SLURM_STEP_ID set): the batch script itself also carries SLURM_PROCID=0 and SLURM_NTASKS;
//   5. PMIX_RANK with the world size from one of the above families;
//   6. a world of one.
// Local rank and size: L2FACE_LOCAL_RANK + L2FACE_LOCAL_SIZE; OMPI_COMM_WORLD_LOCAL_RANK +
// OMPI_COMM_WORLD_LOCAL_SIZE; SLURM_LOCALID with SLURM_STEP_TASKS_PER_NODE / SLURM_NTASKS_PER_NODE
// / SLURM_TASKS_PER_NODE ("2(x3),1" forms, indexed by SLURM_NODEID); under MPI the ranks sharing
// memory with this one (MPI_Comm_split_type); else every rank on one host.
// GPU: L2FACE_GPU, else the local rank. Host: gethostname().
// Throws CommError on a malformed or inconsistent value, naming the variable.
// Collective only when MPI is active and no variable gives the local rank (then it must be called
// on every rank, as every caller in l2face does).
RunContext runContextFromEnvironment();

// The same rules over any variable lookup (nullptr = unset) and an optional MPI geometry; for
// tests and for runContextFromEnvironment. Host is left empty.
RunContext runContextFromVariables(const std::function<const char*(const char*)>& lookup,
                                   const MpiGeometry* mpi);

// Tasks on node `node` of a SLURM tasks-per-node list ("4", "2(x3),1"); -1 when the text is
// malformed or the node is not in the list.
int slurmTasksOnNode(const std::string& list, int node);

// The CUDA device this rank should use among `visible` devices: ctx.gpu when it was overridden
// (CommError when it is not below `visible`), else ctx.local_rank modulo `visible`; -1 when
// visible is 0.
int cudaDeviceForRank(const RunContext& ctx, int visible);

// Makes cudaDeviceForRank(ctx, visible devices) the calling thread's current CUDA device, so that
// the default CUDA device of later work (torch's "cuda") is this rank's own. Returns the device,
// or -1 without CUDA devices (or in a build without CUDA). makeCommunicator calls it.
int selectCudaDevice(const RunContext& ctx);

}  // namespace l2face::comm
