// Loader: worker threads building whole batches, an ordered bounded hand-over, bad-sample repair.
#include "l2face/data/loader.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>

#include "l2face/data/errors.h"
#include "l2face/data/image_ops.h"
#include "l2face/data/jpeg.h"

namespace l2face::data {
namespace {

// Stream tag separating flip decisions from any other use of mixSeed(seed, epoch, index).
constexpr uint64_t kFlipStream = 0x464C495031ULL;  // "FLIP1"
constexpr int64_t kLoggedDecodeErrors = 5;

int resolveWorkers(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

Loader::Loader(std::shared_ptr<const Dataset> dataset, const Sampler& sampler,
               const DataOptions& opt, uint64_t seed, Cursor start, bool train)
    : dataset_(std::move(dataset)),
      sampler_(sampler),
      opt_(opt),
      seed_(seed),
      train_(train),
      first_global_step_(start.epoch * sampler.stepsPerEpoch() + start.step) {
  if (!dataset_) throw std::invalid_argument("Loader: null dataset");
  if (sampler_.datasetSize() != dataset_->size()) {
    throw std::invalid_argument("Loader: sampler built for " +
                                std::to_string(sampler_.datasetSize()) +
                                " samples but the dataset has " +
                                std::to_string(dataset_->size()));
  }
  if (opt_.image_size < 1) {
    throw std::invalid_argument("Loader: image_size must be >= 1, got " +
                                std::to_string(opt_.image_size));
  }
  if (!(opt_.flip_p >= 0.0 && opt_.flip_p <= 1.0)) {
    throw std::invalid_argument("Loader: flip_p must be in [0, 1], got " +
                                std::to_string(opt_.flip_p));
  }
  // A step past the end of an epoch carries over ({e, stepsPerEpoch} == {e + 1, 0}), so the
  // cursor "after the last consumed batch" can be stored without normalising it first.
  if (start.epoch < 0 || start.step < 0) {
    throw std::out_of_range("Loader: start cursor (epoch " + std::to_string(start.epoch) +
                            ", step " + std::to_string(start.step) + ") must not be negative");
  }
  num_workers_ = resolveWorkers(opt_.workers);
  window_ = std::max<int64_t>({1, opt_.prefetch, num_workers_});
  threads_.reserve(num_workers_);
  try {
    for (int w = 0; w < num_workers_; ++w) threads_.emplace_back([this, w] { workerLoop(w); });
  } catch (...) {
    stop_ = true;
    space_cv_.notify_all();
    for (auto& t : threads_) t.join();
    throw;
  }
}

Loader::~Loader() {
  {
    // Setting stop_ under the lock pairs with the predicate check in workerLoop's wait, so no
    // worker can miss the notification and sleep forever.
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  space_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

Cursor Loader::positionOf(int64_t ordinal) const {
  const int64_t g = first_global_step_ + ordinal;
  return {g / sampler_.stepsPerEpoch(), g % sampler_.stepsPerEpoch()};
}

Cursor Loader::cursor() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return positionOf(taken_);
}

void Loader::workerLoop(int worker) {
  std::unique_ptr<JpegDecoder> decoder;
  try {
    decoder = std::make_unique<JpegDecoder>();
  } catch (...) {
    // Reported at this worker's first batch, the first one the consumer waits for from it.
    std::lock_guard<std::mutex> lock(mutex_);
    errors_[worker] = std::current_exception();
    ready_cv_.notify_all();
    return;
  }
  std::vector<uint8_t> bytes;
  for (int64_t k = worker;; k += num_workers_) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_cv_.wait(lock, [&] { return stop_ || k < taken_ + window_; });
      if (stop_) return;
    }
    std::shared_ptr<Batch> batch;
    try {
      batch = buildBatch(k, *decoder, bytes);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_[k] = std::current_exception();
      ready_cv_.notify_all();
      return;  // later batches of this worker would never be consumed: the loader has failed
    }
    if (!batch) return;  // stopped mid-batch
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_[k] = std::move(batch);
    }
    ready_cv_.notify_all();
  }
}

std::shared_ptr<Batch> Loader::buildBatch(int64_t ordinal, JpegDecoder& decoder,
                                          std::vector<uint8_t>& bytes) {
  const Cursor pos = positionOf(ordinal);
  auto batch = std::make_shared<Batch>();
  batch->epoch = pos.epoch;
  batch->step = pos.step;
  batch->global_step = first_global_step_ + ordinal;
  batch->batch_size = static_cast<int>(sampler_.localBatch());
  batch->height = batch->width = opt_.image_size;
  const size_t image_bytes = static_cast<size_t>(opt_.image_size) * opt_.image_size * 3;
  batch->pixels.resize(image_bytes * batch->batch_size);
  batch->labels.resize(batch->batch_size);
  batch->indices = sampler_.rankIndices(pos.epoch, pos.step);
  for (int j = 0; j < batch->batch_size; ++j) {
    if (stop_) return nullptr;  // prompt shutdown even in the middle of a large batch
    const size_t used = loadSample(batch->indices[j], pos.epoch, decoder, bytes,
                                   batch->pixels.data() + image_bytes * j);
    batch->indices[j] = used;
    batch->labels[j] = dataset_->label(used);
  }
  return batch;
}

size_t Loader::loadSample(size_t index, int64_t epoch, JpegDecoder& decoder,
                          std::vector<uint8_t>& bytes, uint8_t* out) {
  const size_t n = dataset_->size();
  for (size_t attempt = 0; attempt < n; ++attempt) {
    const size_t i = (index + attempt) % n;
    std::string what;
    try {
      what = dataset_->describe(i);
      dataset_->read(i, bytes);
    } catch (const std::exception& e) {
      throw DataError("loader: epoch " + std::to_string(epoch) + ", sample " + std::to_string(i) +
                      " (" + (what.empty() ? std::string("?") : what) + "): " + e.what());
    }
    try {
      decoder.decode(bytes.data(), bytes.size(), opt_.image_size, opt_.image_size, out, what);
    } catch (const DataError& e) {
      noteDecodeError(i, e.what());
      continue;  // deterministic repair: try the next index
    }
    if (train_ && opt_.flip_p > 0.0) {
      // Seeded by (seed, epoch, sampler index) only, so any worker makes the same choice.
      Rng rng(mixSeed(seed_, static_cast<uint64_t>(epoch), index, kFlipStream));
      if (rng.uniform() < opt_.flip_p) {
        flipHorizontal(out, opt_.image_size, opt_.image_size, 3);
      }
    }
    return i;
  }
  throw DataError("loader: no decodable image in the whole dataset (" + std::to_string(n) +
                  " samples, starting from " + dataset_->describe(index) +
                  "); check that the files are JPEGs");
}

void Loader::noteDecodeError(size_t index, const std::string& message) {
  const int64_t count = ++decode_errors_;
  if (count > kLoggedDecodeErrors) return;
  // One write per line keeps lines from different workers from interleaving mid-line.
  std::string line = "warning: loader: undecodable sample " + std::to_string(index) + ": " +
                     message + "; replaced by the next decodable sample";
  if (count == kLoggedDecodeErrors) line += " (further decode errors are counted, not logged)";
  std::cerr << (line + "\n") << std::flush;
}

std::shared_ptr<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
  const int64_t k = taken_;
  const auto t0 = std::chrono::steady_clock::now();
  ready_cv_.wait(lock, [&] { return ready_.count(k) > 0 || errors_.count(k) > 0; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (auto e = errors_.find(k); e != errors_.end()) {
    failure_ = e->second;
    std::rethrow_exception(failure_);
  }
  auto it = ready_.find(k);
  std::shared_ptr<Batch> batch = std::move(it->second);
  ready_.erase(it);
  ++taken_;
  lock.unlock();
  space_cv_.notify_all();
  return batch;
}

LoaderStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  LoaderStats s;
  s.batches = taken_;
  s.decode_errors = decode_errors_.load();
  s.wait_seconds = wait_seconds_;
  s.queue_depth = static_cast<int>(ready_.size());
  return s;
}

}  // namespace l2face::data
