// Staging of CUDA buffers through host memory for the host backends (mpi).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "cuda_util.h"
#include "l2face/comm/communicator.h"

namespace l2face::comm {

// The MPI backend reduces on the host (its ring runs reduceInto on the CPU), so a CUDA-aware MPI
// would not spare the copies: device buffers always travel through host memory. A Staging is made
// on the issuing thread: it copies the input to host memory there, and the Work it wraps copies
// the result back to the device in wait() (so with staged buffers the result is in place once
// wait() returns, not when done() turns true).
class Staging {
 public:
  // in: bytes read by the collective; out: bytes it writes (may be the same buffer).
  Staging(const void* in, size_t in_bytes, void* out, size_t out_bytes);
  bool active() const { return active_; }
  const void* hostIn() const { return in_host_ ? in_host_->data() : in_; }
  void* hostOut() { return out_host_ ? out_host_->data() : out_; }
  WorkPtr wrap(WorkPtr inner);

 private:
  const void* in_;
  void* out_;
  bool active_ = false;
  std::shared_ptr<std::vector<char>> in_host_, out_host_;
};

}  // namespace l2face::comm
