// RuntimeInfo: what the communication stack finds in this process (MPI library, NCCL, CUDA
// runtime, driver and devices), for `l2face doctor`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2face::comm {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  uint64_t memory_bytes = 0;
  std::string pci_bus_id;  // "0000:3b:00.0"; tells ranks on one host apart by their GPU
};

// Plain value.
struct RuntimeInfo {
  bool built_with_mpi = false;
  bool built_with_nccl = false;  // and CUDA: the two come together
  std::string mpi_library;       // first line of MPI_Get_library_version; "" without MPI
  std::string nccl_version;      // "2.27.3"; "" without NCCL
  int cuda_runtime_version = 0;  // cudaRuntimeGetVersion (12080 = 12.8); 0 without CUDA
  int cuda_driver_version = 0;   // cudaDriverGetVersion; 0 without a driver
  std::vector<CudaDeviceInfo> cuda_devices;
};

// Safe to call before or after MPI_Init and without any GPU. Thread-safety: thread-safe.
RuntimeInfo runtimeInfo();

// "12.8" from 12080; "" for 0.
std::string cudaVersionString(int version);

}  // namespace l2face::comm
