// Loader: multi-threaded, prefetching, deterministic batch producer (read, decode, resize,
// augment) with recyclable batch memory from a pluggable allocator.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "l2face/data/augment.h"
#include "l2face/data/dataset.h"
#include "l2face/data/options.h"
#include "l2face/data/sampler.h"

namespace l2face::data {

// Position in the sample stream: `step` counts global batches within `epoch`.
struct Cursor {
  int64_t epoch = 0;
  int64_t step = 0;
};

// Contiguous memory of n values of T owned through a shared_ptr, so that it can come from any
// allocator (e.g. CUDA pinned host memory) and go back to the loader's pool when the last user
// drops it. Not thread-safe for concurrent writes; sharing read-only is fine.
template <typename T>
class HostBuffer {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  HostBuffer() = default;
  HostBuffer(std::shared_ptr<T> storage, size_t size) : storage_(std::move(storage)), size_(size) {}
  // n value-initialised values on the heap (batches built outside a loader).
  static HostBuffer zeros(size_t n) {
    return HostBuffer(std::shared_ptr<T>(new T[n](), std::default_delete<T[]>()), n);
  }

  T* data() { return storage_.get(); }
  const T* data() const { return storage_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  // The owning pointer (keep a copy alive while an asynchronous copy reads the memory).
  const std::shared_ptr<T>& storage() const { return storage_; }

 private:
  std::shared_ptr<T> storage_;
  size_t size_ = 0;
};

// Equal sizes and bytes.
template <typename T>
bool operator==(const HostBuffer<T>& a, const HostBuffer<T>& b) {
  return a.size() == b.size() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}
template <typename T>
bool operator!=(const HostBuffer<T>& a, const HostBuffer<T>& b) {
  return !(a == b);
}

using PixelBuffer = HostBuffer<uint8_t>;
using LabelBuffer = HostBuffer<int64_t>;

// Returns `bytes` bytes of writable memory, aligned for int64_t at least (the labels follow the
// pixels at a 64-byte offset), that stays valid until the returned pointer's last copy is
// destroyed (its deleter frees it), or nullptr on failure. Called from loader worker threads:
// must be thread-safe. The loader recycles buffers, so this is called about window + (batches
// the consumer holds) times per loader, not once per batch.
using BatchAllocator = std::function<std::shared_ptr<uint8_t>(size_t bytes)>;

// "The memory may be overwritten now": fired by whoever last reads a batch's memory
// asynchronously (the trainer: a CUDA event recorded after the host-to-device copy). All methods
// thread-safe.
class ReuseFence {
 public:
  virtual ~ReuseFence() = default;
  // True once fired. Never blocks.
  virtual bool ready() = 0;
  // Blocks until fired or `timeout_seconds` passed; returns ready().
  virtual bool wait(double timeout_seconds) = 0;
};

// Where a batch's fence is kept until its memory goes back to the pool. All methods thread-safe.
class FenceSlot {
 public:
  void set(std::shared_ptr<ReuseFence> fence) {
    std::lock_guard<std::mutex> lock(mutex_);
    fence_ = std::move(fence);
  }
  std::shared_ptr<ReuseFence> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return fence_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<ReuseFence> fence_;
};

// One rank's batch. pixels: uint8 RGB, NHWC, batch_size * height * width * 3 bytes. labels[j] is
// the label of the image in slot j and indices[j] the dataset index it was decoded from (which
// differs from the sampler's index only when that sample was undecodable and replaced). A
// loader's batch keeps pixels and labels in one block of its allocator's memory.
struct Batch {
  int64_t epoch = 0;
  int64_t step = 0;         // within the epoch
  int64_t global_step = 0;  // epoch * stepsPerEpoch + step
  int batch_size = 0;
  int height = 0;
  int width = 0;
  PixelBuffer pixels;
  LabelBuffer labels;
  std::vector<size_t> indices;

