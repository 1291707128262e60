// makeCommunicator: picks the backend for the job (auto rules in options.h), selects the rank's
// CUDA device and builds the backend.
#include <atomic>
#include <string>

#include "l2face/comm/communicator.h"
#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/internal/staging.h"
#include "l2face/comm/internal/store_communicator.h"
#include "l2face/comm/mpi_session.h"

#ifdef L2FACE_HAVE_MPI
#include <mpi.h>

#include "mpi_communicator.h"
#endif
#ifdef L2FACE_HAVE_NCCL
#include "nccl_communicator.h"
#endif

namespace l2face::comm {

namespace {
std::atomic<int> g_devices_for_testing{-1};
}  // namespace

int visibleCudaDevices() {
  const int forced = g_devices_for_testing.load();
  return forced >= 0 ? forced : cudaDeviceCountOrZero();
}

void setVisibleCudaDevicesForTesting(int n) { g_devices_for_testing.store(n < 0 ? -1 : n); }

Backend resolveBackend(const CommOptions& options, const RunContext& ctx) {
  if (options.backend != Backend::kAuto) return options.backend;
  // A world of one needs no communication at all, whatever the device.
  if (ctx.world_size == 1) return Backend::kLocal;
#ifdef L2FACE_HAVE_NCCL
  // NCCL takes device buffers only: a CPU run's host tensors stay on a host backend.
  if (options.tensors != TensorDevice::kCpu && visibleCudaDevices() > 0) return Backend::kNccl;
#endif
  if (MpiSession::active()) return Backend::kMpi;
  throw CommError("a world of " + std::to_string(ctx.world_size) + " ranks (found by " +
                  ctx.source +
                  ") launched without mpirun and without CUDA tensors on a CUDA device has no "
                  "backend: launch under mpirun (or srun --mpi=pmix) for the mpi backend");
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
std::unique_ptr<Communicator> buildNccl(const CommOptions& options, const RunContext& ctx) {
  return makeNcclCommunicator(options, ctx);
}
const Builder kNcclBuilder = buildNccl;
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

// Checks the options, resolves the backend and selects the rank's CUDA device.
Backend prepare(const CommOptions& options, const RunContext& ctx) {
  if (!(options.timeout_seconds > 0)) {
    throw CommError("comm.timeout_seconds must be positive, got " +
                    std::to_string(options.timeout_seconds));
  }
  Backend b = resolveBackend(options, ctx);
  builderFor(b);  // throws when this build lacks it
  // Later CUDA work (torch's default "cuda" device) lands on this rank's own GPU. A single
  // process on device 0 needs no call (and no CUDA context when it trains on the CPU).
  if (b != Backend::kNccl && (ctx.local_size > 1 || ctx.gpu_overridden)) selectCudaDevice(ctx);
  return b;
}

#ifdef L2FACE_HAVE_MPI
// An MPI control plane: a communicator of its own when MPI lets two threads call it at once (the
// data plane's comm thread and this one's), else the data plane's own MPI communicator.
std::unique_ptr<Communicator> mpiControl(const CommOptions& options, const RunContext& ctx,
                                         Communicator* data_mpi) {
  int level = 0;
  MPI_Query_thread(&level);
  if (level == MPI_THREAD_MULTIPLE || data_mpi == nullptr) return makeMpiCommunicator(options, ctx);
  return aliasOf(*data_mpi);
}
#endif

#ifdef L2FACE_HAVE_NCCL
CommPlanes ncclPlanes(const CommOptions& options, const RunContext& ctx) {
  CommPlanes p;
  if (ctx.world_size == 1) {
    p.data = makeNcclCommunicator(options, ctx);
    p.control = makeLocalCommunicator();
    return p;
  }
#ifdef L2FACE_HAVE_MPI
  if (MpiSession::active()) {
    p.data = makeNcclCommunicator(options, ctx);
    p.control = mpiControl(options, ctx, nullptr);
    return p;
  }
#endif
  std::shared_ptr<JobStore> store = openJobStore(ctx, options.timeout_seconds);
  p.data = makeNcclCommunicator(options, ctx, store);
  p.control = makeStoreCommunicator(store, ctx.rank, ctx.world_size, options.timeout_seconds,
                                    "l2face/ctl", ctx.host);
  return p;
}
#endif

}  // namespace

std::unique_ptr<Communicator> makeCommunicator(const CommOptions& options, const RunContext& ctx) {
  return builderFor(prepare(options, ctx))(options, ctx);
}

CommPlanes makeCommPlanes(const CommOptions& options, const RunContext& ctx) {
  const Backend b = prepare(options, ctx);
  CommPlanes p;
  switch (b) {
#ifdef L2FACE_HAVE_MPI
    case Backend::kMpi: {
      std::unique_ptr<Communicator> mpi = makeMpiCommunicator(options, ctx);
      p.control = mpiControl(options, ctx, mpi.get());
      p.data = withDeviceStaging(std::move(mpi));
      return p;
    }
#endif
#ifdef L2FACE_HAVE_NCCL
    case Backend::kNccl:
      return ncclPlanes(options, ctx);
#endif
    default:
      p.data = builderFor(b)(options, ctx);
      p.control = makeLocalCommunicator();
      return p;
  }
}

}  // namespace l2face::comm
