// CommOptions: the comm.* configuration keys (backend, watchdog timeout, gradient bucket sizes).
#pragma once

#include <string>

namespace l2face::comm {

enum class Backend { kAuto, kLocal, kMpi, kNccl };

// Plain value, filled by launch from the configuration.
struct CommOptions {
  // auto: local for a world of one; nccl for a larger world when built with NCCL and a CUDA device
  // is visible; else mpi when launched under mpirun/srun.
  Backend backend = Backend::kAuto;
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