  // Says that an asynchronous copy still reads pixels and labels after the last copy of the
  // batch is dropped: the loader hands their memory out again only once `fence` is ready (see
  // Loader, "Memory"). A later call replaces the fence. No effect on a batch built outside a
  // loader.
  void setReuseFence(std::shared_ptr<ReuseFence> fence) const {
    if (reuse) reuse->set(std::move(fence));
  }
  std::shared_ptr<FenceSlot> reuse;  // set by the loader
};

// Thrown by next() after stop(): the loader was asked to end (e.g. on a signal), not a failure.
class LoaderStopped : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BufferPool;
struct WorkerState;

struct LoaderStats {
  int64_t batches = 0;        // returned by next() so far
  int64_t batches_built = 0;  // finished by the workers so far (>= batches: prefetch)
  int64_t samples_read = 0;   // read attempts, replacements included
  int64_t decode_errors = 0;  // undecodable samples met (each was replaced; repeats counted)
  int64_t bad_samples = 0;    // distinct undecodable samples met
  double wait_seconds = 0.0;  // total time next() blocked waiting for a batch
  int queue_depth = 0;        // batches ready and not yet taken, now
};

// Produces this rank's batches in (epoch, step) order starting at `start`, forever (epochs roll
// over). Batch content is a pure function of (dataset, sampler, options, seed, position): it does
// not depend on the number of workers or on timing.
//
// Threads: `workers` threads (opt.workers, 0 = hardware concurrency, at least 1); batch k
// (counted from `start`) is built entirely by worker k mod N. Back-pressure: only batches in the
// window [taken, taken + max(opt.prefetch, N)) may be built or held, so at most that many batches
// are in memory besides those the consumer holds; the consumer receives them strictly in order.
//
// Per sample: read bytes (Dataset::readSample), decode with TurboJPEG at opt.image_size (resize
// only when the stored size differs; with a random resized crop, decode at the stored size, crop,
// resize), and when `train`, augment in uint8 (see augment.h) with randomness drawn from
// (seed, epoch, sampler index) only.
//
// Bad input: an undecodable sample is counted, logged to stderr (the first 5, naming the path or
// file+offset), and replaced by the next decodable index (i+1, i+2, ... mod size) with that
// sample's own label, so shapes and label alignment never break. When the number of distinct
// undecodable samples exceeds opt.max_bad_fraction * dataset size, the batch being built fails
// with a DataError naming the count, the samples read and the last bad sample. Any other failure
// (a read error, bad record framing, a label out of range) is stored in the worker and rethrown
// from next() as DataError naming the sample (path, or file and offset).
//
// Memory: each batch's pixels and labels share one block from a pool of blocks of one size; a
// block returns to the pool when the last copy of its Batch (or of its buffers' storage()) is
// dropped. New blocks come from `allocator` (default: 64-byte-aligned heap memory), so the trainer
// can supply pinned memory. A block whose batch was given a ReuseFence (Batch::setReuseFence) is
// handed out again only after the fence is ready, never before. The pool keeps at most
// window + 2 blocks waiting for reuse: while fewer are pending, a worker that finds none ready
// allocates a new block; at that bound it waits for the oldest pending fence (interrupted by
// stop()), and when that fence has not fired after `fence_timeout_seconds` the batch fails with a
// DataError (rethrown by next()) saying that the device copies never completed.
//
// Thread-safety: next(), stats() and cursor() must be called from one consumer thread; stop() may
// be called from any thread (it takes a mutex: not from a signal handler itself, but from the
// thread that notices the signal flag). The destructor stops and joins the workers promptly even
// when the queue is full or a worker is mid-batch, and never throws.
class Loader {
 public:
  // The batch size is sampler.localBatch() (the caller builds the sampler from opt.batch_size).
  // Throws std::invalid_argument for a null dataset, a sampler built for a different dataset
  // size, image_size < 1, flip_p outside [0, 1]; std::out_of_range for a negative cursor. A
  // cursor step >= stepsPerEpoch() carries into the next epoch ({e, steps} == {e + 1, 0}).
  // Also std::invalid_argument for probabilities outside [0, 1], negative jitter strengths,
  // crop_scale_min outside (0, 1], crop_ratio_max < 1, max_bad_fraction outside [0, 1].
  Loader(std::shared_ptr<const Dataset> dataset, const Sampler& sampler, const DataOptions& opt,
         uint64_t seed, Cursor start, bool train, BatchAllocator allocator = nullptr,
         double fence_timeout_seconds = kFenceTimeoutSeconds);
  static constexpr double kFenceTimeoutSeconds = 600;
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Blocks until the next batch in order is ready. Rethrows a worker's failure (and keeps
  // rethrowing it on later calls: the loader is then unusable). Throws LoaderStopped once stop()
  // has been called, also when it was blocked waiting.
  std::shared_ptr<Batch> next();
  // Asks the workers to finish and wakes a blocked next(), which throws LoaderStopped. Idempotent;
  // returns without waiting for the workers (the destructor joins them).
  void stop();
  LoaderStats stats() const;
  // Position of the batch the next call to next() returns (for checkpoints).
  Cursor cursor() const;
  int workers() const { return num_workers_; }

 private:
  Cursor positionOf(int64_t ordinal) const;
  void validateOptions() const;
  void workerLoop(int worker);
  std::shared_ptr<Batch> buildBatch(int64_t ordinal, WorkerState& state);
  // Decodes (and augments) sample `index` or its replacement into out; returns the index used
  // and its label.
  std::pair<size_t, int> loadSample(size_t index, int64_t epoch, WorkerState& state, uint8_t* out);
  void decodeInto(const AugmentPlan& plan, WorkerState& state, const std::string& what,
                  uint8_t* out);
  void noteDecodeError(size_t index, const std::string& what, const std::string& message);

  const std::shared_ptr<const Dataset> dataset_;
  const Sampler sampler_;
  const DataOptions opt_;
  const uint64_t seed_;
  const bool train_;
  const int64_t first_global_step_;
  int num_workers_ = 1;
  int64_t window_ = 1;
  size_t label_offset_ = 0;  // of the labels in a batch's block

  mutable std::mutex mutex_;
  std::condition_variable ready_cv_;  // a batch (or an error) arrived
  std::condition_variable space_cv_;  // the consumer took a batch, or stop
  std::map<int64_t, std::shared_ptr<Batch>> ready_;
  std::map<int64_t, std::exception_ptr> errors_;
  std::exception_ptr failure_;  // sticky once next() has rethrown
  int64_t taken_ = 0;
  double wait_seconds_ = 0.0;
  bool stop_requested_ = false;  // by stop(): next() throws LoaderStopped
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> decode_errors_{0};
  std::atomic<int64_t> samples_read_{0};
  std::atomic<int64_t> batches_built_{0};
  mutable std::mutex bad_mutex_;
  std::unordered_set<size_t> bad_samples_;  // distinct undecodable indices (rare: a set)
  std::shared_ptr<BufferPool> pool_;
  std::vector<std::thread> threads_;
};

}  // namespace l2face::data
