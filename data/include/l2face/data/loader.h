// Loader: multi-threaded, prefetching, deterministic batch producer (decode, resize, flip).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "l2face/data/dataset.h"
#include "l2face/data/options.h"
#include "l2face/data/sampler.h"

namespace l2face::data {

class JpegDecoder;

// Position in the sample stream: `step` counts global batches within `epoch`.
struct Cursor {
  int64_t epoch = 0;
  int64_t step = 0;
};

// One rank's batch. pixels: uint8 RGB, NHWC, batch_size * height * width * 3 bytes. labels[j] is
// the label of the image in slot j and indices[j] the dataset index it was decoded from (which
// differs from the sampler's index only when that sample was undecodable and replaced).
struct Batch {
  int64_t epoch = 0;
  int64_t step = 0;         // within the epoch
  int64_t global_step = 0;  // epoch * stepsPerEpoch + step
  int batch_size = 0;
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  std::vector<size_t> indices;
};

struct LoaderStats {
  int64_t batches = 0;        // returned by next() so far
  int64_t decode_errors = 0;  // undecodable samples met (each was replaced)
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
// are in memory; the consumer receives them strictly in order.
//
// Per sample: read bytes, decode with TurboJPEG at opt.image_size (resize when the stored size
// differs), and when `train`, flip horizontally with probability opt.flip_p using randomness
// seeded by mixSeed(seed, epoch, sample index) only. An undecodable sample is counted, logged to
// stderr (the first 5, with the path), and replaced by the next decodable index (i+1, i+2, ...
// mod size) with that sample's own label, so shapes never change. Any other failure (e.g. a read
// error) is stored in the worker and rethrown from next() as DataError naming the sample.
//
// Thread-safety: next() and stats() must be called from one consumer thread; the destructor stops
// and joins the workers promptly even when the queue is full, and never throws.
class Loader {
 public:
  // The batch size is sampler.localBatch() (the caller builds the sampler from opt.batch_size).
  // Throws std::invalid_argument for a null dataset, a sampler built for a different dataset
  // size, image_size < 1, flip_p outside [0, 1]; std::out_of_range for a negative cursor. A
  // cursor step >= stepsPerEpoch() carries into the next epoch ({e, steps} == {e + 1, 0}).
  Loader(std::shared_ptr<const Dataset> dataset, const Sampler& sampler, const DataOptions& opt,
         uint64_t seed, Cursor start, bool train);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Blocks until the next batch in order is ready. Rethrows a worker's failure (and keeps
  // rethrowing it on later calls: the loader is then unusable).
  std::shared_ptr<Batch> next();
  LoaderStats stats() const;
  // Position of the batch the next call to next() returns (for checkpoints).
  Cursor cursor() const;
  int workers() const { return num_workers_; }

 private:
  Cursor positionOf(int64_t ordinal) const;
  void workerLoop(int worker);
  std::shared_ptr<Batch> buildBatch(int64_t ordinal, JpegDecoder& decoder,
                                    std::vector<uint8_t>& bytes);
  size_t loadSample(size_t index, int64_t epoch, JpegDecoder& decoder,
                    std::vector<uint8_t>& bytes, uint8_t* out);
  void noteDecodeError(size_t index, const std::string& message);

  const std::shared_ptr<const Dataset> dataset_;
  const Sampler sampler_;
  const DataOptions opt_;
  const uint64_t seed_;
  const bool train_;
  const int64_t first_global_step_;
  int num_workers_ = 1;
  int64_t window_ = 1;

  mutable std::mutex mutex_;
  std::condition_variable ready_cv_;  // a batch (or an error) arrived
  std::condition_variable space_cv_;  // the consumer took a batch, or stop
  std::map<int64_t, std::shared_ptr<Batch>> ready_;
  std::map<int64_t, std::exception_ptr> errors_;
  std::exception_ptr failure_;  // sticky once next() has rethrown
  int64_t taken_ = 0;
  double wait_seconds_ = 0.0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> decode_errors_{0};
  std::vector<std::thread> threads_;
};

}  // namespace l2face::data
