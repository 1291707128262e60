// CommOptions: the comm.* configuration keys (backend, watchdog timeout, gradient bucket sizes).
#pragma once

#include <string>

namespace l2face::comm {

enum class Backend { kAuto, kLocal, kMpi, kNccl };
// Where the job's tensors (gradients, classifier blocks) live: what auto's choice follows.
enum class TensorDevice { kUnspecified, kCpu, kCuda };

// Plain value, filled by launch from the configuration.
struct CommOptions {
  // auto: local for a world of one; for a larger world nccl when built with NCCL, a CUDA device is
  // visible and the tensors are on CUDA (tensors kCuda, or kUnspecified); else mpi when launched
  // under mpirun/srun. A run on the CPU (tensors kCpu) never gets nccl, GPUs or not.
  Backend backend = Backend::kAuto;
  // Not a configuration key: set by whoever knows where the tensors live (the trainer's caller
  // from run.device). kUnspecified (tools, benches) follows the visible devices.
  TensorDevice tensors = TensorDevice::kUnspecified;
  // A collective not complete after this long ends the job (see docs/communication.md).
  double timeout_seconds = 600;
  double bucket_cap_mb = 25;   // gradient bucket size cap, MiB (PyTorch DDP's default)
  double first_bucket_mb = 1;  // the first bucket (last parameters) is smaller so it starts early
};

// "auto", "local", "mpi", "nccl"; anything else throws CommError listing the choices. Inline, so
// that code which only configures (launch's configuration library) links nothing of comm.
Backend backendFromName(const std::string& name);
inline const char* backendName(Backend backend) {
  constexpr const char* kNames[] = {"auto", "local", "mpi", "nccl"};  // indexed by Backend
  const auto i = static_cast<unsigned>(backend);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

}  // namespace l2face::comm
