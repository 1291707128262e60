// Reads the job geometry from MPI and from the variables that mpirun, srun and l2face's own
// launchers set (precedence in run_context.h).
#include "l2face/comm/run_context.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "l2face/comm/errors.h"
#include "l2face/comm/mpi_session.h"

#ifdef L2FACE_HAVE_MPI
#include <mpi.h>
#endif

namespace l2face::comm {
namespace {

using Lookup = std::function<const char*(const char*)>;

// The variable parsed as a non-negative int; -1 when unset or empty.
int readInt(const Lookup& env, const char* name) {
  const char* v = env(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 24) {
    throw CommError(std::string("environment variable ") + name + "='" + v +
                    "' is not a non-negative integer");
  }
  return static_cast<int>(x);
}

bool isSet(const Lookup& env, const char* name) {
  const char* v = env(name);
  return v != nullptr && *v != '\0';
}

// Both of a (rank, size) pair, or neither: one without the other is a launcher mistake.
bool readPair(const Lookup& env, const char* rank_name, const char* size_name, int& rank,
              int& size) {
  int r = readInt(env, rank_name);
  int s = readInt(env, size_name);
  if (r < 0 && s < 0) return false;
  if (r < 0 || s < 0) {
    throw CommError(std::string(r < 0 ? size_name : rank_name) + " is set but " +
                    (r < 0 ? rank_name : size_name) + " is not: set both (or neither)");
  }
  rank = r;
  size = s;
  return true;
}

// Inside an srun step every task has SLURM_STEP_ID; the batch script itself does not.
bool inSlurmStep(const Lookup& env) {
  return isSet(env, "SLURM_STEP_ID") && isSet(env, "SLURM_PROCID");
}

int slurmWorld(const Lookup& env) {
  int w = readInt(env, "SLURM_STEP_NUM_TASKS");
  return w >= 0 ? w : readInt(env, "SLURM_NTASKS");
}

// Tasks of this node in the SLURM step: the step's list first (what srun launched), then the
// job's uniform --ntasks-per-node, then the job's list.
int slurmLocalSize(const Lookup& env) {
  int node = readInt(env, "SLURM_NODEID");
  const char* step = env("SLURM_STEP_TASKS_PER_NODE");
  if (step != nullptr && *step != '\0' && node >= 0) {
    int n = slurmTasksOnNode(step, node);
    if (n >= 1) return n;
  }
  int n = readInt(env, "SLURM_NTASKS_PER_NODE");
  if (n >= 1) return n;
  const char* job = env("SLURM_TASKS_PER_NODE");
  if (job != nullptr && *job != '\0' && node >= 0) return slurmTasksOnNode(job, node);
  return -1;
}

void findRankAndWorld(const Lookup& env, const MpiGeometry* mpi, RunContext& ctx) {
  int r = -1, w = -1;
  if (mpi != nullptr) {
    ctx.rank = mpi->rank;
    ctx.world_size = mpi->size;
    ctx.source = "mpi";
    if (readPair(env, "L2FACE_RANK", "L2FACE_WORLD_SIZE", r, w) &&
        (r != mpi->rank || w != mpi->size)) {
      throw CommError("L2FACE_RANK=" + std::to_string(r) +
                      " L2FACE_WORLD_SIZE=" + std::to_string(w) + " disagree with MPI (rank " +
                      std::to_string(mpi->rank) + " of " + std::to_string(mpi->size) +
                      "): unset them when launching with mpirun or srun");
    }
    return;
  }
  if (readPair(env, "L2FACE_RANK", "L2FACE_WORLD_SIZE", r, w)) {
    ctx.source = "L2FACE_*";
  } else if (readPair(env, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", r, w)) {
    ctx.source = "OMPI_COMM_WORLD_*";
  } else if (inSlurmStep(env)) {
    r = readInt(env, "SLURM_PROCID");
    w = slurmWorld(env);
    if (w < 0)
      throw CommError("SLURM_PROCID is set but neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS");
    ctx.source = "SLURM_*";
  } else if (isSet(env, "PMIX_RANK")) {
    r = readInt(env, "PMIX_RANK");
    w = slurmWorld(env);
    if (w < 0) {
      throw CommError("PMIX_RANK=" + std::to_string(r) +
                      " is set but no variable gives the world size: this l2face was built "
                      "without MPI, which a PMIx launch needs");
    }
    ctx.source = "PMIX_RANK";
  } else {
    return;  // a world of one
  }
  if (w < 1)
    throw CommError("world size " + std::to_string(w) + " (" + ctx.source + ") must be >= 1");
  ctx.rank = r;
  ctx.world_size = w;
}

void findLocal(const Lookup& env, const MpiGeometry* mpi, RunContext& ctx) {
  int lr = -1, ls = -1;
  if (readPair(env, "L2FACE_LOCAL_RANK", "L2FACE_LOCAL_SIZE", lr, ls)) {
    ctx.local_source = "L2FACE_LOCAL_*";
  } else if (readPair(env, "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", lr, ls)) {
    ctx.local_source = "OMPI_COMM_WORLD_LOCAL_*";
  } else if (inSlurmStep(env) && isSet(env, "SLURM_LOCALID") && slurmLocalSize(env) >= 1) {
    lr = readInt(env, "SLURM_LOCALID");
    ls = slurmLocalSize(env);
    ctx.local_source = "SLURM_LOCALID";
  } else if (mpi != nullptr && mpi->local_rank >= 0 && mpi->local_size >= 1) {
    lr = mpi->local_rank;
    ls = mpi->local_size;
    ctx.local_source = "mpi (shared-memory split)";
  } else if (ctx.world_size == 1) {
    lr = 0;
    ls = 1;
    ctx.local_source = "default (one process)";
  } else {
    lr = ctx.rank;
    ls = ctx.world_size;
    ctx.local_source = "assumed (all ranks on one host)";
  }
  if (ls < 1 || lr >= ls || ls > ctx.world_size) {
    throw CommError("local rank " + std::to_string(lr) + " of " + std::to_string(ls) + " (" +
                    ctx.local_source + ") is inconsistent with rank " + std::to_string(ctx.rank) +
                    " of " + std::to_string(ctx.world_size) + " (" + ctx.source + ")");
  }
  ctx.local_rank = lr;
  ctx.local_size = ls;
}

// Ranks on this node, without communicating, when a variable gives them: only otherwise does the
// caller pay for the collective split.
[[maybe_unused]] bool localRankKnown(const Lookup& env) {
  return (isSet(env, "L2FACE_LOCAL_RANK") && isSet(env, "L2FACE_LOCAL_SIZE")) ||
         (isSet(env, "OMPI_COMM_WORLD_LOCAL_RANK") && isSet(env, "OMPI_COMM_WORLD_LOCAL_SIZE")) ||
         (inSlurmStep(env) && isSet(env, "SLURM_LOCALID") && slurmLocalSize(env) >= 1);
}

}  // namespace

int slurmTasksOnNode(const std::string& list, int node) {
  // Comma-separated groups "N" or "N(xK)": K consecutive nodes with N tasks each.
  if (node < 0) return -1;
  size_t pos = 0;
  int first = 0;
  while (pos < list.size()) {
    size_t comma = list.find(',', pos);
    std::string item =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? list.size() : comma + 1;
    size_t used = 0;
    int tasks = 0, repeat = 1;
    try {
      tasks = std::stoi(item, &used);
      if (used < item.size()) {
        if (item.compare(used, 2, "(x") != 0 || item.back() != ')') return -1;
        size_t used2 = 0;
        std::string count = item.substr(used + 2, item.size() - used - 3);
        repeat = std::stoi(count, &used2);
        if (used2 != count.size()) return -1;
      }
    } catch (const std::exception&) {
      return -1;
    }
    if (tasks < 0 || repeat < 1) return -1;
    if (node < first + repeat) return tasks;
    first += repeat;
  }
  return -1;
}

RunContext runContextFromVariables(const Lookup& env, const MpiGeometry* mpi) {
  RunContext ctx;
  findRankAndWorld(env, mpi, ctx);
  if (ctx.rank >= ctx.world_size) {
    throw CommError("rank " + std::to_string(ctx.rank) + " >= world size " +
                    std::to_string(ctx.world_size) + " (" + ctx.source +
                    "; check the launcher's variables)");
  }
  findLocal(env, mpi, ctx);
  int gpu = readInt(env, "L2FACE_GPU");
  ctx.gpu_overridden = gpu >= 0;
  ctx.gpu = ctx.gpu_overridden ? gpu : ctx.local_rank;
  return ctx;
}

RunContext runContextFromEnvironment() {
  const Lookup env = [](const char* name) { return std::getenv(name); };
  MpiGeometry geometry;
  const MpiGeometry* mpi = nullptr;
#ifdef L2FACE_HAVE_MPI
  if (MpiSession::active()) {
    MPI_Comm_rank(MPI_COMM_WORLD, &geometry.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &geometry.size);
    if (!localRankKnown(env)) {
      // Collective: every rank of a launch sees the same kind of variables, so all come here.
      MPI_Comm node = MPI_COMM_NULL;
      if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, geometry.rank, MPI_INFO_NULL,
                              &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &geometry.local_rank);
        MPI_Comm_size(node, &geometry.local_size);
        MPI_Comm_free(&node);
      }
    }
    mpi = &geometry;
  }
#endif
  RunContext ctx = runContextFromVariables(env, mpi);
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) == 0) ctx.host = name;
  return ctx;
}

int cudaDeviceForRank(const RunContext& ctx, int visible) {
  if (visible <= 0) return -1;
  if (ctx.gpu_overridden) {
    if (ctx.gpu >= visible) {
      throw CommError("L2FACE_GPU=" + std::to_string(ctx.gpu) + " but only " +
                      std::to_string(visible) + " CUDA device(s) are visible on " + ctx.host);
    }
    return ctx.gpu;
  }
  return ctx.local_rank % visible;
}

}  // namespace l2face::comm
