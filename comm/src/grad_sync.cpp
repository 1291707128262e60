// GradSync: bucket assignment, in-order asynchronous launches, and the step's finish.
#include "l2face/comm/grad_sync.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "l2face/comm/internal/buffer_memory.h"
#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/internal/interval_clock.h"

namespace l2face::comm {
namespace {

constexpr size_t kFloatBytes = sizeof(float);

class HostMemory final : public BufferMemory {
 public:
  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p == nullptr)
      throw CommError("GradSync: cannot allocate " + std::to_string(bytes) + " bytes");
    std::memset(p, 0, rounded == 0 ? 64 : rounded);
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  // Gradients may be CUDA memory with a host backend (mpi): copyBytes stages them.
  void copy(void* dst, const void* src, size_t bytes) override { copyBytes(dst, src, bytes); }
  void zero(void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void synchronize() override {}
};

size_t mibToBytes(double mib, const char* name) {
  if (!(mib > 0))
    throw CommError(std::string(name) + " must be positive, got " + std::to_string(mib));
  return static_cast<size_t>(mib * 1024.0 * 1024.0);
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class HostIntervalClock final : public IntervalClock {
 public:
  void begin() override { t0_ = std::chrono::steady_clock::now(); }
  void end() override { done_.push_back(secondsSince(t0_)); }
  std::vector<double> collect() override { return std::exchange(done_, {}); }

 private:
  std::chrono::steady_clock::time_point t0_;
  std::vector<double> done_;
};

}  // namespace

std::unique_ptr<BufferMemory> makeHostMemory() { return std::make_unique<HostMemory>(); }
std::unique_ptr<IntervalClock> makeHostIntervalClock() {
  return std::make_unique<HostIntervalClock>();
}

GradSyncOptions gradSyncOptions(const CommOptions& options) {
  GradSyncOptions o;
  o.bucket_cap_bytes = mibToBytes(options.bucket_cap_mb, "comm.bucket_cap_mb");
  o.first_bucket_bytes = mibToBytes(options.first_bucket_mb, "comm.first_bucket_mb");
  return o;
}

GradSync::GradSync(Communicator& comm, std::vector<size_t> param_numel, GradSyncOptions options)
    : comm_(comm), options_(options) {
  if (options_.bucket_cap_bytes == 0 || options_.first_bucket_bytes == 0) {
    throw CommError("GradSync: bucket sizes must be positive");
  }
  params_.resize(param_numel.size());
  // Reverse order: the last parameters' gradients are the first that backward produces.
  Bucket current;
  size_t cap = options_.first_bucket_bytes;
  for (size_t k = param_numel.size(); k-- > 0;) {
    Param& p = params_[k];
    p.numel = param_numel[k];
    p.bucket = buckets_.size();
    p.offset = current.numel;
    current.params.push_back(k);
    current.numel += p.numel;
    if (current.numel * kFloatBytes >= cap) {
      buckets_.push_back(std::move(current));
      current = Bucket();
      cap = options_.bucket_cap_bytes;
    }
  }
  if (!current.params.empty()) buckets_.push_back(std::move(current));

  const bool host = comm_.memoryKind() == MemoryKind::kHost;
  memory_ = options_.bucket_memory;
  if (!memory_)
    memory_ = host && !options_.device_buckets ? makeHostMemory() : makeCudaMemory(comm_);
  clock_ = options_.exposed_clock;
  if (!clock_) clock_ = host ? makeHostIntervalClock() : makeCudaIntervalClock(comm_);
  try {
    for (Bucket& b : buckets_) {
      b.data = static_cast<float*>(memory_->allocate(b.numel * kFloatBytes));
    }
    resetStep();
    checkLayoutAcrossRanks();
  } catch (...) {
    // A constructor that throws gets no destructor: free the buckets here (the layout check
    // throws when ranks built different models).
    for (Bucket& b : buckets_) {
      if (b.data) memory_->release(b.data);
      b.data = nullptr;
    }
    throw;
  }
}

GradSync::~GradSync() {
  for (Bucket& b : buckets_) {
    try {
      if (b.work) b.work->wait();
    } catch (...) {
      // The failure was or will be reported by whoever finishes the step; memory must outlive it.
    }
  }
  try {
    if (memory_) memory_->synchronize();
  } catch (...) {
  }
  for (Bucket& b : buckets_) {
    if (memory_) memory_->release(b.data);
  }
}

void GradSync::checkLayoutAcrossRanks() {
  // FNV-1a over the parameter sizes and caps: equal on every rank or the buckets would not match.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(params_.size());
  for (const Param& p : params_) mix(p.numel);
  mix(options_.bucket_cap_bytes);
  mix(options_.first_bucket_bytes);

  const size_t world = static_cast<size_t>(comm_.size());
  std::vector<uint64_t> all(world);
  void* dev = memory_->allocate(world * sizeof(uint64_t));
  memory_->copy(static_cast<char*>(dev) + comm_.rank() * sizeof(uint64_t), &h, sizeof(h));
  try {
    comm_.allGather(static_cast<char*>(dev) + comm_.rank() * sizeof(uint64_t), dev, 1,
                    DType::kInt64);
    memory_->copy(all.data(), dev, world * sizeof(uint64_t));
    memory_->synchronize();
  } catch (...) {
    memory_->release(dev);
    throw;
  }
  memory_->release(dev);
  std::string differ;
  for (size_t r = 0; r < world; ++r) {
    if (all[r] != h) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  }
  if (!differ.empty()) {
    throw CommError("GradSync: ranks [" + differ +
                    "] have a different parameter list or bucket "
                    "sizes than rank " +
                    std::to_string(comm_.rank()) + " (every rank must build the same model)");
  }
}

size_t GradSync::bucketOf(size_t param) const { return params_.at(param).bucket; }

size_t GradSync::bucketBytes(size_t bucket) const {
  return buckets_.at(bucket).numel * kFloatBytes;
}

float* GradSync::gradView(size_t param) {
  const Param& p = params_.at(param);
  return buckets_[p.bucket].data + p.offset;
}

void GradSync::markReady(size_t param, const float* grad) {
  if (!sync_enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (param >= params_.size()) {
    throw CommError("GradSync::markReady: parameter " + std::to_string(param) + " of " +
                    std::to_string(params_.size()));
  }
  Param& p = params_[param];
  if (p.ready) {
    throw CommError("GradSync::markReady: parameter " + std::to_string(param) +
                    " marked ready twice in one step (a parameter used twice must be marked once, "
                    "after its gradient is complete)");
  }
  Bucket& b = buckets_[p.bucket];
  float* view = b.data + p.offset;
  if (grad != view && p.numel > 0) memory_->copy(view, grad, p.numel * kFloatBytes);
  p.ready = true;
  if (--b.pending == 0) launchReadyBuckets();
}

void GradSync::launchReadyBuckets() {
  // Launch order is bucket order on every rank, whatever order the buckets fill in.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& b = buckets_[next_launch_];
    b.launched = std::chrono::steady_clock::now();
    b.work = comm_.allReduceAsync(b.data, b.numel, DType::kFloat32, ReduceOp::kAvg);
    ++stats_.buckets_launched;
    stats_.bytes_reduced += b.numel * kFloatBytes;
    ++next_launch_;
  }
}

void GradSync::finish(float* const* grads) {
  if (!sync_enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  // Parameters without a gradient on this rank contribute zeros.
  for (Param& p : params_) {
    if (p.ready) continue;
    Bucket& b = buckets_[p.bucket];
    if (p.numel > 0) memory_->zero(b.data + p.offset, p.numel * kFloatBytes);
    p.ready = true;
    --b.pending;
  }
  launchReadyBuckets();
  clock_->begin();
  try {
    waitBuckets();
  } catch (...) {
    resetStep();
    throw;
  }
  clock_->end();
  if (grads != nullptr) {
    for (size_t i = 0; i < params_.size(); ++i) {
      float* view = buckets_[params_[i].bucket].data + params_[i].offset;
      if (grads[i] != nullptr && grads[i] != view && params_[i].numel > 0) {
        memory_->copy(grads[i], view, params_[i].numel * kFloatBytes);
      }
    }
  }
  ++stats_.steps;
  recordExposed();
  resetStep();
}

void GradSync::recordExposed() const {
  for (double s : clock_->collect()) {
    stats_.exposed_seconds += s;
    stats_.last_exposed_seconds = s;
  }
}

void GradSync::waitBuckets() {
  std::vector<double>& recent = stats_.recent_allreduce_seconds;
  for (Bucket& b : buckets_) {
    b.work->wait();
    double s = b.work->seconds();
    if (s < 0) s = secondsSince(b.launched);
    if (recent.size() >= GradSyncStats::kRecentAllReduces) {
      recent.erase(recent.begin(), recent.begin() + GradSyncStats::kRecentAllReduces / 2);
    }
    recent.push_back(s);
    ++stats_.allreduces_timed;
  }
}

void GradSync::resetStep() {
  for (Param& p : params_) p.ready = false;
  for (Bucket& b : buckets_) {
    b.pending = b.params.size();
    b.work.reset();
  }
  next_launch_ = 0;
}

GradSyncStats GradSync::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  recordExposed();
  return stats_;
}

}  // namespace l2face::comm
