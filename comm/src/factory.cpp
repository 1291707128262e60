// makeCommunicator: picks the backend for the job (auto rules in options.h), selects the rank's
// CUDA device and builds the backend.
#include <string>

#include "l2face/comm/communicator.h"
#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/internal/staging.h"
#include "l2face/comm/mpi_session.h"

#ifdef L2FACE_HAVE_MPI
#include "mpi_communicator.h"
#endif
#ifdef L2FACE_HAVE_NCCL
#include "nccl_communicator.h"
#endif

namespace l2face::comm {

Backend resolveBackend(const CommOptions& options, const RunContext& ctx) {
  if (options.backend != Backend::kAuto) return options.backend;
  // A world of one needs no communication at all, whatever the device.
  if (ctx.world_size == 1) return Backend::kLocal;
#ifdef L2FACE_HAVE_NCCL
  if (cudaDeviceCountOrZero() > 0) return Backend::kNccl;
#endif
  if (MpiSession::active()) return Backend::kMpi;
  throw CommError("a world of " + std::to_string(ctx.world_size) + " ranks (found by " +
                  ctx.source +
                  ") launched without mpirun and without a CUDA device has no backend: launch "
                  "under mpirun (or srun --mpi=pmix) for the mpi backend");
}

namespace {

using Builder = std::unique_ptr<Communicator> (*)(const CommOptions&, const RunContext&);

std::unique_ptr<Communicator> buildLocal(const CommOptions&, const RunContext& ctx) {
  if (ctx.world_size != 1) {
    throw CommError("comm.backend local runs a world of 1, but this job has " +
                    std::to_string(ctx.world_size) + " ranks");
  }
  return makeLocalCommunicator();
}

#ifdef L2FACE_HAVE_MPI
// The MPI backend reduces in host memory; CUDA buffers are staged through it.
std::unique_ptr<Communicator> buildMpi(const CommOptions& options, const RunContext& ctx) {
  return withDeviceStaging(makeMpiCommunicator(options, ctx));
}
const Builder kMpiBuilder = buildMpi;
#else
const Builder kMpiBuilder = nullptr;
#endif
#ifdef L2FACE_HAVE_NCCL
const Builder kNcclBuilder = makeNcclCommunicator;
#else
const Builder kNcclBuilder = nullptr;
#endif

Builder require(Builder b, const char* missing) {
  if (b == nullptr) throw CommError(missing);
  return b;
}

// The builder of a concrete backend; throws CommError when this build lacks it.
Builder builderFor(Backend b) {
  switch (b) {
    case Backend::kLocal:
      return buildLocal;
    case Backend::kMpi:
      return require(kMpiBuilder, "comm.backend mpi: this l2face was built without MPI");
    case Backend::kNccl:
      return require(kNcclBuilder, "comm.backend nccl: this l2face was built without CUDA/NCCL");
    case Backend::kAuto:
      break;
  }
  throw CommError("unknown comm backend");
}

}  // namespace

std::unique_ptr<Communicator> makeCommunicator(const CommOptions& options, const RunContext& ctx) {
  if (!(options.timeout_seconds > 0)) {
    throw CommError("comm.timeout_seconds must be positive, got " +
                    std::to_string(options.timeout_seconds));
  }
  Backend b = resolveBackend(options, ctx);
  Builder build = builderFor(b);
  // Later CUDA work (torch's default "cuda" device) lands on this rank's own GPU. A single
  // process on device 0 needs no call (and no CUDA context when it trains on the CPU).
  if (b != Backend::kNccl && (ctx.local_size > 1 || ctx.gpu_overridden)) selectCudaDevice(ctx);
  return build(options, ctx);
}

}  // namespace l2face::comm
