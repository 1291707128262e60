// Reads the job geometry from the variables that mpirun, srun and l2face's own launcher set.
#include "l2face/comm/run_context.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "l2face/comm/communicator.h"

namespace l2face::comm {
namespace {

// First variable of the list that is set, parsed as a non-negative int; -1 when none is set.
int firstInt(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    long x = std::strtol(v, &end, 10);
    if (*end != '\0' || x < 0 || x > 1 << 24) {
      throw CommError(std::string("environment variable ") + name + "='" + v +
                      "' is not a non-negative integer");
    }
    return static_cast<int>(x);
  }
  return -1;
}

}  // namespace

RunContext runContextFromEnvironment() {
  RunContext ctx;
  int r = firstInt({"L2FACE_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"});
  int w = firstInt({"L2FACE_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"});
  int lr = firstInt({"L2FACE_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"});
  int ls = firstInt({"L2FACE_LOCAL_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"});
  if (r >= 0) ctx.rank = r;
  if (w >= 1) ctx.world_size = w;
  ctx.local_rank = lr >= 0 ? lr : ctx.rank;
  ctx.local_size = ls >= 1 ? ls : ctx.world_size;
  if (ctx.rank >= ctx.world_size) {
    throw CommError("rank " + std::to_string(ctx.rank) + " >= world size " +
                    std::to_string(ctx.world_size) + " (check the launcher's variables)");
  }
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) == 0) ctx.host = name;
  return ctx;
}

}  // namespace l2face::comm
