// runtimeInfo: versions of MPI, NCCL and CUDA this process runs with, and its CUDA devices.
#include "l2face/comm/runtime_info.h"

#include "l2face/comm/mpi_session.h"

#ifdef L2FACE_HAVE_MPI
#include <mpi.h>
#endif
#ifdef L2FACE_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace l2face::comm {

std::string cudaVersionString(int version) {
  if (version <= 0) return "";
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
#ifdef L2FACE_HAVE_MPI
  info.built_with_mpi = true;
  // One of the few MPI calls allowed before MPI_Init.
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int len = 0;
  if (MPI_Get_library_version(text, &len) == MPI_SUCCESS) {
    info.mpi_library.assign(text, static_cast<size_t>(len));
    size_t eol = info.mpi_library.find_first_of("\r\n,");
    if (eol != std::string::npos) info.mpi_library.resize(eol);
  }
#endif
#ifdef L2FACE_HAVE_NCCL
  info.built_with_nccl = true;
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    // Since NCCL 2.9: MAJOR*10000 + MINOR*100 + PATCH.
    info.nccl_version = std::to_string(nccl / 10000) + "." + std::to_string(nccl % 10000 / 100) +
                        "." + std::to_string(nccl % 100);
  }
  cudaRuntimeGetVersion(&info.cuda_runtime_version);
  if (cudaDriverGetVersion(&info.cuda_driver_version) != cudaSuccess) info.cuda_driver_version = 0;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  cudaGetLastError();  // a machine without a driver leaves an error behind
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.memory_bytes = p.totalGlobalMem;
    char bus[32] = {0};
    if (cudaDeviceGetPCIBusId(bus, sizeof(bus), i) == cudaSuccess) d.pci_bus_id = bus;
    info.cuda_devices.push_back(d);
  }
#endif
  return info;
}

}  // namespace l2face::comm
