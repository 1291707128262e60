// GradSync: averages float32 gradients across ranks in buckets, overlapped with the backward pass.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

class BufferMemory;
class IntervalClock;

struct GradSyncOptions {
  size_t bucket_cap_bytes = size_t{25} << 20;
  size_t first_bucket_bytes = size_t{1} << 20;
  // Buckets in CUDA memory (the current device) also on a host backend: for gradients on a GPU,
  // kept as bucket views, which the backend's staging decorator (mpi) then moves bucket by bucket.
  bool device_buckets = false;
  // Internal (comm/internal headers; tests): the buckets' memory and the clock of the exposed
  // time. Null: chosen by the communicator's memory kind and device_buckets.
  std::shared_ptr<BufferMemory> bucket_memory;
  std::shared_ptr<IntervalClock> exposed_clock;
};
GradSyncOptions gradSyncOptions(const CommOptions& options);

// Counters since construction.
struct GradSyncStats {
  uint64_t steps = 0;  // finish() calls that synchronised
  uint64_t buckets_launched = 0;
  uint64_t bytes_reduced = 0;  // gradient bytes all-reduced
  // Communication not hidden behind the backward pass: the time finish() waited for the buckets,
  // on the host for host backends, on the compute stream (CUDA events, read once they complete:
  // up to a step late, never a host sync) for CUDA backends.
  double exposed_seconds = 0;
  double last_exposed_seconds = 0;
  // Bucket all-reduces: how many were timed, and the durations of the latest of them (at most
  // kRecentAllReduces, oldest first): the backend's own time when it measures it (mpi), else from
  // launch until finish() saw it complete.
  static constexpr size_t kRecentAllReduces = 4096;
  uint64_t allreduces_timed = 0;
  std::vector<double> recent_allreduce_seconds;
};

// Gradient synchronisation in the manner of PyTorch DDP, for float32 parameters:
//
//  1. Parameters are packed into buckets in reverse order (backward produces the last layers'
//     gradients first); the first bucket is capped at first_bucket_bytes so that communication
//     starts early, the others at bucket_cap_bytes. A bucket is closed once it reaches its cap, so
//     a parameter larger than the cap gets a bucket of its own.
//  2. markReady(i, grad) copies parameter i's gradient into its bucket. When every member of a
//     bucket is ready, the bucket's asynchronous all-reduce (average) is launched, in bucket order:
//     a bucket that fills before an earlier one waits for it, so every rank issues the collectives
//     in the same order whatever order its gradients arrive in.
//  3. finish(grads) treats every parameter not marked ready as a zero gradient (unused in this
//     step on this rank; other ranks may have used it), launches the remaining buckets, waits for
//     all, and copies the averages back. No rank can hang on another's unused parameter.
//  4. With setSyncEnabled(false) (gradient-accumulation micro-steps) markReady and finish do
//     nothing; the caller keeps accumulating in its own gradients and synchronises on the last
//     micro-step.
//
// Memory follows the communicator: host pointers for kHost, device pointers for kCuda (copies are
// then ordered on the communicator's compute stream and finish() does not block the host), and
// device pointers on a host backend with device_buckets (whose staging moves whole buckets).
//
// Thread-safety: markReady may be called from several threads at once (autograd hooks); finish,
// setSyncEnabled and stats belong to the owner thread and must not overlap markReady calls of the
// same step. The communicator must not be used by anyone else between the first markReady and the
// end of finish.
class GradSync {
 public:
  // A collective: checks that every rank has the same parameter layout (CommError otherwise).
  GradSync(Communicator& comm, std::vector<size_t> param_numel, GradSyncOptions options = {});
  ~GradSync();  // waits for collectives still in flight; never throws
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  size_t paramCount() const { return params_.size(); }
  size_t bucketCount() const { return buckets_.size(); }
  size_t bucketOf(size_t param) const;
  size_t bucketBytes(size_t bucket) const;
  // Where parameter i's gradient lives inside its bucket. A caller that accumulates its gradient
  // there (a "bucket view") and passes the same pointer to markReady/finish saves both copies.
  float* gradView(size_t param);

  void setSyncEnabled(bool enabled) { sync_enabled_ = enabled; }
  bool syncEnabled() const { return sync_enabled_; }

  // Parameter i's gradient (numel floats) is final for this step. Marking one twice in a step
  // throws CommError.
  void markReady(size_t param, const float* grad);
  // Completes the step: grads[i] receives the average over ranks (skipped when null or equal to
  // gradView(i)). grads must hold paramCount() pointers, or be null to leave results in the views.
  void finish(float* const* grads);

  GradSyncStats stats() const;

 private:
  struct Param {
    size_t numel = 0;
    size_t bucket = 0;
    size_t offset = 0;  // elements into the bucket
    bool ready = false;
  };
  struct Bucket {
    std::vector<size_t> params;
    size_t numel = 0;
    size_t pending = 0;  // members not yet ready this step
    float* data = nullptr;
    WorkPtr work;
    std::chrono::steady_clock::time_point launched;
  };
  void checkLayoutAcrossRanks();
  void launchReadyBuckets();  // holds mutex_
  void resetStep();
  void waitBuckets();          // records each bucket's all-reduce time
  void recordExposed() const;  // completed intervals of clock_ into stats_; holds mutex_

  Communicator& comm_;
  GradSyncOptions options_;
  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::shared_ptr<BufferMemory> memory_;
  std::shared_ptr<IntervalClock> clock_;
  bool sync_enabled_ = true;
  size_t next_launch_ = 0;
  mutable std::mutex mutex_;
  mutable GradSyncStats stats_;
};

}  // namespace l2face::comm
