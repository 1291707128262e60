// BufferPool: recycled batch blocks, fences polled before reuse, bounded waiting for them.
#include "buffer_pool.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <string>

#include "l2face/data/errors.h"

namespace l2face::data {
namespace {

constexpr size_t kBufferAlignment = 64;
// A waiting worker looks at the stop flag this often.
constexpr double kFenceWaitSliceSeconds = 0.01;

std::shared_ptr<uint8_t> defaultAllocate(size_t bytes) {
  auto* p = static_cast<uint8_t*>(::operator new(bytes, std::align_val_t(kBufferAlignment)));
  return std::shared_ptr<uint8_t>(
      p, [](uint8_t* q) { ::operator delete(q, std::align_val_t(kBufferAlignment)); });
}

bool isReady(const std::shared_ptr<ReuseFence>& fence) { return !fence || fence->ready(); }

}  // namespace

BufferPool::BufferPool(size_t bytes, BatchAllocator allocator, size_t keep,
                       double fence_timeout_seconds)
    : bytes_(bytes),
      allocator_(std::move(allocator)),
      keep_(std::max<size_t>(1, keep)),
      fence_timeout_seconds_(fence_timeout_seconds) {}

BufferPool::~BufferPool() {
  // Memory a device copy may still read is freed only once the copy is done (or given up on).
  for (auto& e : free_) {
    if (e.fence) e.fence->wait(fence_timeout_seconds_);
  }
}

void BufferPool::Recycler::operator()(uint8_t*) {
  std::shared_ptr<ReuseFence> fence = slot ? slot->get() : nullptr;
  if (auto p = pool.lock()) {
    p->release(std::move(raw), std::move(fence));
  } else if (fence) {
    fence->wait(timeout_seconds);  // the loader is gone: free only after the copy
  }
  raw.reset();
}

std::shared_ptr<uint8_t> BufferPool::allocate() {
  std::shared_ptr<uint8_t> raw = allocator_ ? allocator_(bytes_) : defaultAllocate(bytes_);
  if (!raw) {
    throw DataError("loader: the batch allocator returned no memory for " + std::to_string(bytes_) +
                    " bytes (pinned memory exhausted?)");
  }
  ++allocations_;
  return raw;
}

std::shared_ptr<uint8_t> BufferPool::wrap(std::shared_ptr<uint8_t> raw,
                                          std::shared_ptr<FenceSlot> slot) {
  uint8_t* p = raw.get();
  return std::shared_ptr<uint8_t>(
      p, Recycler{weak_from_this(), std::move(raw), std::move(slot), fence_timeout_seconds_});
}

std::shared_ptr<uint8_t> BufferPool::takeReadyLocked() {
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (!isReady(it->fence)) continue;
    std::shared_ptr<uint8_t> raw = std::move(it->raw);
    free_.erase(it);
    return raw;
  }
  return nullptr;
}

std::shared_ptr<uint8_t> BufferPool::acquire(std::shared_ptr<FenceSlot> slot,
                                             const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(fence_timeout_seconds_));
  for (;;) {
    std::shared_ptr<ReuseFence> oldest;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (auto raw = takeReadyLocked()) return wrap(std::move(raw), std::move(slot));
      // Nothing ready: every block in the pool awaits its fence.
      if (free_.size() < keep_) break;
      oldest = free_.front().fence;
    }
    if (stop) return nullptr;
    const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
    if (left <= 0) {
      throw DataError("loader: all " + std::to_string(keep_) +
                      " recycled batch buffers still await their reuse fences after " +
                      std::to_string(fence_timeout_seconds_) +
                      " s: the asynchronous copies that read them never completed (a stalled "
                      "device, or a fence that is never fired)");
    }
    oldest->wait(std::min(left, kFenceWaitSliceSeconds));
  }
  return wrap(allocate(), std::move(slot));
}

void BufferPool::release(std::shared_ptr<uint8_t> raw, std::shared_ptr<ReuseFence> fence) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back({std::move(raw), std::move(fence)});
  // Beyond keep_, ready blocks are freed (newest first: the oldest are reused first); pending
  // ones stay until they fire.
  for (size_t i = free_.size(); free_.size() > keep_ && i-- > 0;) {
    if (isReady(free_[i].fence)) free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

}  // namespace l2face::data
