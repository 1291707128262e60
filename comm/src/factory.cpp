// makeCommunicator: picks the backend for the job (auto rules in options.h) and builds it.
#include <string>

#include "cuda_util.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/mpi_session.h"

#ifdef L2FACE_HAVE_MPI
#include "mpi_communicator.h"
#endif
#ifdef L2FACE_HAVE_NCCL
#include "nccl_communicator.h"
#endif

namespace l2face::comm {
namespace {

Backend chooseAuto(const RunContext& ctx) {
  // A world of one needs no communication at all, whatever the device.
  if (ctx.world_size == 1) return Backend::kLocal;
#ifdef L2FACE_HAVE_NCCL
  if (cudaDeviceCountOrZero() > 0) return Backend::kNccl;
#endif
  if (MpiSession::active()) return Backend::kMpi;
  throw CommError("a world of " + std::to_string(ctx.world_size) +
                  " ranks launched without mpirun and without a CUDA device has no backend: launch "
                  "under mpirun (or srun --mpi=pmix) for the mpi backend");
}

}  // namespace

std::unique_ptr<Communicator> makeCommunicator(const CommOptions& options, const RunContext& ctx) {
  if (!(options.timeout_seconds > 0)) {
    throw CommError("comm.timeout_seconds must be positive, got " +
                    std::to_string(options.timeout_seconds));
  }
  Backend b = options.backend == Backend::kAuto ? chooseAuto(ctx) : options.backend;
  switch (b) {
    case Backend::kLocal:
      if (ctx.world_size != 1) {
        throw CommError("comm.backend local runs a world of 1, but this job has " +
                        std::to_string(ctx.world_size) + " ranks");
      }
      return makeLocalCommunicator();
    case Backend::kMpi:
#ifdef L2FACE_HAVE_MPI
      return makeMpiCommunicator(options, ctx);
#else
      throw CommError("comm.backend mpi: this l2face was built without MPI");
#endif
    case Backend::kNccl:
#ifdef L2FACE_HAVE_NCCL
      return makeNcclCommunicator(options, ctx);
#else
      throw CommError("comm.backend nccl: this l2face was built without CUDA/NCCL");
#endif
    case Backend::kAuto:
      break;
  }
  throw CommError("unknown comm backend");
}

}  // namespace l2face::comm
