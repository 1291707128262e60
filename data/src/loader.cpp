// Loader: worker threads building whole batches, an ordered bounded hand-over, recycled batch
// buffers, augmentation, bad-sample repair and the bad-fraction limit.
#include "l2face/data/loader.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <new>
#include <stdexcept>
#include <string>

#include "buffer_pool.h"
#include "l2face/data/errors.h"
#include "l2face/data/image_ops.h"
#include "l2face/data/jpeg.h"

namespace l2face::data {
namespace {

constexpr size_t kLoggedBadSamples = 5;
constexpr size_t kBufferAlignment = 64;

size_t alignUp(size_t n) {
  return (n + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

int resolveWorkers(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

// Per-worker scratch: one decoder and reusable buffers, so the steady state allocates nothing.
struct WorkerState {
  JpegDecoder decoder;
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> full;  // stored-size decode (random resized crop)
  std::vector<uint8_t> crop;
  std::vector<float> scratch;
};

Loader::Loader(std::shared_ptr<const Dataset> dataset, const Sampler& sampler,
               const DataOptions& opt, uint64_t seed, Cursor start, bool train,
               BatchAllocator allocator, double fence_timeout_seconds)
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
  validateOptions();
  // A step past the end of an epoch carries over ({e, stepsPerEpoch} == {e + 1, 0}), so the
  // cursor "after the last consumed batch" can be stored without normalising it first.
  if (start.epoch < 0 || start.step < 0) {
    throw std::out_of_range("Loader: start cursor (epoch " + std::to_string(start.epoch) +
                            ", step " + std::to_string(start.step) + ") must not be negative");
  }
  num_workers_ = resolveWorkers(opt_.workers);
  window_ = std::max<int64_t>({1, opt_.prefetch, num_workers_});
  // One block per batch: the pixels, then (64-byte aligned) the labels.
  const auto batch = static_cast<size_t>(sampler_.localBatch());
  const size_t pixel_bytes = static_cast<size_t>(opt_.image_size) * opt_.image_size * 3 * batch;
  label_offset_ = alignUp(pixel_bytes);
  pool_ =
      std::make_shared<BufferPool>(label_offset_ + batch * sizeof(int64_t), std::move(allocator),
                                   static_cast<size_t>(window_) + 2, fence_timeout_seconds);
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

void Loader::validateOptions() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("Loader: " + what); };
  if (opt_.image_size < 1) fail("image_size must be >= 1, got " + std::to_string(opt_.image_size));
  const std::pair<const char*, double> probabilities[] = {
      {"flip_p", opt_.flip_p},           {"random_resized_crop", opt_.random_resized_crop},
      {"grayscale_p", opt_.grayscale_p}, {"blur_p", opt_.blur_p},
      {"erase_p", opt_.erase_p},         {"max_bad_fraction", opt_.max_bad_fraction}};
  for (const auto& [name, v] : probabilities) {
    if (!(v >= 0.0 && v <= 1.0)) fail(std::string(name) + " must be in [0, 1], got " + std::to_string(v));
  }
  for (const auto& [name, v] : {std::pair<const char*, double>{"brightness", opt_.brightness},
                                {"contrast", opt_.contrast},
                                {"saturation", opt_.saturation}}) {
    if (!(v >= 0.0 && std::isfinite(v))) fail(std::string(name) + " must be >= 0, got " + std::to_string(v));
  }
  if (!(opt_.crop_scale_min > 0.0 && opt_.crop_scale_min <= 1.0)) {
    fail("crop_scale_min must be in (0, 1], got " + std::to_string(opt_.crop_scale_min));
  }
  if (!(opt_.crop_ratio_max >= 1.0 && std::isfinite(opt_.crop_ratio_max))) {
    fail("crop_ratio_max must be >= 1, got " + std::to_string(opt_.crop_ratio_max));
  }
}

Loader::~Loader() {
  stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void Loader::stop() {
  {
    // Setting the flags under the lock pairs with the predicate checks in the waits, so no
    // thread can miss the notification and sleep forever.
    std::lock_guard<std::mutex> lock(mutex_);
    stop_requested_ = true;
    stop_ = true;
  }
  space_cv_.notify_all();
  ready_cv_.notify_all();
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
  std::unique_ptr<WorkerState> state;
  try {
    state = std::make_unique<WorkerState>();
  } catch (...) {
    // Reported at this worker's first batch, the first one the consumer waits for from it.
    std::lock_guard<std::mutex> lock(mutex_);
    errors_[worker] = std::current_exception();
    ready_cv_.notify_all();
    return;
  }
  for (int64_t k = worker;; k += num_workers_) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_cv_.wait(lock, [&] { return stop_ || k < taken_ + window_; });
      if (stop_) return;
    }
    std::shared_ptr<Batch> batch;
    try {
      batch = buildBatch(k, *state);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_[k] = std::current_exception();
      ready_cv_.notify_all();
      return;  // later batches of this worker would never be consumed: the loader has failed
    }
    if (!batch) return;  // stopped mid-batch
    ++batches_built_;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_[k] = std::move(batch);
    }
    ready_cv_.notify_all();
  }
}

std::shared_ptr<Batch> Loader::buildBatch(int64_t ordinal, WorkerState& state) {
  const Cursor pos = positionOf(ordinal);
  auto batch = std::make_shared<Batch>();
  batch->epoch = pos.epoch;
  batch->step = pos.step;
  batch->global_step = first_global_step_ + ordinal;
  batch->batch_size = static_cast<int>(sampler_.localBatch());
  batch->height = batch->width = opt_.image_size;
  const size_t image_bytes = static_cast<size_t>(opt_.image_size) * opt_.image_size * 3;
  batch->reuse = std::make_shared<FenceSlot>();
  std::shared_ptr<uint8_t> block = pool_->acquire(batch->reuse, stop_);
  if (!block) return nullptr;  // stopped while waiting for a fence
  batch->labels = LabelBuffer(
      std::shared_ptr<int64_t>(block, reinterpret_cast<int64_t*>(block.get() + label_offset_)),
      batch->batch_size);
  batch->pixels = PixelBuffer(std::move(block), image_bytes * batch->batch_size);
  batch->indices = sampler_.rankIndices(pos.epoch, pos.step);
  for (int j = 0; j < batch->batch_size; ++j) {
    if (stop_) return nullptr;  // prompt shutdown even in the middle of a large batch
    const auto [used, label] = loadSample(batch->indices[j], pos.epoch, state,
                                          batch->pixels.data() + image_bytes * j);
    batch->indices[j] = used;
    batch->labels[j] = label;
  }
  return batch;
}

void Loader::decodeInto(const AugmentPlan& plan, WorkerState& state, const std::string& what,
                        uint8_t* out) {
  const int side = opt_.image_size;
  const auto& bytes = state.bytes;
  if (!plan.crop) {
    state.decoder.decode(bytes.data(), bytes.size(), side, side, out, what);
    return;
  }
  // Crop in the stored image, then resize the crop: no detail is lost to an earlier resize.
  const ImageSize stored = state.decoder.peek(bytes.data(), bytes.size(), what);
  state.full.resize(static_cast<size_t>(stored.width) * stored.height * 3);
  state.decoder.decode(bytes.data(), bytes.size(), stored.width, stored.height, state.full.data(),
                       what);
  const PixelBox box = cropBox(plan, opt_, stored.width, stored.height);
  state.crop.resize(static_cast<size_t>(box.width) * box.height * 3);
  for (int y = 0; y < box.height; ++y) {
    const uint8_t* src =
        state.full.data() + ((static_cast<size_t>(box.y) + y) * stored.width + box.x) * 3;
    std::copy(src, src + static_cast<size_t>(box.width) * 3,
              state.crop.data() + static_cast<size_t>(y) * box.width * 3);
  }
  resizeImage(state.crop.data(), box.width, box.height, out, side, side, 3);
}

std::pair<size_t, int> Loader::loadSample(size_t index, int64_t epoch, WorkerState& state,
                                          uint8_t* out) {
  // Seeded by (seed, epoch, sampler index) only, so any worker makes the same choices, also for
  // a replacement sample.
  const AugmentPlan plan =
      train_ ? planAugmentation(opt_, seed_, epoch, index) : AugmentPlan{};
  const size_t n = dataset_->size();
  for (size_t attempt = 0; attempt < n; ++attempt) {
    const size_t i = (index + attempt) % n;
    std::string what;
    int label = 0;
    ++samples_read_;
    try {
      what = dataset_->describe(i);
      label = dataset_->readSample(i, state.bytes);
    } catch (const std::exception& e) {
      throw DataError("loader: epoch " + std::to_string(epoch) + ", sample " + std::to_string(i) +
                      " (" + (what.empty() ? std::string("?") : what) + "): " + e.what());
    }
    try {
      decodeInto(plan, state, what, out);
    } catch (const DataError& e) {
      noteDecodeError(i, what, e.what());
      continue;  // deterministic repair: try the next index
    }
    if (train_) applyAugmentation(plan, out, opt_.image_size, opt_.image_size, state.scratch);
    return {i, label};
  }
  throw DataError("loader: no decodable image in the whole dataset (" + std::to_string(n) +
                  " samples, starting from " + dataset_->describe(index) +
                  "); check that the files are JPEGs");
}

void Loader::noteDecodeError(size_t index, const std::string& what, const std::string& message) {
  ++decode_errors_;
  size_t distinct = 0;
  bool first_time = false;
  {
    std::lock_guard<std::mutex> lock(bad_mutex_);
    first_time = bad_samples_.insert(index).second;
    distinct = bad_samples_.size();
  }
  const double allowed = opt_.max_bad_fraction * static_cast<double>(dataset_->size());
  if (static_cast<double>(distinct) > allowed) {
    throw DataError("loader: " + std::to_string(distinct) + " distinct undecodable samples (" +
                    std::to_string(samples_read_.load()) + " samples read so far) exceed "
                    "data.max_bad_fraction = " + std::to_string(opt_.max_bad_fraction) + " of " +
                    std::to_string(dataset_->size()) + " samples; last bad: " + what + ": " +
                    message + ". Repair or remove the bad files, or raise data.max_bad_fraction");
  }
  // Each bad sample is logged once (epochs meet it again), and only the first few of them.
  if (!first_time || distinct > kLoggedBadSamples) return;
  // One write per line keeps lines from different workers from interleaving mid-line.
  std::string line = "warning: loader: undecodable sample " + std::to_string(index) + ": " +
                     message + "; replaced by the next decodable sample";
  if (distinct == kLoggedBadSamples) line += " (further bad samples are counted, not logged)";
  std::cerr << (line + "\n") << std::flush;
}

std::shared_ptr<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
  const int64_t k = taken_;
  const auto t0 = std::chrono::steady_clock::now();
  ready_cv_.wait(lock, [&] {
    return stop_requested_ || ready_.count(k) > 0 || errors_.count(k) > 0;
  });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (stop_requested_) {
    throw LoaderStopped("loader: stopped (stop() was called, e.g. on a signal) before batch " +
                        std::to_string(first_global_step_ + k) + "; no more batches");
  }
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
  LoaderStats s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s.batches = taken_;
    s.wait_seconds = wait_seconds_;
    s.queue_depth = static_cast<int>(ready_.size());
  }
  {
    std::lock_guard<std::mutex> lock(bad_mutex_);
    s.bad_samples = static_cast<int64_t>(bad_samples_.size());
  }
  s.batches_built = batches_built_.load();
  s.samples_read = samples_read_.load();
  s.decode_errors = decode_errors_.load();
  return s;
}

}  // namespace l2face::data
