// BufferPool: the loader's recycled batch blocks, handed out again only once their fence fired.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "l2face/data/loader.h"

namespace l2face::data {

// Blocks of one size from an allocator. A block comes back when the last copy of the pointer
// acquire() returned is dropped, together with the fence its FenceSlot holds then; it is handed
// out again only once that fence is ready. At most `keep` blocks wait in the pool: ready ones
// beyond that are freed, pending ones are kept until they fire (freeing them could hand memory a
// device copy still reads to someone else). All methods thread-safe.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  BufferPool(size_t bytes, BatchAllocator allocator, size_t keep, double fence_timeout_seconds);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A block of `bytes` bytes: a ready one from the pool, else a new one while fewer than `keep`
  // blocks are pending, else the oldest pending one once its fence fires. Returns nullptr when
  // `stop` is set while waiting. Throws DataError when the allocator returns no memory or the
  // oldest fence has not fired after fence_timeout_seconds.
  std::shared_ptr<uint8_t> acquire(std::shared_ptr<FenceSlot> slot, const std::atomic<bool>& stop);
  // Blocks allocated so far (for tests and statistics).
  int64_t allocations() const { return allocations_.load(); }

 private:
  struct Entry {
    std::shared_ptr<uint8_t> raw;
    std::shared_ptr<ReuseFence> fence;  // null: free to reuse
  };
  struct Recycler {
    std::weak_ptr<BufferPool> pool;
    std::shared_ptr<uint8_t> raw;
    std::shared_ptr<FenceSlot> slot;
    double timeout_seconds;
    void operator()(uint8_t*);
  };

  std::shared_ptr<uint8_t> allocate();
  std::shared_ptr<uint8_t> wrap(std::shared_ptr<uint8_t> raw, std::shared_ptr<FenceSlot> slot);
  // Under mutex_: removes and returns the oldest ready block, or null.
  std::shared_ptr<uint8_t> takeReadyLocked();
  void release(std::shared_ptr<uint8_t> raw, std::shared_ptr<ReuseFence> fence);

  const size_t bytes_;
  const BatchAllocator allocator_;
  const size_t keep_;
  const double fence_timeout_seconds_;
  std::atomic<int64_t> allocations_{0};
  std::mutex mutex_;
  std::deque<Entry> free_;  // oldest first
};

}  // namespace l2face::data
